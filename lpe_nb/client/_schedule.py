"""Recurring schedules in the clients: :class:`AsyncSchedule` and :class:`Schedule` handles, the client
verbs (``client.schedule(...)``, ``client.schedules()``) as mixins of both clients, and the wire form.

A handle holds the schedule as last read; ``pause``, ``resume`` and ``refresh`` read it again. Each verb
is written once, as a coroutine of the base; ``Schedule`` runs it on its client's loop thread.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lpe_nb._loop_thread import LoopThread
from lpe_nb.jobs.recurrence import CatchUp, Recurrence, ScheduleFire, ScheduleRecord
from lpe_nb.operations.spec import merged_input

from ._backend import Backend, ScheduleOptions

__all__ = [
    "AsyncSchedule",
    "AsyncScheduling",
    "BaseSchedule",
    "Schedule",
    "Scheduling",
    "fire_from_dict",
    "schedule_from_dict",
]


def schedule_from_dict(data: dict[str, Any]) -> ScheduleRecord:
    """A :class:`ScheduleRecord` from its wire form (``ScheduleRecord.to_dict()``); extra keys ignored.
    Its slots are anchored at its creation, as the engine anchors them."""
    return ScheduleRecord(
        id=data["id"],
        job_type=data["job_type"],
        input_data=data.get("input_data"),
        title=data["title"],
        recurrence=Recurrence(data.get("cron"), data.get("interval_s"), data["timezone"], data["created_at"]),
        catch_up=CatchUp(data["catch_up"]),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        next_fire_at=data.get("next_fire_at"),
        priority=int(data.get("priority", 0)),
        max_attempts=int(data.get("max_attempts", 1)),
        paused=bool(data.get("paused")),
        last_slot=data.get("last_slot"),
        last_job_id=data.get("last_job_id"),
        fire_count=int(data.get("fire_count", 0)),
        username=data.get("username"),
    )


def fire_from_dict(data: dict[str, Any]) -> ScheduleFire:
    return ScheduleFire(data["schedule_id"], data["slot"], data["job_id"], data["fired_at"])


class BaseSchedule:
    """What both handles share: the schedule as last read (``data``) and its latest ``fires``."""

    def __init__(
        self, backend: Backend, data: ScheduleRecord, fires: list[ScheduleFire] | None = None
    ) -> None:
        self._backend = backend
        self.data = data
        self.fires: list[ScheduleFire] = list(fires or [])  # newest slot first, as last read

    @property
    def id(self) -> str:
        return self.data.id

    @property
    def job_type(self) -> str:
        return self.data.job_type

    @property
    def paused(self) -> bool:
        return self.data.paused

    @property
    def next_fire_times(self) -> list[datetime]:
        """The next three slots it fires (UTC), as last read; empty while paused."""
        return [datetime.fromisoformat(moment) for moment in self.data.next_fire_times()]

    @property
    def fire_count(self) -> int:
        return self.data.fire_count

    @property
    def last_job_id(self) -> str | None:
        """The job the last slot fired created."""
        return self.data.last_job_id

    def describe(self) -> str:
        """``every 60 s`` or ``cron '0 9 * * 1-5' (Europe/Paris)``."""
        if self.data.interval_s is not None:
            return f"every {self.data.interval_s:g} s"
        return f"cron {self.data.cron!r} ({self.data.timezone})"

    def __repr__(self) -> str:
        state = "paused" if self.paused else f"next {self.data.next_fire_at}"
        return f"<Schedule {self.id} {self.job_type} {self.describe()}, {state}>"

    async def _set_paused(self, paused: bool) -> None:
        self.data = await self._backend.set_schedule_paused(self.id, paused)

    async def _refresh(self) -> None:
        self.data, self.fires = await self._backend.get_schedule(self.id)

    async def _delete(self) -> None:
        await self._backend.delete_schedule(self.id)


class AsyncSchedule(BaseSchedule):
    """A schedule handle whose verbs are coroutines."""

    async def pause(self) -> AsyncSchedule:
        """Fire nothing until :meth:`resume`; idempotent."""
        await self._set_paused(True)
        return self

    async def resume(self) -> AsyncSchedule:
        """Fire again from the next slot to come (slots that passed while paused are not caught up)."""
        await self._set_paused(False)
        return self

    async def refresh(self) -> AsyncSchedule:
        """Read it again, with its latest fires."""
        await self._refresh()
        return self

    async def delete(self) -> None:
        """Delete it; the jobs it created stay."""
        await self._delete()


class Schedule(BaseSchedule):
    """A schedule handle whose verbs block (on its client's private loop, never the caller's)."""

    def __init__(
        self, backend: Backend, data: ScheduleRecord, fires: list[ScheduleFire] | None, runner: LoopThread
    ) -> None:
        super().__init__(backend, data, fires)
        self._runner = runner

    def pause(self) -> Schedule:
        """Fire nothing until :meth:`resume`; idempotent."""
        self._runner.run(self._set_paused(True))
        return self

    def resume(self) -> Schedule:
        """Fire again from the next slot to come (slots that passed while paused are not caught up)."""
        self._runner.run(self._set_paused(False))
        return self

    def refresh(self) -> Schedule:
        """Read it again, with its latest fires."""
        self._runner.run(self._refresh())
        return self

    def delete(self) -> None:
        """Delete it; the jobs it created stay."""
        self._runner.run(self._delete())


class AsyncScheduling:
    """The schedule verbs of :class:`~lpe_nb.client.AsyncClient`."""

    backend: Backend

    async def schedule(
        self,
        job_type: str,
        input_data: dict[str, Any] | None = None,
        /,
        *,
        cron: str | None = None,
        interval_s: float | None = None,
        timezone: str = "UTC",
        catch_up: str = "skip",
        title: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
        **fields: Any,
    ) -> AsyncSchedule:
        """Submit a ``job_type`` job with ``input_data`` and/or ``fields`` at each slot: every ``interval_s``
        seconds from now, or each match of ``cron`` (5 fields, or 6 with the seconds first) in ``timezone``
        (IANA). ``catch_up``: after downtime, ``"skip"`` the missed slots or run ``"once"``. Each slot
        fires once; the jobs' description names the schedule. Raises ``InvalidInput`` naming the field
        (the input is checked now, as at submit) or ``UnknownJobType``."""
        options = ScheduleOptions(cron, interval_s, timezone, catch_up, title, priority, max_attempts)
        record = await self.backend.create_schedule(job_type, merged_input(input_data, fields), options)
        return AsyncSchedule(self.backend, record)

    async def schedules(self) -> list[AsyncSchedule]:
        """Every recurring schedule, oldest first, with its next fire times."""
        return [AsyncSchedule(self.backend, record) for record in await self.backend.list_schedules()]

    async def get_schedule(self, schedule_id: str) -> AsyncSchedule:
        """A schedule with its latest fires; raises :class:`ScheduleNotFound`."""
        record, fires = await self.backend.get_schedule(schedule_id)
        return AsyncSchedule(self.backend, record, fires)


class Scheduling:
    """The schedule verbs of :class:`~lpe_nb.client.Client`: as :class:`AsyncScheduling`'s, blocking."""

    backend: Backend
    _runner: LoopThread

    def schedule(
        self,
        job_type: str,
        input_data: dict[str, Any] | None = None,
        /,
        *,
        cron: str | None = None,
        interval_s: float | None = None,
        timezone: str = "UTC",
        catch_up: str = "skip",
        title: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
        **fields: Any,
    ) -> Schedule:
        """Submit a ``job_type`` job at each slot of ``cron`` (in ``timezone``) or every ``interval_s``
        seconds; see :meth:`AsyncClient.schedule`."""
        options = ScheduleOptions(cron, interval_s, timezone, catch_up, title, priority, max_attempts)
        record = self._runner.run(
            self.backend.create_schedule(job_type, merged_input(input_data, fields), options)
        )
        return Schedule(self.backend, record, None, self._runner)

    def schedules(self) -> list[Schedule]:
        """Every recurring schedule, oldest first, with its next fire times."""
        records = self._runner.run(self.backend.list_schedules())
        return [Schedule(self.backend, record, None, self._runner) for record in records]

    def get_schedule(self, schedule_id: str) -> Schedule:
        """A schedule with its latest fires; raises :class:`ScheduleNotFound`."""
        record, fires = self._runner.run(self.backend.get_schedule(schedule_id))
        return Schedule(self.backend, record, fires, self._runner)
