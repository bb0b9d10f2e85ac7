"""The PostgreSQL job store's queries: coroutines of a connection, each one statement (or one snapshot)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import sql

from lpe_nb.errors import JobNotFound
from lpe_nb.jobs._rows import median_seconds_by_name, status_counts
from lpe_nb.jobs.model import JobRecord, JobStatus, StepRecord, to_iso
from lpe_nb.jobs.postgres._connection import Connection
from lpe_nb.jobs.postgres._rows import row_to_job, row_to_step

__all__ = [
    "count_by_status",
    "fetch_job",
    "fetch_steps",
    "fetch_transitions",
    "list_jobs",
    "median_step_seconds",
]


async def fetch_job(conn: Connection, job_id: str) -> JobRecord:
    """The job ``job_id``; raises :class:`JobNotFound`."""
    cur = await conn.execute("SELECT * FROM jobs WHERE id = %s", (job_id,))
    row = await cur.fetchone()
    if row is None:
        raise JobNotFound(job_id)
    return row_to_job(row)


async def fetch_steps(conn: Connection, job_id: str) -> list[StepRecord]:
    """The job's finished steps, in order."""
    cur = await conn.execute("SELECT * FROM job_steps WHERE job_id = %s ORDER BY idx", (job_id,))
    return [row_to_step(r) for r in await cur.fetchall()]


async def fetch_transitions(conn: Connection, job_id: str) -> list[dict[str, Any]]:
    """The job's audit trail of status changes, oldest first."""
    cur = await conn.execute(
        "SELECT at, from_status, to_status, actor, reason FROM job_transitions WHERE job_id = %s ORDER BY seq",
        (job_id,),
    )
    return [{**r, "at": to_iso(r["at"])} for r in await cur.fetchall()]


_NEWEST_FIRST = sql.SQL("ORDER BY created_at DESC, id DESC")


def list_jobs_query(
    *,
    statuses: Iterable[JobStatus],
    job_type: str | None,
    limit: int,
    before: tuple[str, str] | None,
    username: str | None = None,
) -> tuple[sql.Composed, list[Any]]:
    """The SQL and parameters of :func:`list_jobs`: one bounded walk of an index per status, merged.

    No status: ``jobs_created`` in order. One status: ``jobs_status_created`` from that status's newest
    job. Several: one such walk per status, each at most ``limit`` rows, merged (``status = ANY(...)`` would
    read every job of those statuses and sort them, which is the whole history for ``completed``). One
    user's jobs: the same walks on ``jobs_user_status_created``, every status when none is given, so a user
    with a few jobs among millions reads only theirs.
    """
    where: list[sql.Composable] = []
    params: list[Any] = []
    if job_type is not None:
        where.append(sql.SQL("type = %s"))
        params.append(job_type)
    if before is not None:
        where.append(sql.SQL("(created_at, id) < (%s::timestamptz, %s)"))
        params += before
    values = list(dict.fromkeys(s.value for s in statuses))
    if username is None and not values:
        condition = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
        query = sql.SQL("SELECT * FROM jobs{} {} LIMIT %s").format(condition, _NEWEST_FIRST)
        return query, [*params, limit]
    if username is None:
        keys, key_params = [sql.SQL("status = %s")], [[value] for value in values]
    else:
        values = values or [status.value for status in JobStatus]
        keys = [sql.SQL("username = %s"), sql.SQL("status = %s")]
        key_params = [[username, value] for value in values]
    condition = sql.SQL(" AND ").join([*keys, *where])
    walk = sql.SQL("(SELECT * FROM jobs WHERE {} {} LIMIT %s)").format(condition, _NEWEST_FIRST)
    if len(values) == 1:
        return sql.Composed([walk]), [*key_params[0], *params, limit]
    walks = sql.SQL(" UNION ALL ").join([walk] * len(values))
    merged_params = [p for key in key_params for p in (*key, *params, limit)]
    return sql.SQL("SELECT * FROM ({}) AS walks {} LIMIT %s").format(walks, _NEWEST_FIRST), [
        *merged_params,
        limit,
    ]


async def list_jobs(
    conn: Connection,
    *,
    statuses: Iterable[JobStatus],
    job_type: str | None,
    limit: int,
    before: tuple[str, str] | None,
    username: str | None = None,
) -> list[JobRecord]:
    """Newest first, only ``username``'s jobs if given. ``before`` is the ``(created_at, id)`` of the last
    job of the previous page."""
    query, params = list_jobs_query(
        statuses=statuses, job_type=job_type, limit=limit, before=before, username=username
    )
    cur = await conn.execute(query, params)
    return [row_to_job(r) for r in await cur.fetchall()]


COUNT_BY_STATUS_SQL = "SELECT status, SUM(n) AS n FROM job_counts GROUP BY status"
COUNT_BY_USER_SQL = "SELECT status, COUNT(*) AS n FROM jobs WHERE username = %s GROUP BY status"


async def count_by_status(conn: Connection, username: str | None = None) -> dict[JobStatus, int]:
    """How many jobs there are in each status: the sums of a few counter rows (``job_counts``, kept by
    statement triggers), never a count of the history. One user's: a count of their entries in
    ``jobs_user_status_created``, so it grows with that user's history, not everyone's."""
    cur = await (
        conn.execute(COUNT_BY_STATUS_SQL)
        if username is None
        else conn.execute(COUNT_BY_USER_SQL, (username,))
    )
    return status_counts(await cur.fetchall())


async def median_step_seconds(
    conn: Connection, job_type: str, *, model: str | None, last_jobs: int
) -> dict[str, float]:
    """Per step name, the median duration in seconds of the finished steps of the ``last_jobs`` newest jobs
    of ``job_type`` (whatever their status), only those produced by ``model`` when it is given."""
    cur = await conn.execute(
        "SELECT s.name, s.duration_ms FROM job_steps AS s WHERE s.job_id IN "
        "(SELECT id FROM jobs WHERE type = %s ORDER BY created_at DESC, id DESC LIMIT %s) "
        "AND (%s::text IS NULL OR s.output -> 'llm' ->> 'model' = %s)",
        (job_type, last_jobs, model, model),
    )
    return median_seconds_by_name(await cur.fetchall())
