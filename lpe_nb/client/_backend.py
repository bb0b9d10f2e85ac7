"""The seam between the client and where jobs run: :class:`Backend`, and event de-duplication."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from lpe_nb.jobs import JobEvent, JobPage, JobRecord, StepRecord
from lpe_nb.jobs.analytics import Analytics
from lpe_nb.jobs.recurrence import ScheduleFire, ScheduleRecord
from lpe_nb.jobs.store import CacheStats
from lpe_nb.operations import JobTypeInfo

__all__ = ["NO_OPTIONS", "Backend", "EventDeduper", "ScheduleOptions", "SubmitOptions"]


@dataclass(frozen=True, slots=True)
class SubmitOptions:
    """What a new job gets beside its input, as ``client.submit(...)`` takes it (see
    :meth:`~lpe_nb.client.AsyncClient.submit`); None leaves the engine's default."""

    max_attempts: int | None = None
    priority: int | None = None
    run_at: datetime | None = None
    delay_s: float | None = None
    cache: bool | None = None
    depends_on: list[str] | None = None
    inputs_from: Mapping[str, str] | None = None


NO_OPTIONS = SubmitOptions()


@dataclass(frozen=True, slots=True)
class ScheduleOptions:
    """How a new schedule recurs and what its jobs get, as ``client.schedule(...)`` takes them (see
    :meth:`~lpe_nb.client.AsyncClient.schedule`); None leaves the engine's default."""

    cron: str | None = None
    interval_s: float | None = None
    timezone: str = "UTC"
    catch_up: str = "skip"
    title: str | None = None
    priority: int | None = None
    max_attempts: int | None = None


class Backend(Protocol):
    """Submit, read, cancel and watch jobs. Every method runs on the loop that opened the backend."""

    @property
    def location(self) -> str:
        """Where jobs run, for messages: the server URL or the database path."""
        ...

    async def submit(
        self,
        job_type: str,
        data: dict[str, Any],
        options: SubmitOptions = NO_OPTIONS,
    ) -> str:
        """Persist and queue a job (with its own ``options``: attempts, priority, start time, parents, cache);
        returns its id. Raises ``InvalidInput`` for bad input."""
        ...

    async def set_priority(self, job_id: str, priority: int) -> JobRecord:
        """Change a pending job's priority; raises ``InvalidTransition`` once it is not pending."""
        ...

    async def job_types(self) -> list[JobTypeInfo]:
        """The job types that can be submitted there, with their input fields."""
        ...

    async def get(self, job_id: str) -> tuple[JobRecord, list[StepRecord]]:
        """The job and its finished steps; raises ``JobNotFound``."""
        ...

    async def list_jobs(
        self, *, status: Sequence[str] | None, job_type: str | None, limit: int, cursor: str | None
    ) -> JobPage:
        """Newest first, at most ``limit`` (1..500), after ``cursor`` (the previous page's ``next_cursor``)."""
        ...

    async def analytics(
        self, *, since: datetime | str | None, until: datetime | str | None, group_by: Sequence[str]
    ) -> Analytics:
        """Aggregates over the jobs created in ``[since, until)``, grouped by ``group_by``; raises
        ``InvalidInput`` naming a bad argument."""
        ...

    async def cache_stats(self) -> CacheStats:
        """What the LLM result cache holds, and its bounds (``GET lpe/api/cache``)."""
        ...

    async def clear_cache(self) -> int:
        """Empty the LLM result cache; returns how many entries it had (``DELETE lpe/api/cache``)."""
        ...

    async def catalog(self) -> dict[str, Any]:
        """Personas, namespaces, styles, defaults and languages."""
        ...

    async def delete_catalog_entry(self, kind: str, name: str) -> None:
        """Delete a persona, namespace or style you added; raises ``InvalidInput`` for a built-in one."""
        ...

    async def cancel(self, job_id: str) -> JobRecord:
        """Cancel a pending or running job; raises ``InvalidTransition`` if it already finished."""
        ...

    async def delete(self, job_id: str) -> None:
        """Delete a finished job and its steps; raises ``InvalidTransition`` if it has not finished."""
        ...

    async def metrics(self) -> dict[str, Any]:
        """The engine's figures: jobs and LLM calls since it started, the database's job counts now
        (``GET lpe/api/metrics``; ``docs/metrics.md``)."""
        ...

    def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """The job's current state, then its live events in ``seq`` order, ending with a terminal status."""
        ...

    # -- recurring schedules (docs/scheduling.md) ------------------------------------------------------

    async def create_schedule(
        self, job_type: str, data: dict[str, Any], options: ScheduleOptions
    ) -> ScheduleRecord:
        """Create a recurring schedule (``options.cron`` in ``options.timezone``, or every
        ``options.interval_s`` s) of ``job_type`` jobs with ``data``; raises ``InvalidInput`` naming the field, or ``UnknownJobType``."""
        ...

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Every schedule, oldest first."""
        ...

    async def get_schedule(self, schedule_id: str) -> tuple[ScheduleRecord, list[ScheduleFire]]:
        """The schedule and its latest fires, newest first; raises ``ScheduleNotFound``."""
        ...

    async def set_schedule_paused(self, schedule_id: str, paused: bool) -> ScheduleRecord:
        """Pause it, or resume it from the next slot to come; raises ``ScheduleNotFound``."""
        ...

    async def delete_schedule(self, schedule_id: str) -> None:
        """Delete it (its jobs stay); raises ``ScheduleNotFound``."""
        ...

    async def aclose(self) -> None:
        """Release connections (or stop the embedded engine). Idempotent."""
        ...


class EventDeduper:
    """Drops events already delivered, across reconnects: older ``seq``, or same ``seq`` and kind.

    The current-state snapshot sends a status and a progress event with the same ``seq``, so the key is
    ``(seq, kind)`` rather than ``seq`` alone.
    """

    def __init__(self) -> None:
        self.last_seq = 0
        self._kinds_at_last: set[str] = set()

    def is_new(self, event: JobEvent) -> bool:
        if event.seq < self.last_seq or (event.seq == self.last_seq and event.kind in self._kinds_at_last):
            return False
        if event.seq > self.last_seq:
            self.last_seq, self._kinds_at_last = event.seq, set()
        self._kinds_at_last.add(event.kind)
        return True
