"""The recurring-schedule methods of :class:`~lpe_nb.jobs.postgres.PgJobStore` (``JobStore``'s "recurring
schedules" section); the SQL is in :mod:`._sql_schedules`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from lpe_nb.jobs.postgres import _sql_schedules
from lpe_nb.jobs.postgres._connection import Connection
from lpe_nb.jobs.recurrence import FiredSlot, ScheduleFire, ScheduleRecord

__all__ = ["PgSchedules"]

T = TypeVar("T")


class PgSchedules:
    """Mixed into the PostgreSQL store, which provides ``_write`` (a transaction) and ``_read``."""

    async def _write(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        raise NotImplementedError

    async def insert_schedule(self, schedule: ScheduleRecord) -> None:
        params = _sql_schedules.schedule_params(schedule)  # InvalidInput before any I/O
        await self._write(lambda conn: _sql_schedules.insert_schedule(conn, params))

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord:
        return await self._read(lambda conn: _sql_schedules.fetch_schedule(conn, schedule_id))

    async def list_schedules(self, *, limit: int = 500) -> list[ScheduleRecord]:
        return await self._read(lambda conn: _sql_schedules.list_schedules(conn, limit))

    async def set_schedule_paused(self, schedule_id: str, paused: bool, *, now: datetime) -> ScheduleRecord:
        return await self._write(lambda conn: _sql_schedules.set_paused(conn, schedule_id, paused, now))

    async def delete_schedule(self, schedule_id: str) -> None:
        await self._write(lambda conn: _sql_schedules.delete_schedule(conn, schedule_id))

    async def fire_due_schedules(self, now: datetime, *, limit: int = 100) -> list[FiredSlot]:
        return await self._write(lambda conn: _sql_schedules.fire_due(conn, now, limit))

    async def next_schedule_fire_at(self) -> str | None:
        return await self._read(_sql_schedules.next_fire_at)

    async def list_schedule_fires(self, schedule_id: str, *, limit: int = 20) -> list[ScheduleFire]:
        return await self._write(lambda conn: _sql_schedules.list_fires(conn, schedule_id, limit))
