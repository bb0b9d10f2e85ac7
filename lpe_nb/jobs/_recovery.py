"""What recovery makes of a running job whose owner died: one policy, whatever the store's backend."""

from __future__ import annotations

from lpe_nb.jobs.model import JobRecord, JobStatus
from lpe_nb.jobs.retry import attempts_used

__all__ = ["REQUEUE_REASON", "recovery_of"]

# The audit trail's reason when a running job goes back to pending at a graceful stop (``requeue``).
REQUEUE_REASON = "the manager stopped; it resumes from its last finished step"


def recovery_of(job: JobRecord, last_progress_attempt: int | None) -> tuple[JobStatus, str]:
    """The orphan's new status (pending, failed or cancelled) and the reason for its audit trail.

    ``last_progress_attempt`` is the attempt of its newest finished step (None: none): an attempt that
    finished a step does not use the job's budget (:mod:`lpe_nb.jobs.retry`).
    """
    if job.cancel_requested:
        return JobStatus.CANCELLED, "cancelled while its manager was down"
    used = attempts_used(job.attempts, [last_progress_attempt or 0], failed=False)
    if used == 0:
        return JobStatus.PENDING, (
            "interrupted after finishing a step: resuming from the last finished step "
            "(an attempt interrupted after finishing a step does not count against max_attempts)"
        )
    if used >= job.max_attempts:
        return JobStatus.FAILED, (
            f"interrupted: the job was running when its manager stopped unexpectedly, and all "
            f"{job.max_attempts} attempt(s) are used: {used} in a row finished no step"
        )
    return JobStatus.PENDING, (
        f"interrupted without finishing a step (attempt {used} of {job.max_attempts} used): "
        "resuming from the last finished step"
    )
