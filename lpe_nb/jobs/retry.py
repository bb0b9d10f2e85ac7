"""When a failed job is tried again: which errors are transient, how long to wait, and how tries are counted.

``max_attempts`` bounds the tries of the step a job is at, not of the whole job: an attempt that finishes a
step starts the count again, so a job fails after ``max_attempts`` tries in a row that finished no new
step, whatever it did before (and since every step is checkpointed once, a job that keeps advancing always
ends). An attempt that finished a step and then failed counts as the first try of the step it failed at;
one that finished a step and was then *interrupted* (a crash, a lost lease) does not count at all.

An attempt that fails with a **transient** error (:attr:`lpe_nb.errors.LpeError.transient`: the LLM could
not be reached, timed out, rate-limited, failed with 5xx, or sent an unusable reply) is retried in place,
resuming from its last finished step, after an exponential backoff with jitter and never sooner than the
server's ``Retry-After``. Any other error (a bad key, an unknown model, invalid input, a refusal, a bug)
fails the job at once. The job stays ``running`` while it waits, with the wait in its progress details,
and a cancel ends the wait.

:class:`RetryPolicy` is the timing and the classification; a job type can declare its own (``JobSpec.retry``)
and the manager has a default (``ManagerSettings.retry``). Pure code: no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lpe_nb.errors import InvalidInput

__all__ = ["RetryPolicy", "attempts_used", "fault_summary"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a job whose attempt failed with a transient error is tried again; every duration in seconds.

    The wait before attempt *k + 1* is ``backoff_s * backoff_factor ** (k - 1)``, at most ``backoff_max_s``,
    shortened by up to ``jitter`` (a fraction) at random so jobs that failed together do not retry together,
    and never shorter than the ``Retry-After`` the error carries. A ``Retry-After`` longer than
    ``retry_after_max_s`` fails the job rather than hold it that long. ``retry_on`` adds exception types to
    treat as transient; ``give_up_on`` names types that are never retried (it wins).
    """

    backoff_s: float = 2.0
    backoff_factor: float = 2.0
    backoff_max_s: float = 60.0
    jitter: float = 0.25
    retry_after_max_s: float = 300.0
    retry_on: tuple[type[BaseException], ...] = ()
    give_up_on: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        for name in ("backoff_s", "backoff_max_s", "retry_after_max_s"):
            if getattr(self, name) < 0:
                problems[name] = "must be 0 or more seconds"
        if self.backoff_factor < 1:
            problems["backoff_factor"] = "must be at least 1"
        if not 0 <= self.jitter <= 1:
            problems["jitter"] = "must be a fraction from 0 to 1"
        if problems:
            raise InvalidInput(problems)

    def is_transient(self, error: BaseException) -> bool:
        """Whether a try that failed with ``error`` may succeed later (retry) or not (fail at once)."""
        if self.give_up_on and isinstance(error, self.give_up_on):
            return False
        if self.retry_on and isinstance(error, self.retry_on):
            return True
        return bool(getattr(error, "transient", False))

    def delay_s(
        self,
        failed_attempts: int,
        retry_after_s: float | None = None,
        *,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """The wait after the ``failed_attempts``-th failure in a row (1 for the first)."""
        backoff = min(self.backoff_max_s, self.backoff_s * self.backoff_factor ** max(0, failed_attempts - 1))
        backoff *= 1 - self.jitter * rand()
        return max(backoff, retry_after_s or 0.0)


def attempts_used(attempts: int, step_attempts: Iterable[int], *, failed: bool) -> int:
    """How many of a job's ``attempts`` (its tries so far, the current one included) count against its
    ``max_attempts`` now that the current one ``failed`` (True) or was interrupted (False).

    ``step_attempts`` are the attempt numbers its finished steps were saved in. Only the tries since the
    last one that finished a step count, and that one only if the current try failed after it.
    """
    last_progress = max(step_attempts, default=0)
    if failed:
        return max(1, attempts - max(last_progress, 1) + 1)
    return max(0, attempts - last_progress)


def fault_summary(error: BaseException) -> str:
    """A few words on what failed, for a progress line: the error's ``summary`` (``HTTP 503 from
    http://llm/v1``) if it has one, else the start of its message."""
    summary = getattr(error, "summary", None)
    message = summary if isinstance(summary, str) else str(error).strip() or type(error).__name__
    return message if len(message) <= 120 else message[:119] + "…"
