"""The job store's dependency chains: a dependent's link to its parents, its release when they have all
completed, and the cancellation that a failed or cancelled parent passes down (docs/chains.md).

Plain functions of a ``sqlite3.Connection``, run inside the transaction of the write that moves the
parent, so a dependent is released (or cancelled) in the same commit as its parent's outcome. A waiting
job keeps ``waiting_on`` non-NULL: the claim's partial index holds only jobs where it is NULL.
"""

from __future__ import annotations

import sqlite3

from lpe_nb.errors import InvalidInput, LeaseLost
from lpe_nb.jobs.chains import waiting_progress
from lpe_nb.jobs.model import JobRecord, JobStatus, Progress
from lpe_nb.jobs.sqlite._counts import moved
from lpe_nb.jobs.sqlite._rows import progress_json, row_to_job
from lpe_nb.jobs.sqlite._sql_reads import first
from lpe_nb.jobs.sqlite._sql_trail import record_transition

__all__ = ["CHAIN_ACTOR", "complete_input", "end_dependents", "fetch_dependents", "link_parents"]

CHAIN_ACTOR = "depends_on"  # the audit trail's actor of a release or a cancel passed down a chain

# The unfinished parents of a job: what it still waits for, oldest first.
_WAITING_FOR_SQL = (
    "SELECT p.id, p.title, p.status FROM job_dependencies d JOIN jobs p ON p.id = d.parent_id "
    "WHERE d.job_id = ? AND p.status <> 'completed' ORDER BY p.created_at, p.id"
)
# A parent's dependents that still wait (pending), through the edges' primary key.
_PENDING_DEPENDENTS_SQL = (
    "SELECT j.id, j.title, j.seq, j.dependents FROM job_dependencies d JOIN jobs j ON j.id = d.job_id "
    "WHERE d.parent_id = ? AND j.status = 'pending'"
)


def link_parents(conn: sqlite3.Connection, job: JobRecord, *, now: str) -> None:
    """Just after ``job`` is inserted: record its edges, count it on its parents, and set how many of them
    it waits for. :class:`InvalidInput` naming ``depends_on`` (and the whole write undone) if a parent
    does not exist or has failed or been cancelled: the job could never start."""
    parents = {}
    for parent_id in job.depends_on:
        row = first(conn.execute("SELECT id, status FROM jobs WHERE id = ?", (parent_id,)))
        if row is None:
            raise InvalidInput.field("depends_on", f"no job {parent_id!r} (it never existed, or was deleted)")
        if row["status"] in (JobStatus.FAILED.value, JobStatus.CANCELLED.value):
            raise InvalidInput.field(
                "depends_on",
                f"job {parent_id} already {row['status']}: a job waiting for it could never start",
            )
        parents[parent_id] = row["status"]
    conn.executemany(
        "INSERT INTO job_dependencies (parent_id, job_id) VALUES (?, ?)",
        [(parent_id, job.id) for parent_id in parents],
    )
    conn.executemany(
        "UPDATE jobs SET dependents = dependents + 1 WHERE id = ?", [(parent_id,) for parent_id in parents]
    )
    _set_waiting(conn, job.id, job.seq, now, set_seq=False)


def end_dependents(conn: sqlite3.Connection, parent: sqlite3.Row, status: JobStatus, *, now: str) -> int:
    """``parent`` (its row as the UPDATE that ended it returned it: ``id``, ``title`` and ``dependents`` at
    least) has just moved to the terminal ``status``: if it completed, its dependents that wait for nothing
    else are released (they join the queue); else they are cancelled, and theirs in turn, each with a
    reason naming the parent it waited for. Returns how many jobs depend on the parent."""
    if not parent["dependents"]:
        return 0
    parent_id = parent["id"]
    if status is JobStatus.COMPLETED:
        for child in conn.execute(_PENDING_DEPENDENTS_SQL, (parent_id,)).fetchall():
            _set_waiting(conn, child["id"], int(child["seq"]) + 1, now, set_seq=True)
    else:
        _cancel_dependents(conn, parent_id, parent["title"], status, now=now)
    return int(parent["dependents"])


def fetch_dependents(conn: sqlite3.Connection, parent_id: str) -> list[JobRecord]:
    """The jobs submitted to wait for ``parent_id``, oldest first."""
    rows = conn.execute(
        "SELECT j.* FROM job_dependencies d JOIN jobs j ON j.id = d.job_id WHERE d.parent_id = ? "
        "ORDER BY j.created_at, j.id",
        (parent_id,),
    ).fetchall()
    return [row_to_job(row) for row in rows]


def _set_waiting(conn: sqlite3.Connection, job_id: str, seq: int, now: str, *, set_seq: bool) -> None:
    """Count what the pending ``job_id`` still waits for: none releases it into the queue (its progress
    says ``queued``); else its progress names the first parent it waits for."""
    waiting = [(row["id"], row["title"]) for row in conn.execute(_WAITING_FOR_SQL, (job_id,)).fetchall()]
    progress = (
        waiting_progress(waiting, timestamp=now, seq=seq)
        if waiting
        else Progress(current_step="queued", timestamp=now, seq=seq)
    )
    # seq and updated_at move on a release, so watchers and other processes' change feeds see it. The job's
    # seq goes one past its progress's: a feed that has not published the job yet sends this progress and
    # then its status at distinct numbers (on a tie a subscription would keep only the first).
    conn.execute(
        "UPDATE jobs SET waiting_on = ?, progress = ?, seq = CASE WHEN ? THEN ? ELSE seq END, "
        "updated_at = CASE WHEN ? THEN ? ELSE updated_at END WHERE id = ? AND status = 'pending'",
        (len(waiting) or None, progress_json(progress), set_seq, seq + 1, set_seq, now, job_id),
    )


def _cancel_dependents(
    conn: sqlite3.Connection, parent_id: str, parent_title: str, status: JobStatus, *, now: str
) -> None:
    # Breadth first down the chain; a job is cancelled once (its status is no longer pending after).
    ended = "failed" if status is JobStatus.FAILED else "was cancelled"
    frontier = [(parent_id, parent_title, ended)]
    while frontier:
        pid, title, how = frontier.pop(0)
        for child in conn.execute(_PENDING_DEPENDENTS_SQL, (pid,)).fetchall():
            reason = f"cancelled: it waits for job {pid} ({title}), which {how}"
            row = first(
                conn.execute(
                    "UPDATE jobs SET status = 'cancelled', error_message = ?, completed_at = ?, "
                    "updated_at = ?, seq = seq + 1, waiting_on = NULL "
                    "WHERE id = ? AND status = 'pending' RETURNING seq",
                    (reason, now, now, child["id"]),
                )
            )
            if row is None:
                continue
            moved(conn, JobStatus.PENDING, JobStatus.CANCELLED)
            record_transition(
                conn,
                child["id"],
                row["seq"],
                now,
                JobStatus.PENDING,
                JobStatus.CANCELLED,
                CHAIN_ACTOR,
                reason,
            )
            if child["dependents"]:
                frontier.append((child["id"], child["title"], "was cancelled"))


def complete_input(conn: sqlite3.Connection, job_id: str, owner: str, input_json: str) -> None:
    """Store the input of the running dependent ``job_id``, completed from its parents' results, while
    ``owner`` holds its lease (else :class:`LeaseLost`)."""
    cursor = conn.execute(
        "UPDATE jobs SET input_data = ? WHERE id = ? AND status = 'running' AND lease_owner = ?",
        (input_json, job_id, owner),
    )
    if cursor.rowcount != 1:
        raise LeaseLost.of(job_id, owner)
