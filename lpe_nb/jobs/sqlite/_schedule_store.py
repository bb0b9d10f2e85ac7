"""The recurring-schedule methods of :class:`~lpe_nb.jobs.sqlite.SqliteJobStore` (``JobStore``'s
"recurring schedules" section), over its writer and reader; the SQL is in :mod:`._sql_schedules`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from lpe_nb.jobs.recurrence import FiredSlot, ScheduleFire, ScheduleRecord
from lpe_nb.jobs.sqlite import _sql_schedules

__all__ = ["SqliteSchedules"]

T = TypeVar("T")


class SqliteSchedules:
    """Mixed into the SQLite store, which provides ``_write`` (group commit) and ``_read`` (the reader)."""

    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def insert_schedule(self, schedule: ScheduleRecord) -> None:
        row = _sql_schedules.schedule_to_row(schedule)  # InvalidInput before anything is queued
        await self._write(lambda conn: _sql_schedules.insert_schedule(conn, row))

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
        return await self._read(lambda conn: _sql_schedules.list_fires(conn, schedule_id, limit))
