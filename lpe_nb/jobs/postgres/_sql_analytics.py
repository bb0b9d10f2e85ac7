"""The PostgreSQL analytics report (:meth:`lpe_nb.jobs.store.JobStore.analytics`): one statement per part.

A job's tokens, LLM calls, cache hits and cost are columns of its row, added up by each step's insert
(migration 3), so a report grouped by day, type or status reads only the jobs in its range, walking
``jobs_created``. Grouped by model, the figures come from each job's steps of that model (one row per job
and model, so a job's duration counts once per model it used). Percentiles are ``percentile_disc``: the
nearest rank, as SQLite's report computes it in Python. The groups and the totals read one snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lpe_nb.jobs._store_common import USAGE_COLUMNS
from lpe_nb.jobs.analytics import Analytics, AnalyticsGroup, AnalyticsRange
from lpe_nb.jobs.postgres._connection import Connection

__all__ = ["analytics", "analytics_sql"]

_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
_KEY_COLUMNS = {
    "day": "to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "type": "j.type",
    "status": "j.status",
    "model": "s.model",
}
_IN_RANGE = (
    "j.created_at >= %(since)s::timestamptz AND j.created_at < %(until)s::timestamptz "
    "AND (%(username)s::text IS NULL OR j.username = %(username)s::text)"
)
_STEPS_BY_MODEL = f"""
    (SELECT job_id, model, {", ".join(f"SUM({key}) AS {key}" for key in USAGE_COLUMNS)},
            SUM(cost_usd) AS cost_usd
     FROM job_steps WHERE job_id IN (SELECT id FROM jobs AS j WHERE {_IN_RANGE})
     GROUP BY job_id, model)
"""


def analytics_sql(group_by: Sequence[str]) -> bytes:
    """Counts per status, sums and duration percentiles per group (``group_by``: names of
    ``_KEY_COLUMNS``; none: one row). Parameters ``since``, ``until``; only known names are formatted in."""
    by_model = "model" in group_by
    figures = "s" if by_model else "j"
    source = f"jobs AS j LEFT JOIN {_STEPS_BY_MODEL} AS s ON s.job_id = j.id" if by_model else "jobs AS j"
    keys = "".join(f"{_KEY_COLUMNS[name]} AS {name}, " for name in group_by)
    counts = ", ".join(f"COUNT(*) FILTER (WHERE j.status = '{status}') AS {status}" for status in _STATUSES)
    sums = ", ".join(f"SUM({figures}.{key})::bigint AS {key}" for key in USAGE_COLUMNS)
    duration = "extract(epoch FROM j.completed_at - j.started_at)::double precision"
    percentiles = ", ".join(
        f"percentile_disc({p / 100}) WITHIN GROUP (ORDER BY {duration}) AS duration_p{p}_s" for p in (50, 95)
    )
    # NULLS FIRST: a NULL key (a job with no step, by model) comes first, as SQLite sorts it.
    grouping = (
        f" GROUP BY {', '.join(group_by)} ORDER BY {', '.join(f'{n} NULLS FIRST' for n in group_by)}"
        if group_by
        else ""
    )
    return (
        f"SELECT {keys}COUNT(*) AS jobs, {counts}, {sums}, SUM({figures}.cost_usd) AS cost_usd, {percentiles} "
        f"FROM {source} WHERE {_IN_RANGE}{grouping}"
    ).encode()


async def analytics(conn: Connection, query: AnalyticsRange) -> Analytics:
    """The report for ``query``: its groups and its totals, from one snapshot (run inside a transaction)."""
    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    params = {"since": query.since, "until": query.until, "username": query.username}
    rows: list[dict[str, Any]] = []
    if query.group_by:
        cur = await conn.execute(analytics_sql(query.group_by), params)
        rows = await cur.fetchall()
    cur = await conn.execute(analytics_sql(()), params)
    total = await cur.fetchone()
    assert total is not None  # an aggregate without GROUP BY always has a row
    groups = [_group(row, {name: row[name] for name in query.group_by}) for row in rows]
    return Analytics(query.since, query.until, query.group_by, groups, _group(total, {}))


def _group(row: dict[str, Any], key: dict[str, Any]) -> AnalyticsGroup:
    return AnalyticsGroup.from_sums(
        row, key, duration_p50_s=row["duration_p50_s"], duration_p95_s=row["duration_p95_s"]
    )
