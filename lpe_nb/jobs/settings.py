"""ManagerSettings: how a JobManager runs; every duration is in seconds."""

from __future__ import annotations

from dataclasses import dataclass, field

from lpe_nb.errors import InvalidInput
from lpe_nb.jobs.retry import RetryPolicy

__all__ = ["ManagerSettings"]


@dataclass(frozen=True, slots=True)
class ManagerSettings:
    """Tuning of a :class:`JobManager`; every duration is in seconds.

    ``max_attempts`` is the default of a job's attempts in a row without progress (see
    :mod:`lpe_nb.jobs.retry`), ``retry`` the default retry policy; a job type's declaration can override
    both, and a job its ``max_attempts`` at submit. ``claim_types``: the job types this manager claims
    (None: every type); jobs of other types wait for a manager that runs them.
    """

    concurrency: int = 8
    lease_s: float = 30.0
    heartbeat_s: float | None = None  # default: a third of the lease
    poll_interval_s: float = 1.0  # how often to look for jobs, and for a free dispatch role ("auto")
    change_poll_interval_s: float = 0.15  # how often to look for changes other processes committed
    max_attempts: int = 5
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    progress_persist_interval_s: float = 1.0
    stream_interval_s: float = 0.1
    retention_days: float | None = 30.0  # None keeps finished jobs forever
    retention_check_interval_s: float = 3600.0
    purge_batch: int = 200
    shutdown_grace_s: float = 3.0
    subscriber_max_pending: int = 256
    wait_for_dispatcher_s: float = 0.0
    claim_types: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        problems = {}
        for name in ("concurrency", "max_attempts", "purge_batch", "subscriber_max_pending"):
            if getattr(self, name) < 1:
                problems[name] = "must be at least 1"
        for name in (
            "lease_s",
            "poll_interval_s",
            "change_poll_interval_s",
            "progress_persist_interval_s",
            "retention_check_interval_s",
        ):
            if getattr(self, name) <= 0:
                problems[name] = "must be a positive number of seconds"
        if self.heartbeat_s is not None and not 0 < self.heartbeat_s < self.lease_s:
            problems["heartbeat_s"] = "must be positive and shorter than lease_s"
        if self.claim_types is not None and not all(isinstance(t, str) and t for t in self.claim_types):
            problems["claim_types"] = "must be job type names, or None for every type"
        if self.retention_days is not None and self.retention_days <= 0:
            problems["retention_days"] = "must be positive, or None to keep jobs forever"
        if problems:
            raise InvalidInput(problems)

    @property
    def heartbeat_interval_s(self) -> float:
        return self.heartbeat_s if self.heartbeat_s is not None else self.lease_s / 3
