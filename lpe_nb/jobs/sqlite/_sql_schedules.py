"""The job store's recurring schedules: their rows, and firing the due ones (schema migration ``schedules``).

Plain functions of a ``sqlite3.Connection``; the writes run inside the writer's group-commit transaction.
Firing a slot is one transaction: the ``(schedule_id, slot)`` row in ``schedule_fires`` (its primary key
refuses a second fire of the slot), the job it creates, and the schedule's next fire time. Two processes on
one file, or a restart half-way, therefore never fire a slot twice.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from lpe_nb.errors import ScheduleNotFound
from lpe_nb.jobs._rows import fire_from_row, fired_schedule_params, schedule_from_row
from lpe_nb.jobs.model import JobStatus, to_iso
from lpe_nb.jobs.recurrence import (
    KEPT_FIRES,
    FiredSlot,
    ScheduleFire,
    ScheduleRecord,
    plan_fire,
)
from lpe_nb.jobs.sqlite._counts import moved
from lpe_nb.jobs.sqlite._rows import SQLITE, job_to_row
from lpe_nb.jobs.sqlite._sql_jobs import insert_row, record_transition

__all__ = [
    "DUE_SCHEDULES_SQL",
    "NEXT_FIRE_SQL",
    "delete_schedule",
    "fetch_schedule",
    "fire_due",
    "insert_schedule",
    "list_fires",
    "list_schedules",
    "next_fire_at",
    "set_paused",
]

# The due schedules, soonest first, from the partial index on next_fire_at (paused ones are not in it).
DUE_SCHEDULES_SQL = (
    "SELECT * FROM schedules INDEXED BY schedules_due "
    "WHERE paused = 0 AND next_fire_at IS NOT NULL AND next_fire_at <= ? ORDER BY next_fire_at LIMIT ?"
)
NEXT_FIRE_SQL = (
    "SELECT next_fire_at FROM schedules INDEXED BY schedules_due "
    "WHERE paused = 0 AND next_fire_at IS NOT NULL ORDER BY next_fire_at LIMIT 1"
)


def insert_schedule(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    insert_row(conn, "schedules", row)


def fetch_schedule(conn: sqlite3.Connection, schedule_id: str) -> ScheduleRecord:
    row = conn.execute("SELECT * FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
    if row is None:
        raise ScheduleNotFound(schedule_id)
    return schedule_from_row(row, SQLITE)


def list_schedules(conn: sqlite3.Connection, limit: int, username: str | None) -> list[ScheduleRecord]:
    mine = "" if username is None else "WHERE username = ? "
    params = (limit,) if username is None else (username, limit)
    rows = conn.execute(f"SELECT * FROM schedules {mine}ORDER BY created_at, id LIMIT ?", params).fetchall()
    return [schedule_from_row(row, SQLITE) for row in rows]


def set_paused(conn: sqlite3.Connection, schedule_id: str, paused: bool, now: datetime) -> ScheduleRecord:
    """Pause, or resume from ``now`` (no catch-up of the slots that passed while paused)."""
    current = fetch_schedule(conn, schedule_id)
    if current.paused == paused:
        return current
    changed = current.resumed(now) if not paused else current
    conn.execute(
        "UPDATE schedules SET paused = ?, next_fire_at = ?, updated_at = ? WHERE id = ?",
        (int(paused), changed.next_fire_at, to_iso(now), schedule_id),
    )
    return fetch_schedule(conn, schedule_id)


def delete_schedule(conn: sqlite3.Connection, schedule_id: str) -> None:
    """Delete a schedule and its fires (the jobs it created stay)."""
    if conn.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,)).rowcount == 0:
        raise ScheduleNotFound(schedule_id)


def next_fire_at(conn: sqlite3.Connection) -> str | None:
    row = conn.execute(NEXT_FIRE_SQL).fetchone()
    return None if row is None else str(row["next_fire_at"])


def list_fires(conn: sqlite3.Connection, schedule_id: str, limit: int) -> list[ScheduleFire]:
    fetch_schedule(conn, schedule_id)  # ScheduleNotFound
    rows = conn.execute(
        "SELECT * FROM schedule_fires WHERE schedule_id = ? ORDER BY slot DESC LIMIT ?", (schedule_id, limit)
    ).fetchall()
    return [fire_from_row(r) for r in rows]


def fire_due(conn: sqlite3.Connection, now: datetime, limit: int) -> list[FiredSlot]:
    """Fire up to ``limit`` due schedules at ``now`` per their catch-up policy; see ``JobStore.fire_due_schedules``."""
    now_iso = to_iso(now)
    fired: list[FiredSlot] = []
    for row in conn.execute(DUE_SCHEDULES_SQL, (now_iso, limit)).fetchall():
        schedule = schedule_from_row(row, SQLITE)
        plan = plan_fire(schedule, now)
        job = None
        if plan.slot is not None:
            job = schedule.job_for(plan.slot, now_iso)
            claimed = conn.execute(
                "INSERT INTO schedule_fires (schedule_id, slot, job_id, fired_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (schedule_id, slot) DO NOTHING",
                (schedule.id, plan.slot, job.id, now_iso),
            )
            if claimed.rowcount == 1:
                insert_row(conn, "jobs", job_to_row(job))
                moved(conn, None, job.status)
                record_transition(
                    conn,
                    job.id,
                    job.seq,
                    now_iso,
                    None,
                    JobStatus.PENDING,
                    f"schedule {schedule.id}",
                    None,
                    created_at=job.created_at,
                )
                _forget_old_fires(conn, schedule.id)
            else:
                job = None  # fired already (by another process, or before a restart)
        conn.execute(
            "UPDATE schedules SET next_fire_at = ?, updated_at = ?, last_slot = COALESCE(?, last_slot), "
            "last_job_id = COALESCE(?, last_job_id), fire_count = fire_count + ? "
            "WHERE id = ? AND next_fire_at = ?",
            fired_schedule_params(schedule, plan, job, now_iso),
        )
        fired.append(FiredSlot(schedule.id, plan.slot if job is not None else None, job, plan.missed))
    return fired


def _forget_old_fires(conn: sqlite3.Connection, schedule_id: str) -> None:
    conn.execute(
        "DELETE FROM schedule_fires WHERE schedule_id = ? AND slot < ("
        "SELECT slot FROM schedule_fires WHERE schedule_id = ? ORDER BY slot DESC LIMIT 1 OFFSET ?)",
        (schedule_id, schedule_id, KEPT_FIRES - 1),
    )
