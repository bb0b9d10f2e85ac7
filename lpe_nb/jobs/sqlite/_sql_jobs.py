"""The job store's writes of whole jobs: submit, cancel, delete, purge, and the audit trail of transitions.

Plain functions of a ``sqlite3.Connection``, each run by the writer inside its group-commit transaction.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from lpe_nb.errors import InvalidTransition
from lpe_nb.jobs.model import JobRecord, JobStatus, check_transition
from lpe_nb.jobs.sqlite._counts import moved
from lpe_nb.jobs.sqlite._rows import row_to_job
from lpe_nb.jobs.sqlite._sql_chains import end_dependents, link_parents
from lpe_nb.jobs.sqlite._sql_reads import fetch_job, first
from lpe_nb.jobs.sqlite._sql_trail import record_transition

__all__ = [
    "PURGE_TERMINAL_SQL",
    "delete_job",
    "insert_job",
    "insert_row",
    "purge_terminal",
    "record_transition",
    "request_cancel",
    "set_priority",
]

# In the order of the WHERE of the partial index jobs_terminal_completed: SQLite uses a partial index only
# for a query whose terms match its WHERE as written, so ('cancelled', 'completed', 'failed') scanned and
# sorted the whole table on every purge batch (issue 15). A status missing here fails the INDEXED BY below.
_TERMINAL_SQL = "('completed', 'failed', 'cancelled')"

# INDEXED BY: if the index or its WHERE ever changes, this fails loudly instead of scanning the history;
# without it the planner prefers jobs_status_created and sorts every finished job (EXPLAIN QUERY PLAN).
PURGE_TERMINAL_SQL = (
    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_terminal_completed "
    f"WHERE status IN {_TERMINAL_SQL} AND completed_at < ? ORDER BY completed_at LIMIT ?)"
)


def insert_row(conn: sqlite3.Connection, table: str, row: dict[str, Any], *, suffix: str = "") -> bool:
    """``INSERT INTO table`` the ``row`` (column name to value), with ``suffix`` (e.g. ``ON CONFLICT``);
    whether a row was inserted (not with ``ON CONFLICT ... DO NOTHING`` on a duplicate)."""
    cursor = conn.execute(_insert_sql(table, tuple(row), suffix), tuple(row.values()))
    return cursor.rowcount == 1


@functools.lru_cache(maxsize=32)
def _insert_sql(table: str, columns: tuple[str, ...], suffix: str) -> str:
    # The same few column lists every time: the statement text once each, not per inserted job.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}){suffix}"


def insert_job(conn: sqlite3.Connection, job: JobRecord, row: dict[str, Any]) -> None:
    """Insert the new ``job``, already turned into its ``row``, and record its submission."""
    insert_row(conn, "jobs", row)
    moved(conn, None, job.status)
    record_transition(
        conn, job.id, job.seq, job.created_at, None, job.status, "submit", None, created_at=job.created_at
    )
    if job.depends_on:
        link_parents(conn, job, now=job.created_at)


def request_cancel(conn: sqlite3.Connection, job_id: str, *, now: str, actor: str) -> JobRecord:
    """Cancel a pending job at once; mark a running one ``cancel_requested`` for its runner to act on."""
    current = fetch_job(conn, job_id)
    check_transition(job_id, current.status, JobStatus.CANCELLED)
    if current.status is JobStatus.PENDING:
        reason = "cancelled before it started"
        row = first(
            conn.execute(
                "UPDATE jobs SET status = 'cancelled', error_message = ?, completed_at = ?, "
                "updated_at = ?, seq = seq + 1 WHERE id = ? AND status = 'pending' RETURNING *",
                (reason, now, now, job_id),
            )
        )
        moved(conn, JobStatus.PENDING, JobStatus.CANCELLED)
        record_transition(
            conn, job_id, row["seq"], now, JobStatus.PENDING, JobStatus.CANCELLED, actor, reason
        )
        end_dependents(conn, row, JobStatus.CANCELLED, now=now)
    else:
        row = first(
            conn.execute(
                "UPDATE jobs SET cancel_requested = 1, updated_at = ? "
                "WHERE id = ? AND status = 'running' RETURNING *",
                (now, job_id),
            )
        )
    return row_to_job(row)


def set_priority(conn: sqlite3.Connection, job_id: str, priority: int, *, now: str) -> JobRecord:
    """Change a pending job's priority (and raise its ``seq``); :class:`InvalidTransition` otherwise."""
    current = fetch_job(conn, job_id)
    if current.status is not JobStatus.PENDING:
        raise InvalidTransition(job_id, current.status.value, "re-prioritised (only a pending job can be)")
    row = first(
        conn.execute(
            "UPDATE jobs SET priority = ?, updated_at = ?, seq = seq + 1 "
            "WHERE id = ? AND status = 'pending' RETURNING *",
            (priority, now, job_id),
        )
    )
    return row_to_job(row)


def delete_job(conn: sqlite3.Connection, job_id: str) -> None:
    """Delete a terminal job and its steps; a pending or running job must be cancelled first."""
    job = fetch_job(conn, job_id)
    if not job.is_terminal:
        raise _not_deletable(job)
    cursor = conn.execute(f"DELETE FROM jobs WHERE id = ? AND status IN {_TERMINAL_SQL}", (job_id,))
    moved(conn, job.status, None, cursor.rowcount)


def purge_terminal(conn: sqlite3.Connection, completed_before: str, *, batch: int) -> int:
    """Delete at most ``batch`` terminal jobs that ended before ``completed_before``; returns how many."""
    statuses = [
        row[0] for row in conn.execute(PURGE_TERMINAL_SQL + " RETURNING status", (completed_before, batch))
    ]
    for status in set(statuses):
        moved(conn, JobStatus(status), None, statuses.count(status))
    return len(statuses)


def _not_deletable(job: JobRecord) -> Exception:
    return InvalidTransition(job.id, job.status.value, "deleted (cancel it first)")
