"""The job store's queries: plain functions of a ``sqlite3.Connection``, run on the connection's thread.

The store runs them on its reader connection; the writes reuse ``fetch_job`` and ``fetch_steps`` inside
their own transactions.
"""

from __future__ import annotations

import json
import sqlite3
import weakref
from collections.abc import Iterable
from typing import Any

from lpe_nb.errors import JobNotFound
from lpe_nb.jobs._rows import median_seconds_by_name, status_counts
from lpe_nb.jobs.model import JobRecord, JobStatus, StepRecord
from lpe_nb.jobs.sqlite._rows import row_to_job, row_to_step

__all__ = [
    "COUNT_BY_STATUS_SQL",
    "COUNT_BY_USER_SQL",
    "count_by_status",
    "fetch_job",
    "fetch_job_with_steps",
    "fetch_steps",
    "fetch_transitions",
    "first",
    "list_jobs",
    "median_step_seconds",
]


def first(cursor: sqlite3.Cursor) -> Any:
    """The first row of ``cursor``, or None."""
    # fetchall, not fetchone: an unfinished statement (RETURNING!) would block COMMIT.
    rows = cursor.fetchall()
    return rows[0] if rows else None


def fetch_job(conn: sqlite3.Connection, job_id: str) -> JobRecord:
    """The job ``job_id``; raises :class:`JobNotFound`."""
    row = first(conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)))
    if row is None:
        raise JobNotFound(job_id)
    return row_to_job(row)


