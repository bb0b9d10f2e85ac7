"""The dispatcher's side of job-level retries: deciding after a failed attempt, and the visible wait.

:func:`plan_retry` applies a :class:`~lpe_nb.jobs.retry.RetryPolicy` to a failed attempt: a
:class:`RetryPlan` (how long to wait, what to show, what to write in the audit trail) or the job's final
error message. :func:`waiting_progress` is the progress a job shows while it waits:
``retrying step 3 of 5 (attempt 2 of 5) in 8 s: HTTP 503 from http://llm/v1``, with the same facts in
``details["retry"]``. Pure code: the dispatcher does the waiting and the writing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from lpe_nb.errors import LpeError
from lpe_nb.jobs.context import RunState
from lpe_nb.jobs.model import Progress, to_iso
from lpe_nb.jobs.retry import RetryPolicy, attempts_used, fault_summary

__all__ = ["RetryPlan", "describe", "plan_retry", "waiting_progress"]


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """Try the job again in ``delay_s`` seconds, as attempt ``attempt`` of ``max_attempts``."""

    delay_s: float
    attempt: int
    max_attempts: int
    summary: str  # what failed, in a few words: "HTTP 503 from http://llm/v1"
    error: str  # the whole error message
    audit: str  # the audit trail's reason: the failed attempt, its error, the wait


def describe(error: BaseException) -> str:
    """An error as a job's ``error_message``: our errors' own words, else the type and the message."""
    message = str(error).strip()
    if isinstance(error, LpeError):
        return message or type(error).__name__
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def plan_retry(run: RunState, policy: RetryPolicy, error: BaseException) -> RetryPlan | str:
    """What to do after the running attempt of ``run`` failed with ``error``: a :class:`RetryPlan`, or the
    job's final error message (a permanent error, no attempts left, or a ``Retry-After`` too long)."""
    described = describe(error)
    if not policy.is_transient(error):
        return described
    job = run.job
    used = attempts_used(job.attempts, (s.attempt for s in run.finished.values()), failed=True)
    if used >= job.max_attempts:
        return f"{described} [attempt {used} of {job.max_attempts}: no attempts left]"
    retry_after = getattr(error, "retry_after_s", None)
    retry_after = float(retry_after) if isinstance(retry_after, (int, float)) else None
    if retry_after is not None and retry_after > policy.retry_after_max_s:
        return (
            f"{described} [the endpoint asks to wait {retry_after:g} s before trying again, longer than "
            f"the retry policy's retry_after_max_s of {policy.retry_after_max_s:g} s]"
        )
    delay = policy.delay_s(used, retry_after)
    return RetryPlan(
        delay_s=delay,
        attempt=used + 1,
        max_attempts=job.max_attempts,
        summary=fault_summary(error),
        error=described,
        audit=(
            f"attempt {used} of {job.max_attempts} failed: {described}; "
            f"retrying in {_seconds(delay)} as attempt {used + 1}"
        ),
    )


def waiting_progress(run: RunState, plan: RetryPlan, now: datetime, seq: int) -> Progress:
    """The progress of a job waiting ``plan.delay_s`` before its next attempt, reported at ``now``."""
    previous = run.progress
    details: dict[str, Any]
    if isinstance(previous.details, Mapping):
        details = {k: v for k, v in previous.details.items() if k != "partial_text"}
    else:
        details = {} if previous.details is None else {"step": previous.details}
    index, of = details.get("index"), details.get("of")
    if not (isinstance(index, int) and isinstance(of, int)):
        index, of = previous.completed_steps + 1, previous.total_steps
    where = f"step {index} of {of}" if of else "the job"
    message = (
        f"retrying {where} (attempt {plan.attempt} of {plan.max_attempts}) "
        f"in {_seconds(plan.delay_s)}: {plan.summary}"
    )
    details["retry"] = {
        "message": message,
        "attempt": plan.attempt,
        "max_attempts": plan.max_attempts,
        "delay_s": round(plan.delay_s, 3),
        "at": to_iso(now + timedelta(seconds=plan.delay_s)),
        "error": plan.error,
    }
    return replace(previous, current_step=message, details=details, timestamp=to_iso(now), seq=seq)


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"
