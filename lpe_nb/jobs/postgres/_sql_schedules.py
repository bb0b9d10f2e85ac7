"""The PostgreSQL job store's recurring schedules: their rows, and firing the due ones.

Coroutines of a connection, each inside its store method's transaction. Firing a slot is one transaction:
the ``(schedule_id, slot)`` row in ``schedule_fires`` (its primary key refuses a second fire of the slot),
the job it creates, and the schedule's next fire time. The due schedules are taken ``FOR UPDATE SKIP
LOCKED``, so two processes firing at once handle different schedules, and a slot never fires twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lpe_nb.errors import ScheduleNotFound
from lpe_nb.jobs._rows import fire_from_row, fired_schedule_params, schedule_from_row
from lpe_nb.jobs.model import to_iso
from lpe_nb.jobs.postgres._connection import Connection
from lpe_nb.jobs.postgres._rows import POSTGRES, job_params
from lpe_nb.jobs.postgres._sql_jobs import insert_job
from lpe_nb.jobs.recurrence import KEPT_FIRES, FiredSlot, ScheduleFire, ScheduleRecord, plan_fire

__all__ = [
    "delete_schedule",
    "fetch_schedule",
    "fire_due",
    "insert_schedule",
    "list_fires",
    "list_schedules",
    "next_fire_at",
    "set_paused",
]


async def insert_schedule(conn: Connection, params: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO schedules (id, job_type, input_data, title, priority, max_attempts, cron, interval_s, "
        "timezone, anchor, catch_up, paused, created_at, updated_at, next_fire_at, last_slot, last_job_id, "
        "fire_count, username) VALUES (%(id)s, %(job_type)s, %(input_data)s::json, %(title)s, %(priority)s, "
        "%(max_attempts)s, %(cron)s, %(interval_s)s, %(timezone)s, %(anchor)s, %(catch_up)s, %(paused)s, "
        "%(created_at)s, %(updated_at)s, %(next_fire_at)s, %(last_slot)s, %(last_job_id)s, %(fire_count)s, "
        "%(username)s)",
        params,
    )


async def fetch_schedule(conn: Connection, schedule_id: str) -> ScheduleRecord:
    cur = await conn.execute("SELECT * FROM schedules WHERE id = %s", (schedule_id,))
    row = await cur.fetchone()
    if row is None:
        raise ScheduleNotFound(schedule_id)
    return schedule_from_row(row, POSTGRES)


async def list_schedules(conn: Connection, limit: int, username: str | None) -> list[ScheduleRecord]:
    if username is None:
        cur = await conn.execute("SELECT * FROM schedules ORDER BY created_at, id LIMIT %s", (limit,))
    else:  # a user's few schedules: no index (the table is a handful of rows per user)
        cur = await conn.execute(
            "SELECT * FROM schedules WHERE username = %s ORDER BY created_at, id LIMIT %s", (username, limit)
        )
    return [schedule_from_row(row, POSTGRES) for row in await cur.fetchall()]


async def set_paused(conn: Connection, schedule_id: str, paused: bool, now: datetime) -> ScheduleRecord:
    """Pause, or resume from ``now`` (no catch-up of the slots that passed while paused)."""
    cur = await conn.execute("SELECT * FROM schedules WHERE id = %s FOR UPDATE", (schedule_id,))
    row = await cur.fetchone()
    if row is None:
        raise ScheduleNotFound(schedule_id)
    current = schedule_from_row(row, POSTGRES)
    if current.paused == paused:
        return current
    changed = current.resumed(now) if not paused else current
    cur = await conn.execute(
        "UPDATE schedules SET paused = %s, next_fire_at = %s, updated_at = %s WHERE id = %s RETURNING *",
        (paused, changed.next_fire_at, to_iso(now), schedule_id),
    )
    updated = await cur.fetchone()
    assert updated is not None  # locked above
    return schedule_from_row(updated, POSTGRES)


async def delete_schedule(conn: Connection, schedule_id: str) -> None:
    """Delete a schedule and its fires (the jobs it created stay)."""
    cur = await conn.execute("DELETE FROM schedules WHERE id = %s", (schedule_id,))
    if cur.rowcount == 0:
        raise ScheduleNotFound(schedule_id)


async def next_fire_at(conn: Connection) -> str | None:
    cur = await conn.execute(
        "SELECT next_fire_at FROM schedules WHERE NOT paused AND next_fire_at IS NOT NULL "
        "ORDER BY next_fire_at LIMIT 1"
    )
    row = await cur.fetchone()
    return None if row is None else str(row["next_fire_at"])


async def list_fires(conn: Connection, schedule_id: str, limit: int) -> list[ScheduleFire]:
    await fetch_schedule(conn, schedule_id)  # ScheduleNotFound
    cur = await conn.execute(
        "SELECT * FROM schedule_fires WHERE schedule_id = %s ORDER BY slot DESC LIMIT %s",
        (schedule_id, limit),
    )
    return [fire_from_row(r) for r in await cur.fetchall()]


async def fire_due(conn: Connection, now: datetime, limit: int) -> list[FiredSlot]:
    """Fire up to ``limit`` due schedules at ``now`` per their catch-up policy (``JobStore.fire_due_schedules``)."""
    now_iso = to_iso(now)
    cur = await conn.execute(
        "SELECT * FROM schedules WHERE NOT paused AND next_fire_at IS NOT NULL AND next_fire_at <= %s "
        "ORDER BY next_fire_at LIMIT %s FOR UPDATE SKIP LOCKED",
        (now_iso, limit),
    )
    fired: list[FiredSlot] = []
    for row in await cur.fetchall():
        schedule = schedule_from_row(row, POSTGRES)
        plan = plan_fire(schedule, now)
        job = None
        if plan.slot is not None:
            job = schedule.job_for(plan.slot, now_iso)
            claimed = await conn.execute(
                "INSERT INTO schedule_fires (schedule_id, slot, job_id, fired_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (schedule_id, slot) DO NOTHING",
                (schedule.id, plan.slot, job.id, now_iso),
            )
            if claimed.rowcount == 1:
                await insert_job(conn, job, job_params(job), actor=f"schedule {schedule.id}")
                await conn.execute(
                    "DELETE FROM schedule_fires WHERE schedule_id = %s AND slot < ("
                    "SELECT slot FROM schedule_fires WHERE schedule_id = %s ORDER BY slot DESC LIMIT 1 OFFSET %s)",
                    (schedule.id, schedule.id, KEPT_FIRES - 1),
                )
            else:
                job = None  # fired already (by another process, or before a restart)
        await conn.execute(
            "UPDATE schedules SET next_fire_at = %s, updated_at = %s, last_slot = COALESCE(%s, last_slot), "
            "last_job_id = COALESCE(%s, last_job_id), fire_count = fire_count + %s "
            "WHERE id = %s AND next_fire_at = %s",
            fired_schedule_params(schedule, plan, job, now_iso),
        )
        fired.append(FiredSlot(schedule.id, plan.slot if job is not None else None, job, plan.missed))
    return fired
