"""The job store's writes of running jobs: claim, heartbeat, checkpoint, finish, requeue, and recovery.

Plain functions of a ``sqlite3.Connection``, each run by the writer inside its group-commit transaction.
A running job belongs to the owner of its lease: every change but recovery is conditional on that lease
(else :class:`~lpe_nb.errors.LeaseLost`), so a late writer never overwrites a job someone else took over
or finished.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from lpe_nb.errors import LeaseLost
from lpe_nb.jobs._recovery import REQUEUE_REASON, recovery_of
from lpe_nb.jobs._store_common import Recovered
from lpe_nb.jobs.model import JobRecord, JobStatus, Progress, StepRecord
from lpe_nb.jobs.sqlite._counts import moved
from lpe_nb.jobs.sqlite._rows import USAGE_COLUMNS, progress_json, row_to_job
from lpe_nb.jobs.sqlite._sql_chains import end_dependents
from lpe_nb.jobs.sqlite._sql_jobs import insert_row, record_transition
from lpe_nb.jobs.sqlite._sql_reads import fetch_steps, first

__all__ = [
    "ADD_STEP_USAGE_SQL",
    "SEQ_GAP_AFTER_CRASH",
    "claim_pending",
    "claim_sql",
    "finish",
    "record_retry",
    "recover_orphans",
    "renew_leases",
    "requeue",
    "save_progress",
    "save_step",
]

# After a crash the events published since the last throttled progress save are gone from disk, but a
# client may have seen their sequence numbers. Resuming jumps past any number that could have been used.
SEQ_GAP_AFTER_CRASH = 1_000_000


def claim_pending(
    conn: sqlite3.Connection,
    owner: str,
    now: str,
    lease_until: str,
    limit: int,
    types: Sequence[str] | None = None,
) -> list[tuple[JobRecord, list[StepRecord]]]:
    """pending -> running for up to ``limit`` jobs, highest priority then oldest first, with their steps;
    a job whose ``scheduled_at`` is after ``now`` waits; with ``types``, only jobs of those types."""
    # The due scheduled jobs join the queue first (its partial index holds only jobs without a time).
    conn.execute(
        "UPDATE jobs INDEXED BY jobs_scheduled SET scheduled_at = NULL "
        "WHERE status = 'pending' AND scheduled_at IS NOT NULL AND scheduled_at <= ?",
        (now,),
    )
    # INDEXED BY: without statistics the planner picks the status index and sorts every pending
    # row; the partial queue index reads exactly `limit` entries in order.
    cursor = conn.execute(
        claim_sql(None if types is None else len(types)),
        (owner, lease_until, now, now, *(types or ()), limit),
    )
    # Each row as a dict: a sqlite3.Row finds a column by name by comparing it with each of the 30-odd
    # names in turn, and a job reads every one.
    names = [column[0] for column in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    jobs = sorted((row_to_job(r) for r in rows), key=lambda j: (-j.priority, j.created_at))
    moved(conn, JobStatus.PENDING, JobStatus.RUNNING, len(jobs))
    for job in jobs:
        record_transition(
            conn,
            job.id,
            job.seq,
            now,
            JobStatus.PENDING,
            JobStatus.RUNNING,
            owner,
            None,
            created_at=job.created_at,
        )
    # Only a job that started before this claim can have checkpoints to resume from.
    return [(job, fetch_steps(conn, job.id) if job.started_at != now else []) for job in jobs]


def claim_sql(type_count: int | None) -> str:
    """The claim's statement, filtered by ``type_count`` job types (None: any type); its parameters are
    owner, lease_until, now, now, the types, limit."""
    # A types filter is checked on each entry of the queue index as it is walked, in the same order.
    of_types = "" if type_count is None else f" AND type IN ({', '.join('?' * type_count)})"
    return f"""
        UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = ?,
               lease_expires_at = ?, started_at = COALESCE(started_at, ?), updated_at = ?,
               seq = seq + 1
        WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_pending_queue
                     WHERE status = 'pending' AND scheduled_at IS NULL AND waiting_on IS NULL{of_types}
                     ORDER BY priority DESC, created_at LIMIT ?)
        RETURNING *
        """  # only placeholders are formatted in


def renew_leases(conn: sqlite3.Connection, owner: str, lease_until: str) -> set[str]:
    """Extend every lease ``owner`` holds; returns the ids of its jobs whose cancel was requested."""
    rows = conn.execute(
        "UPDATE jobs SET lease_expires_at = ? WHERE status = 'running' AND lease_owner = ? "
        "RETURNING id, cancel_requested",
        (lease_until, owner),
    ).fetchall()
    return {r["id"] for r in rows if r["cancel_requested"]}


def finish(
    conn: sqlite3.Connection,
    job_id: str,
    owner: str,
    status: JobStatus,
    *,
    now: str,
    seq: int,
    progress: str,
    result_data: str | None,
    error_message: str | None,
) -> int:
    """running -> ``status`` with its outcome (``progress`` and ``result_data`` already as JSON), and its
    dependents released or cancelled; returns how many jobs depend on it."""
    # No RETURNING here: on this UPDATE it costs ~15 µs of SQLite's CPU per job, three times a SELECT of
    # the same row by its key (bench/sql_floor.py, replayed both ways).
    params = (status.value, result_data, error_message, progress, now, now, seq, job_id, owner)
    # Most jobs have no dependents: the UPDATE that checks the lease checks that too, and a job it moved
    # needs no SELECT of its dependents (one statement fewer per job). A job with dependents, or whose
    # lease was lost, is left as it was, for the UPDATE without that condition below.
    childless = conn.execute(_FINISH_CHILDLESS_SQL, params).rowcount == 1
    if not childless and conn.execute(_FINISH_SQL, params).rowcount != 1:
        raise LeaseLost.of(job_id, owner)
    moved(conn, JobStatus.RUNNING, status)
    record_transition(conn, job_id, seq, now, JobStatus.RUNNING, status, owner, error_message)
    if childless:
        return 0
    parent = conn.execute("SELECT id, title, dependents FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return end_dependents(conn, parent, status, now=now)


_FINISH_SQL = (
    "UPDATE jobs SET status = ?, result_data = ?, error_message = ?, progress = ?, completed_at = ?, "
    "updated_at = ?, seq = MAX(seq, ?), lease_owner = NULL, lease_expires_at = NULL "
    "WHERE id = ? AND status = 'running' AND lease_owner = ?"
)
_FINISH_CHILDLESS_SQL = _FINISH_SQL + " AND dependents = 0"


def requeue(conn: sqlite3.Connection, job_id: str, owner: str, *, now: str, seq: int, refund: int) -> None:
    """running -> pending, giving ``refund`` (0 or 1) attempts back."""
    cursor = conn.execute(
        "UPDATE jobs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, "
        "attempts = MAX(0, attempts - ?), updated_at = ?, seq = MAX(seq, ?) "
        "WHERE id = ? AND status = 'running' AND lease_owner = ?",
        (refund, now, seq, job_id, owner),
    )
    if cursor.rowcount != 1:
        raise LeaseLost.of(job_id, owner)
    moved(conn, JobStatus.RUNNING, JobStatus.PENDING)
    record_transition(conn, job_id, seq, now, JobStatus.RUNNING, JobStatus.PENDING, owner, REQUEUE_REASON)


def record_retry(
    conn: sqlite3.Connection, job_id: str, owner: str, *, now: str, seq: int, reason: str
) -> int:
    """Count a new attempt of a running job that stays running (a retry), with ``reason`` in its audit
    trail; returns the job's attempts now."""
    row = first(
        conn.execute(
            "UPDATE jobs SET attempts = attempts + 1, updated_at = ?, seq = MAX(seq, ?) "
            "WHERE id = ? AND status = 'running' AND lease_owner = ? RETURNING attempts",
            (now, seq, job_id, owner),
        )
    )
    if row is None:
        raise LeaseLost.of(job_id, owner)
    record_transition(conn, job_id, seq, now, JobStatus.RUNNING, JobStatus.RUNNING, owner, reason)
    return int(row["attempts"])


