"""The PostgreSQL job store's writes of whole jobs: submit, cancel, reprioritise, delete, purge, and the
audit trail of transitions.

Coroutines of a connection, each called inside the transaction its store method opened. A state change
first locks the job's row (``FOR UPDATE``), so the check and the write see the same state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lpe_nb.errors import InvalidTransition, JobNotFound
from lpe_nb.jobs.model import JobRecord, JobStatus, check_transition
from lpe_nb.jobs.postgres._connection import Connection
from lpe_nb.jobs.postgres._rows import row_to_job
from lpe_nb.jobs.postgres._sql_chains import end_dependents, link_parents

__all__ = [
    "PURGE_TERMINAL_SQL",
    "delete_job",
    "insert_job",
    "locked_job",
    "purge_terminal",
    "record_transitions",
    "request_cancel",
    "set_priority",
]

# Walks jobs_terminal_completed, oldest first, however long the history.
PURGE_TERMINAL_SQL = (
    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs "
    "WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at < %(before)s::timestamptz "
    "ORDER BY completed_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED)"
)

Transition = tuple[str, int, str, JobStatus | None, JobStatus, str | None, str | None]
"""(job_id, seq, at, from, to, actor, reason)"""


async def record_transitions(conn: Connection, transitions: Sequence[Transition]) -> None:
    """Append status changes to their jobs' audit trails."""
    if not transitions:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO job_transitions (job_id, seq, at, from_status, to_status, actor, reason) "
            "VALUES (%s, %s, %s::timestamptz, %s, %s, %s, %s)",
            [
                (job_id, seq, at, None if old is None else old.value, new.value, actor, reason)
                for job_id, seq, at, old, new, actor, reason in transitions
            ],
        )


async def insert_job(
    conn: Connection, job: JobRecord, params: dict[str, Any], *, actor: str = "submit"
) -> None:
    """Insert the new ``job`` (its ``params`` from :func:`~._rows.job_params`), record its submission by
    ``actor``, and link it to the parents it waits for."""
    await conn.execute(
        """
        INSERT INTO jobs (id, type, status, title, description, input_data, result_data, error_message,
                          progress, created_at, started_at, completed_at, updated_at, priority, attempts,
                          max_attempts, lease_owner, lease_expires_at, cancel_requested, seq, scheduled_at,
                          use_cache, depends_on, inputs_from, waiting_on, dependents, cost_usd, username)
        VALUES (%(id)s, %(type)s, %(status)s, %(title)s, %(description)s, %(input_data)s::json,
                %(result_data)s::json, %(error_message)s, %(progress)s::json, %(created_at)s::timestamptz,
                %(started_at)s::timestamptz, %(completed_at)s::timestamptz, %(updated_at)s::timestamptz,
                %(priority)s, %(attempts)s, %(max_attempts)s, %(lease_owner)s,
                %(lease_expires_at)s::timestamptz, %(cancel_requested)s, %(seq)s,
                %(scheduled_at)s::timestamptz, %(use_cache)s, %(depends_on)s::json, %(inputs_from)s::json,
                %(waiting_on)s, %(dependents)s, %(cost_usd)s, %(username)s)
        """,
        params,
    )
    await record_transitions(conn, [(job.id, job.seq, job.created_at, None, job.status, actor, None)])
    if job.depends_on:
        await link_parents(conn, job, now=job.created_at)


async def locked_job(conn: Connection, job_id: str) -> JobRecord:
    """The job, its row locked until the transaction ends; :class:`JobNotFound` if there is none."""
    cur = await conn.execute("SELECT * FROM jobs WHERE id = %s FOR UPDATE", (job_id,))
    row = await cur.fetchone()
    if row is None:
        raise JobNotFound(job_id)
    return row_to_job(row)


async def request_cancel(conn: Connection, job_id: str, *, now: str, actor: str) -> JobRecord:
    """Cancel a pending job at once; mark a running one ``cancel_requested`` for its runner to act on."""
    current = await locked_job(conn, job_id)
    check_transition(job_id, current.status, JobStatus.CANCELLED)
    if current.status is JobStatus.PENDING:
        reason = "cancelled before it started"
        cur = await conn.execute(
            "UPDATE jobs SET status = 'cancelled', error_message = %s, completed_at = %s::timestamptz, "
            "updated_at = %s::timestamptz, seq = seq + 1 WHERE id = %s RETURNING *",
            (reason, now, now, job_id),
        )
        job = row_to_job(_one(await cur.fetchone()))
        await record_transitions(
            conn, [(job_id, job.seq, now, JobStatus.PENDING, JobStatus.CANCELLED, actor, reason)]
        )
        await end_dependents(conn, job_id, JobStatus.CANCELLED, now=now)
        return job
    cur = await conn.execute(
        "UPDATE jobs SET cancel_requested = true, updated_at = %s::timestamptz WHERE id = %s RETURNING *",
        (now, job_id),
    )
    return row_to_job(_one(await cur.fetchone()))


async def set_priority(conn: Connection, job_id: str, priority: int, *, now: str) -> JobRecord:
    """Change a pending job's priority (and raise its ``seq``); :class:`InvalidTransition` otherwise."""
    current = await locked_job(conn, job_id)
    if current.status is not JobStatus.PENDING:
        raise InvalidTransition(job_id, current.status.value, "re-prioritised (only a pending job can be)")
    cur = await conn.execute(
        "UPDATE jobs SET priority = %s, updated_at = %s::timestamptz, seq = seq + 1 WHERE id = %s RETURNING *",
        (priority, now, job_id),
    )
    return row_to_job(_one(await cur.fetchone()))


async def delete_job(conn: Connection, job_id: str) -> None:
    """Delete a terminal job with its steps and transitions; a pending or running job must be cancelled."""
    job = await locked_job(conn, job_id)
    if not job.is_terminal:
        raise InvalidTransition(job.id, job.status.value, "deleted (cancel it first)")
    await conn.execute("DELETE FROM jobs WHERE id = %s", (job_id,))


async def purge_terminal(conn: Connection, completed_before: str, *, batch: int) -> int:
    """Delete at most ``batch`` terminal jobs that ended before ``completed_before``, oldest first.

    SKIP LOCKED: two processes purging at once take different jobs instead of waiting for each other.
    """
    cur = await conn.execute(PURGE_TERMINAL_SQL, {"before": completed_before, "batch": batch})
    return cur.rowcount


def _one(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:  # the row is locked by this transaction: it cannot have gone
        raise AssertionError("a locked job row vanished")
    return row