def fetch_steps(conn: sqlite3.Connection, job_id: str) -> list[StepRecord]:
    """The job's finished steps, in order."""
    rows = conn.execute("SELECT * FROM job_steps WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
    return [row_to_step(r) for r in rows]


def fetch_job_with_steps(conn: sqlite3.Connection, job_id: str) -> tuple[JobRecord, list[StepRecord]]:
    """The job and its finished steps from one consistent snapshot."""
    conn.execute("BEGIN")
    try:
        return fetch_job(conn, job_id), fetch_steps(conn, job_id)
    finally:
        conn.execute("COMMIT")


def fetch_transitions(conn: sqlite3.Connection, job_id: str) -> list[dict[str, Any]]:
    """The job's audit trail of status changes, oldest first."""
    rows = conn.execute(
        "SELECT at, from_status, to_status, actor, reason FROM job_transitions "
        "WHERE job_created_at = (SELECT created_at FROM jobs WHERE id = ?) AND job_id = ? ORDER BY seq",
        (job_id, job_id),
    ).fetchall()
    return [dict(r) for r in rows]


_NEWEST_FIRST = "ORDER BY created_at DESC, id DESC"
COUNT_BY_STATUS_SQL = "SELECT status, n FROM job_counts"
COUNT_BY_USER_SQL = (
    "SELECT status, COUNT(*) AS n FROM jobs INDEXED BY jobs_user_status_created WHERE username = ? "
    "GROUP BY status"
)


def list_jobs_query(
    *,
    statuses: Iterable[JobStatus],
    job_type: str | None,
    limit: int,
    before: tuple[str, str] | None,
    username: str | None = None,
) -> tuple[str, list[Any]]:
    """The SQL and parameters of :func:`list_jobs`: a walk of one index in order, whatever the history.

    No status: ``jobs_created``. One status: ``jobs_status_created`` from that status's newest job. Several:
    one such walk per status, each at most ``limit`` rows, merged; ``status IN (...)`` would read every
    job of those statuses and sort them, which is the whole history for ``completed``. One user's jobs:
    the same walks on ``jobs_user_status_created``, every status when none is given, so a user with a few
    jobs among millions reads only theirs.
    """
    where: list[str] = []
    params: list[Any] = []
    if job_type is not None:
        where.append("type = ?")
        params.append(job_type)
    if before is not None:
        where.append("(created_at, id) < (?, ?)")
        params += before
    values = list(dict.fromkeys(s.value for s in statuses))
    if username is None and not values:
        condition = f" WHERE {' AND '.join(where)}" if where else ""
        return f"SELECT * FROM jobs{condition} {_NEWEST_FIRST} LIMIT ?", [*params, limit]
    if username is None:
        index, keys, key_params = "jobs_status_created", ["status = ?"], [[value] for value in values]
    else:
        values = values or [status.value for status in JobStatus]
        index, keys = "jobs_user_status_created", ["username = ?", "status = ?"]
        key_params = [[username, value] for value in values]
    condition = " AND ".join([*keys, *where])
    walk = f"SELECT * FROM jobs INDEXED BY {index} WHERE {condition} {_NEWEST_FIRST} LIMIT ?"
    if len(values) == 1:
        return walk, [*key_params[0], *params, limit]
    walks = " UNION ALL ".join(f"SELECT * FROM ({walk})" for _ in values)
    merged_params = [p for key in key_params for p in (*key, *params, limit)]
    return f"SELECT * FROM ({walks}) {_NEWEST_FIRST} LIMIT ?", [*merged_params, limit]


def list_jobs(
    conn: sqlite3.Connection,
    *,
    statuses: Iterable[JobStatus],
    job_type: str | None,
    limit: int,
    before: tuple[str, str] | None,
    username: str | None = None,
) -> list[JobRecord]:
    """Newest first, only ``username``'s jobs if given. ``before`` is the ``(created_at, id)`` of the last
    job of the previous page."""
    sql, params = list_jobs_query(
        statuses=statuses, job_type=job_type, limit=limit, before=before, username=username
    )
    return jobs_in_one_row(conn, sql, params)


# A row of a result is a step that Python's sqlite3 runs with the GIL released, then takes it back: while
# the server's event loop holds it (a crowd of WebSocket clients, say), each take waits for the loop to
# let go, up to the interpreter's switch interval. A page of 50 rows read row by row could wait 50 times;
# as one row, GET lpe/api/jobs p99 during a flood of 300 WebSocket clients about halved (bench/server.py
# --bad-readers 300; the runs in docs/benchmarks.md, issue 15).
_COLUMNS: weakref.WeakKeyDictionary[sqlite3.Connection, tuple[list[str], list[bool], str]] = (
    weakref.WeakKeyDictionary()
)


def jobs_in_one_row(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[JobRecord]:
    """The jobs of ``sql`` (a ``SELECT * FROM jobs ...`` in the listing's order), read as one row: a JSON
    array that SQLite builds, of each job's columns (REAL ones spelled with 17 digits, which a float reads
    back exactly), decoded here and put back in the listing's order."""
    names, reals, columns = _json_columns(conn)
    (text,) = conn.execute(f"SELECT json_group_array(json_array({columns})) FROM ({sql})", params).fetchone()
    jobs = [
        row_to_job(
            {
                name: (float(v) if real and v is not None else v)
                for name, v, real in zip(names, values, reals, strict=True)
            }
        )
        for values in json.loads(text)
    ]
    jobs.sort(key=lambda job: (job.created_at, job.id), reverse=True)  # an aggregate keeps no order
    return jobs


def _json_columns(conn: sqlite3.Connection) -> tuple[list[str], list[bool], str]:
    """The ``jobs`` table's column names, which of them are REAL, and their ``json_array`` arguments; read
    once per store connection (the schema is migrated before any read). A plain ``sqlite3.Connection``
    (a benchmark's, a test's) cannot be weakly referenced: its columns are read each time."""
    try:
        known = _COLUMNS.get(conn)
    except TypeError:
        return _read_columns(conn)
    if known is None:
        known = _COLUMNS[conn] = _read_columns(conn)
    return known


def _read_columns(conn: sqlite3.Connection) -> tuple[list[str], list[bool], str]:
    info = [(row[1], str(row[2]).upper() == "REAL") for row in conn.execute("PRAGMA table_info(jobs)")]
    columns = ", ".join(
        f"CASE WHEN {name} IS NULL THEN NULL ELSE printf('%!.17g', {name}) END" if real else name
        for name, real in info
    )
    return [name for name, _ in info], [real for _, real in info], columns


def count_by_status(conn: sqlite3.Connection, username: str | None = None) -> dict[JobStatus, int]:
    """How many jobs there are in each status (0 for a status with none): five counters, kept by the writer
    in the transactions that change the jobs (``_counts``), not a count of the history. One user's:
    a count of their entries in ``jobs_user_status_created`` (no table row is read), so it grows with that
    user's history, not everyone's."""
    rows = (
        conn.execute(COUNT_BY_STATUS_SQL)
        if username is None
        else conn.execute(COUNT_BY_USER_SQL, (username,))
    )
    return status_counts(rows)


def median_step_seconds(
    conn: sqlite3.Connection, job_type: str, *, model: str | None, last_jobs: int
) -> dict[str, float]:
    """Per step name, the median duration in seconds of the finished steps of the ``last_jobs`` newest jobs
    of ``job_type`` (whatever their status), only those produced by ``model`` when it is given."""
    # The newest jobs of the type walk the jobs_created index and their steps the primary key, so the cost
    # is bounded by last_jobs however many jobs the database holds.
    sql = (
        "SELECT s.name, s.duration_ms FROM job_steps AS s WHERE s.job_id IN "
        f"(SELECT id FROM jobs WHERE type = ? {_NEWEST_FIRST} LIMIT ?)"
    )
    params: list[Any] = [job_type, last_jobs]
    if model is not None:
        sql += " AND json_valid(s.output) AND json_extract(s.output, '$.llm.model') = ?"
        params.append(model)
    return median_seconds_by_name(conn.execute(sql, params))