def save_progress(
    conn: sqlite3.Connection, updates: Sequence[tuple[str, str, Progress, int]], *, now: str
) -> None:
    """Persist the latest progress of running jobs, as ``(job_id, owner, progress, seq)``."""
    conn.executemany(
        "UPDATE jobs SET progress = ?, seq = MAX(seq, ?), updated_at = ? "
        "WHERE id = ? AND status = 'running' AND lease_owner = ?",
        [(progress_json(p), seq, now, job_id, owner) for job_id, owner, p, seq in updates],
    )


def save_step(conn: sqlite3.Connection, row: dict[str, Any], owner: str) -> None:
    """Insert a finished step, already turned into its ``row``, while ``owner`` still runs the job."""
    job_id = row["job_id"]
    # Two statements: the step's usage is added to the job by the statement that checks the lease, unless
    # the step is already saved (a step saved twice is counted once); then the step. One that adds
    # nothing is the rare case (a lost lease, a step saved again) and reads which it was.
    added = conn.execute(
        ADD_STEP_USAGE_SQL,
        (
            row["cost_usd"],
            row["cost_usd"],
            *(row[key] for key in USAGE_COLUMNS),
            job_id,
            owner,
            job_id,
            row["name"],
        ),
    )
    if added.rowcount == 1:
        insert_row(conn, "job_steps", row)  # not there: checked in this transaction, on its only writer
        return
    owned = first(
        conn.execute(
            "SELECT 1 FROM jobs WHERE id = ? AND status = 'running' AND lease_owner = ?", (job_id, owner)
        )
    )
    if owned is None:
        raise LeaseLost.of(job_id, owner)


