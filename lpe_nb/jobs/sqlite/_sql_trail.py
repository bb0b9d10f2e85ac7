"""The audit trail of a job's status changes (``job_transitions``), written in the transaction that changes
the status: one row per change, who made it and why."""

from __future__ import annotations

import sqlite3

from lpe_nb.errors import StoreError
from lpe_nb.jobs.model import JobStatus

__all__ = ["record_transition"]


def record_transition(
    conn: sqlite3.Connection,
    job_id: str,
    seq: int,
    at: str,
    old: JobStatus | None,
    new: JobStatus,
    actor: str | None,
    reason: str | None,
    *,
    created_at: str | None = None,
) -> None:
    """Append a status change to the job's audit trail; ``created_at``: the job's, if the caller has it
    (else it is read from the job's row, which the caller has just written: its page is in the cache)."""
    # The trail is clustered by when its job was created, then by the job (schema migration 15): the jobs
    # that move together were mostly created together, so their rows share a page or two instead of
    # landing each on a page of its own, as they did under the jobs' random ids (half of a no-op job's
    # WAL pages: docs/benchmarks.md, "Fifth pass").
    params = (seq, at, None if old is None else old._value_, new._value_, actor, reason, job_id)
    if created_at is not None:
        conn.execute(_TRANSITION_SQL, (created_at, *params))
    elif conn.execute(_TRANSITION_OF_SQL, params).rowcount != 1:
        raise StoreError(f"no job {job_id!r} to record a transition of")


_TRANSITION_SQL = (
    "INSERT INTO job_transitions (job_created_at, seq, at, from_status, to_status, actor, reason, job_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_TRANSITION_OF_SQL = (
    "INSERT INTO job_transitions (job_created_at, seq, at, from_status, to_status, actor, reason, job_id) "
    "SELECT created_at, ?, ?, ?, ?, ?, ?, id FROM jobs WHERE id = ?"
)
