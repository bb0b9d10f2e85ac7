"""Per-user quotas on submissions: jobs waiting to start, and submissions in the last minute.

On a shared server the queue is first come, first served, so one user (or one runaway loop) could queue
enough to starve everyone else (issue 15). Each identity (the Jupyter user, see :func:`identity_of`) may
have at most
``max_pending_jobs`` jobs waiting to start and submit at most ``max_submits_per_minute`` jobs in any
60 s; past either, the submission is refused with :class:`~lpe_nb.errors.QuotaExceeded` (429 and
``Retry-After``) and nothing is queued. The defaults are far beyond what one person does by accident; 0
turns a quota off.

The counts are this server's, in memory, and small: the last minute's submissions as at most 60 counts
of one second each per identity (not one entry per submission), the pending jobs as a count per identity
and the owner of each pending job. A job counts as pending from its submission through this
server until the job bus says it left ``pending`` (started or cancelled). Jobs submitted before a restart
or by another process on the same database are not counted, and if the events of some jobs are lost (the
engine's watcher fell behind) their users' pending counts are forgotten rather than kept too high: a quota
may let a user through after such a loss, it never refuses one wrongly. Likewise the minute is counted
in whole seconds: a submission leaves it up to a second early, never late.

Not thread-safe: used on the server's event loop.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lpe_nb.errors import InvalidInput, QuotaExceeded
from lpe_nb.jobs import JobEvent, JobStatus

__all__ = ["SHARED_TOKEN_IDENTITY", "QuotaSettings", "Quotas", "identity_of", "is_anonymous"]

WINDOW_S = 60.0
PENDING_RETRY_AFTER_S = 5.0  # no way to know when a job will start; ask again soon
SHARED_TOKEN_IDENTITY = "server-token"


@dataclass(frozen=True, slots=True)
class QuotaSettings:
    """The limits per identity; 0 means no limit."""

    max_pending_jobs: int = 10_000
    max_submits_per_minute: int = 30_000  # 500 a second for a whole minute: faster than one client loop

    def __post_init__(self) -> None:
        problems = {
            name: "must be 0 (no limit) or more"
            for name in ("max_pending_jobs", "max_submits_per_minute")
            if getattr(self, name) < 0
        }
        if problems:
            raise InvalidInput(problems)


class Quotas:
    """Counts each identity's pending jobs and recent submissions, and refuses what goes past a limit.

    ``clock`` is monotonic seconds (injectable for tests).
    """

    def __init__(self, settings: QuotaSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._submits: dict[str, _Minute] = {}  # identity -> its submissions in the last minute
        self._pending: dict[str, int] = {}  # identity -> how many of its jobs have not started
        self._reserved: dict[str, int] = {}  # identity -> submissions in flight (admitted, not yet stored)
        self._owner: dict[str, str] = {}  # job id -> identity, for the jobs in _pending

    async def submit(self, identity: str, submit: Callable[[], Awaitable[str]]) -> str:
        """Call ``submit`` (which returns the new job's id) on behalf of ``identity`` if its quotas allow.

        Raises :class:`QuotaExceeded`, without calling ``submit``, when one is used up. A submission counts
        against the per-minute quota even if ``submit`` then fails (a flood of bad requests is a flood too).
        """
        self._admit(identity)
        try:
            job_id = await submit()
        finally:
            self._reserved[identity] -= 1
            if not self._reserved[identity]:
                del self._reserved[identity]
        if self.settings.max_pending_jobs:
            self._pending[identity] = self._pending.get(identity, 0) + 1
            self._owner[job_id] = identity
        return job_id

    def _admit(self, identity: str) -> None:
        now = self._clock()
        per_minute = self.settings.max_submits_per_minute
        submits = self._recent_submits(identity, now) if per_minute else None
        if submits is not None and submits.total >= per_minute:
            retry_after_s = max(1.0, math.ceil(submits.room_at(per_minute) + WINDOW_S - now))
            raise QuotaExceeded(identity, "max_submits_per_minute_per_user", per_minute, retry_after_s)
        max_pending = self.settings.max_pending_jobs
        if max_pending and self.pending_jobs(identity) >= max_pending:
            raise QuotaExceeded(identity, "max_pending_jobs_per_user", max_pending, PENDING_RETRY_AFTER_S)
        if per_minute:
            if submits is None:
                submits = self._submits[identity] = _Minute()
            submits.add(now)
        self._reserved[identity] = self._reserved.get(identity, 0) + 1

    def _recent_submits(self, identity: str, now: float) -> _Minute | None:
        submits = self._submits.get(identity)
        if submits is not None and not submits.expire(now):
            del self._submits[identity]
            return None
        return submits

    def observe(self, event: JobEvent) -> None:
        """Take note of a job event: a job that left ``pending`` no longer counts against its owner."""
        if event.kind != "status" or event.status is JobStatus.PENDING:
            return
        identity = self._owner.pop(event.job_id, None)
        if identity is not None:
            left = self._pending[identity] - 1
            if left:
                self._pending[identity] = left
            else:
                del self._pending[identity]

    def events_lost(self) -> None:
        """Some job events were never seen: forget every pending count rather than keep stale ones."""
        self._pending.clear()
        self._owner.clear()

    def pending_jobs(self, identity: str) -> int:
        """Jobs of ``identity`` submitted here and not yet started, with those being submitted now."""
        return self._pending.get(identity, 0) + self._reserved.get(identity, 0)

    def usage(self, identity: str) -> dict[str, Any]:
        """The limits and how much of them ``identity`` uses, as ``api/status`` shows them."""
        submits = self._recent_submits(identity, self._clock())
        return {
            "identity": identity,
            "max_pending_jobs_per_user": self.settings.max_pending_jobs,
            "max_submits_per_minute_per_user": self.settings.max_submits_per_minute,
            "pending_jobs": self.pending_jobs(identity),
            "submits_last_minute": 0 if submits is None else submits.total,
        }


class _Minute:
    """One identity's submissions in the last :data:`WINDOW_S` seconds, as counts per whole second
    (``[second, count]``, oldest first): at most 60 entries however fast it submits. A second's count
    leaves the window once that second is a minute old, up to a second before its last submission's."""

    __slots__ = ("seconds", "total")

    def __init__(self) -> None:
        self.seconds: deque[list[int]] = deque()
        self.total = 0

    def add(self, now: float) -> None:
        second = math.floor(now)
        if self.seconds and self.seconds[-1][0] == second:
            self.seconds[-1][1] += 1
        else:
            self.seconds.append([second, 1])
        self.total += 1

    def expire(self, now: float) -> int:
        """Drop the seconds that left the window; the submissions left in it."""
        seconds = self.seconds
        while seconds and seconds[0][0] <= now - WINDOW_S:
            self.total -= seconds.popleft()[1]
        return self.total

    def room_at(self, limit: int) -> float:
        """The second whose leaving the window brings the count under ``limit`` (a submission may then
        come in); ``total >= limit`` is assumed."""
        excess = self.total - limit + 1
        for second, count in self.seconds:
            excess -= count
            if excess <= 0:
                return float(second)
        raise AssertionError("room_at with the count under the limit")


def identity_of(handler: Any) -> str:
    """The identity a request's quotas count against, and that its jobs are recorded under: its Jupyter
    user's name, or :data:`SHARED_TOKEN_IDENTITY` when it brings the server's shared token.

    jupyter_server's shared token names no user: it makes up a new anonymous user for every request that
    brings it without a login cookie (a script, the lpe-nb client), so every holder of the token is one
    identity here. A token that an identity provider resolves to a named user is that user's: JupyterHub's
    provider, whose "server token" is the user's own API token, and any provider with per-user tokens.
    """
    user = handler.current_user
    username = getattr(user, "username", None)
    provider = getattr(handler, "identity_provider", None)
    shared_token = getattr(provider, "token", None)
    if (
        provider is not None
        and shared_token
        and provider.get_token(handler) == shared_token
        and is_anonymous(user)
    ):
        return SHARED_TOKEN_IDENTITY
    return str(username) if username else str(user)


# jupyter_server's IdentityProvider.generate_anonymous_user: a uuid4 hex as the username, "Anonymous <moon>"
# as the name. No identity provider gives a named user both.
_ANONYMOUS_ID = re.compile(r"[0-9a-f]{32}")


def is_anonymous(user: Any) -> bool:
    """Whether ``user`` is one jupyter_server made up for a request that named nobody."""
    username, name = getattr(user, "username", None), getattr(user, "name", None)
    return (
        isinstance(username, str)
        and isinstance(name, str)
        and _ANONYMOUS_ID.fullmatch(username) is not None
        and name.startswith("Anonymous ")
    )
