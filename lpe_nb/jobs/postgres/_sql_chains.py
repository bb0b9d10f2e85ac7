"""The PostgreSQL job store's dependency chains: a dependent's link to its parents, its release when they
have all completed, and the cancellation a failed or cancelled parent passes down (docs/chains.md).

Coroutines of a connection, run inside the transaction of the write that moves the parent, so a dependent
is released (or cancelled) in the same commit as its parent's outcome. A waiting job keeps ``waiting_on``
non-NULL: the claim's partial index holds only jobs where it is NULL. Parents are locked ``FOR SHARE``
while a dependent links to them, so a parent cannot finish between the check and the link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lpe_nb.errors import InvalidInput, LeaseLost
from lpe_nb.jobs.chains import waiting_progress
from lpe_nb.jobs.model import JobRecord, JobStatus, Progress
from lpe_nb.jobs.postgres._connection import Connection
from lpe_nb.jobs.postgres._rows import progress_json, row_to_job

__all__ = ["CHAIN_ACTOR", "complete_input", "end_dependents", "fetch_dependents", "link_parents"]

CHAIN_ACTOR = "depends_on"  # the audit trail's actor of a release or a cancel passed down a chain

_WAITING_FOR_SQL = (
    "SELECT p.id, p.title FROM job_dependencies d JOIN jobs p ON p.id = d.parent_id "
    "WHERE d.job_id = %s AND p.status <> 'completed' ORDER BY p.created_at, p.id"
)
_PENDING_DEPENDENTS_SQL = (
    "SELECT j.id, j.title, j.seq, j.dependents FROM job_dependencies d JOIN jobs j ON j.id = d.job_id "
    "WHERE d.parent_id = %s AND j.status = 'pending' ORDER BY j.created_at, j.id FOR UPDATE OF j"
)


async def link_parents(conn: Connection, job: JobRecord, *, now: str) -> None:
    """Just after ``job`` is inserted: record its edges, count it on its parents, and set how many of them
    it waits for. :class:`InvalidInput` naming ``depends_on`` (the whole write undone) if a parent does not
    exist or has failed or been cancelled: the job could never start."""
    wanted = list(dict.fromkeys(job.depends_on))
    cur = await conn.execute(
        "SELECT id, status FROM jobs WHERE id = ANY(%s) ORDER BY id FOR SHARE", (wanted,)
    )
    statuses = {row["id"]: row["status"] for row in await cur.fetchall()}
    for parent_id in wanted:
        status = statuses.get(parent_id)
        if status is None:
            raise InvalidInput.field("depends_on", f"no job {parent_id!r} (it never existed, or was deleted)")
        if status in (JobStatus.FAILED.value, JobStatus.CANCELLED.value):
            raise InvalidInput.field(
                "depends_on", f"job {parent_id} already {status}: a job waiting for it could never start"
            )
    await conn.execute(
        "INSERT INTO job_dependencies (parent_id, job_id) SELECT unnest(%s::text[]), %s", (wanted, job.id)
    )
    await conn.execute("UPDATE jobs SET dependents = dependents + 1 WHERE id = ANY(%s)", (wanted,))
    await _set_waiting(conn, job.id, job.seq, now, set_seq=False)


async def end_dependents(
    conn: Connection, parent_id: str, status: JobStatus, *, now: str, parent: Mapping[str, Any] | None = None
) -> int:
    """``parent_id`` has just moved to the terminal ``status``: if it completed, its dependents that wait
    for nothing else are released (they join the queue); else they are cancelled, and theirs in turn, each
    with a reason naming the parent it waited for. Returns how many jobs depend on ``parent_id``.
    ``parent``: its ``title`` and ``dependents`` if the caller has read them already."""
    if parent is None:
        cur = await conn.execute("SELECT title, dependents FROM jobs WHERE id = %s", (parent_id,))
        parent = await cur.fetchone()
    if parent is None or not parent["dependents"]:
        return 0
    if status is JobStatus.COMPLETED:
        cur = await conn.execute(_PENDING_DEPENDENTS_SQL, (parent_id,))
        for child in await cur.fetchall():
            await _set_waiting(conn, child["id"], int(child["seq"]) + 1, now, set_seq=True)
    else:
        await _cancel_dependents(conn, parent_id, parent["title"], status, now=now)
    return int(parent["dependents"])


async def fetch_dependents(conn: Connection, parent_id: str) -> list[JobRecord]:
    """The jobs submitted to wait for ``parent_id``, oldest first."""
    cur = await conn.execute(
        "SELECT j.* FROM job_dependencies d JOIN jobs j ON j.id = d.job_id WHERE d.parent_id = %s "
        "ORDER BY j.created_at, j.id",
        (parent_id,),
    )
    return [row_to_job(row) for row in await cur.fetchall()]


async def _set_waiting(conn: Connection, job_id: str, seq: int, now: str, *, set_seq: bool) -> None:
    """Count what the pending ``job_id`` still waits for: none releases it into the queue (its progress
    says ``queued``); else its progress names the first parent it waits for."""
    cur = await conn.execute(_WAITING_FOR_SQL, (job_id,))
    waiting = [(row["id"], row["title"]) for row in await cur.fetchall()]
    progress = (
        waiting_progress(waiting, timestamp=now, seq=seq)
        if waiting
        else Progress(current_step="queued", timestamp=now, seq=seq)
    )
    # seq and updated_at move on a release, so watchers and other processes' change feeds see it; the job's
    # seq goes one past its progress's, as on SQLite (a feed then sends both, at distinct numbers).
    await conn.execute(
        "UPDATE jobs SET waiting_on = %s, progress = %s::json, "
        "seq = CASE WHEN %s THEN %s ELSE seq END, "
        "updated_at = CASE WHEN %s THEN %s::timestamptz ELSE updated_at END "
        "WHERE id = %s AND status = 'pending'",
        (len(waiting) or None, progress_json(progress), set_seq, seq + 1, set_seq, now, job_id),
    )


async def _cancel_dependents(
    conn: Connection, parent_id: str, parent_title: str, status: JobStatus, *, now: str
) -> None:
    # Breadth first down the chain; a job is cancelled once (its status is no longer pending after).
    ended = "failed" if status is JobStatus.FAILED else "was cancelled"
    frontier = [(parent_id, parent_title, ended)]
    while frontier:
        pid, title, how = frontier.pop(0)
        cur = await conn.execute(_PENDING_DEPENDENTS_SQL, (pid,))
        for child in await cur.fetchall():
            reason = f"cancelled: it waits for job {pid} ({title}), which {how}"
            cur = await conn.execute(
                "UPDATE jobs SET status = 'cancelled', error_message = %s, completed_at = %s::timestamptz, "
                "updated_at = %s::timestamptz, seq = seq + 1, waiting_on = NULL "
                "WHERE id = %s AND status = 'pending' RETURNING seq",
                (reason, now, now, child["id"]),
            )
            row = await cur.fetchone()
            if row is None:
                continue
            await conn.execute(
                "INSERT INTO job_transitions (job_id, seq, at, from_status, to_status, actor, reason) "
                "VALUES (%s, %s, %s::timestamptz, 'pending', 'cancelled', %s, %s)",
                (child["id"], row["seq"], now, CHAIN_ACTOR, reason),
            )
            if child["dependents"]:
                frontier.append((child["id"], child["title"], "was cancelled"))


async def complete_input(conn: Connection, job_id: str, owner: str, input_json: str) -> None:
    """Store the input of the running dependent ``job_id``, completed from its parents' results, while
    ``owner`` holds its lease (else :class:`LeaseLost`)."""
    cur = await conn.execute(
        "UPDATE jobs SET input_data = %s::json WHERE id = %s AND status = 'running' AND lease_owner = %s",
        (input_json, job_id, owner),
    )
    if cur.rowcount != 1:
        raise LeaseLost.of(job_id, owner)