ADD_STEP_USAGE_SQL = (
    "UPDATE jobs SET cost_usd = CASE WHEN ? IS NULL THEN cost_usd ELSE COALESCE(cost_usd, 0) + ? END, "
    f"{', '.join(f'{key} = {key} + ?' for key in USAGE_COLUMNS)} "
    "WHERE id = ? AND status = 'running' AND lease_owner = ? "
    "AND NOT EXISTS (SELECT 1 FROM job_steps WHERE job_id = ? AND name = ?)"
)


def recover_orphans(conn: sqlite3.Connection, owner: str, *, now: str, only_expired: bool) -> list[Recovered]:
    """Take back running jobs held by other owners (all of them, or those whose lease has expired)."""
    sql = "SELECT * FROM jobs WHERE status = 'running' AND lease_owner IS NOT ?"
    params: tuple[Any, ...] = (owner,)
    if only_expired:
        sql += " AND (lease_expires_at IS NULL OR lease_expires_at < ?)"
        params += (now,)
    recovered = []
    for job in [row_to_job(r) for r in conn.execute(sql, params).fetchall()]:
        last_progress = first(
            conn.execute("SELECT MAX(attempt) AS a FROM job_steps WHERE job_id = ?", (job.id,))
        )
        action, reason = recovery_of(job, last_progress["a"] if last_progress is not None else None)
        row = first(conn.execute(
            """
            UPDATE jobs SET status = ?, error_message = ?, lease_owner = NULL,
                   lease_expires_at = NULL, updated_at = ?, seq = seq + ?,
                   completed_at = CASE WHEN ? = 'pending' THEN NULL ELSE ? END
            WHERE id = ? AND status = 'running' AND lease_owner IS ?
            RETURNING *
            """,
            (action.value, None if action is JobStatus.PENDING else reason, now,
             SEQ_GAP_AFTER_CRASH, action.value, now, job.id, job.lease_owner),
        ))  # fmt: skip
        if row is not None:
            moved(conn, JobStatus.RUNNING, action)
            record_transition(
                conn,
                job.id,
                row["seq"],
                now,
                JobStatus.RUNNING,
                action,
                owner,
                reason,
                created_at=job.created_at,
            )
            if action is not JobStatus.PENDING:
                end_dependents(conn, row, action, now=now)
            recovered.append(Recovered(row_to_job(row), action))
    return recovered
