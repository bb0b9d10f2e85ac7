"""The PostgreSQL analytics query (:meth:`lpe_nb.jobs.store.JobStore.analytics`): one statement per part.

SQLite's statement with PostgreSQL's words for its two SQLite-only parts: a step's usage keys through
``->>`` and durations through ``extract(epoch ...)``. The range walks ``jobs_created``; percentiles are
nearest-rank, from ``ROW_NUMBER()`` within each group. Both parts read one snapshot (repeatable read).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lpe_nb.jobs.analytics import Analytics, AnalyticsGroup, AnalyticsRange
from lpe_nb.jobs.postgres._connection import Connection

__all__ = ["analytics", "analytics_sql"]

_KEY_COLUMNS = {
    "day": "to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "type": "j.type",
    "status": "j.status",
    "model": "s.model",
}
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens", "llm_calls", "cache_hits")


def analytics_sql(group_by: Sequence[str]) -> bytes:
    """The statement of one report part grouped by ``group_by`` (names of ``_KEY_COLUMNS``; none: totals).

    Parameters: ``since``, ``until``. Only names of ``_KEY_COLUMNS`` and ``_USAGE_KEYS`` are formatted in.
    """
    by_model = "model" in group_by
    usage = ", ".join(f"SUM(COALESCE((usage ->> '{key}')::numeric, 0)) AS {key}" for key in _USAGE_KEYS)
    step_key = "job_id, model" if by_model else "job_id"
    keys = [f"{_KEY_COLUMNS[name]} AS {name}" for name in group_by]
    partition = f"PARTITION BY {', '.join(group_by)} " if group_by else ""
    # NULLS FIRST: SQLite sorts a NULL key (a job without steps, by model) before the others.
    order = ", ".join(f"{name} NULLS FIRST" for name in group_by)
    group = f"GROUP BY {', '.join(group_by)} ORDER BY {order}" if group_by else ""
    sums = ", ".join(f"SUM(COALESCE({key}, 0))::bigint AS {key}" for key in _USAGE_KEYS)
    statuses = ", ".join(
        f"COUNT(*) FILTER (WHERE job_status = '{status}') AS {status}"
        for status in ("pending", "running", "completed", "failed", "cancelled")
    )
    return f"""
        WITH j AS (
            SELECT id, type, status, created_at,
                   extract(epoch FROM completed_at - started_at)::double precision AS duration_s
            FROM jobs WHERE created_at >= %(since)s::timestamptz AND created_at < %(until)s::timestamptz
        ),
        s AS (
            SELECT {step_key}, {usage}, SUM(cost_usd) AS cost_usd
            FROM job_steps WHERE job_id IN (SELECT id FROM j) GROUP BY {step_key}
        ),
        f AS (
            SELECT {", ".join([*keys, "j.status AS job_status", "j.duration_s"])},
                   {", ".join(f"s.{key}" for key in _USAGE_KEYS)}, s.cost_usd
            FROM j LEFT JOIN s ON s.job_id = j.id
        ),
        r AS (
            SELECT f.*,
                   ROW_NUMBER() OVER ({partition}ORDER BY duration_s IS NULL, duration_s) AS rn,
                   COUNT(duration_s) OVER ({partition.strip()}) AS timed
            FROM f
        )
        SELECT {"".join(f"{name}, " for name in group_by)}COUNT(*) AS jobs, {statuses},
               MAX(CASE WHEN rn = (timed * 50 + 99) / 100 THEN duration_s END) AS duration_p50_s,
               MAX(CASE WHEN rn = (timed * 95 + 99) / 100 THEN duration_s END) AS duration_p95_s,
               {sums}, SUM(cost_usd) AS cost_usd
        FROM r {group}
    """.encode()


async def analytics(conn: Connection, query: AnalyticsRange) -> Analytics:
    """The report for ``query``: its groups and its totals, from one snapshot (run inside a transaction)."""
    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    params = {"since": query.since, "until": query.until}
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
    completed, failed = row["completed"] or 0, row["failed"] or 0
    hits, calls = row["cache_hits"] or 0, row["llm_calls"] or 0
    return AnalyticsGroup(
        key=key,
        jobs=row["jobs"],
        pending=row["pending"] or 0,
        running=row["running"] or 0,
        completed=completed,
        failed=failed,
        cancelled=row["cancelled"] or 0,
        success_rate=completed / (completed + failed) if completed + failed else None,
        duration_p50_s=row["duration_p50_s"],
        duration_p95_s=row["duration_p95_s"],
        prompt_tokens=row["prompt_tokens"] or 0,
        completion_tokens=row["completion_tokens"] or 0,
        total_tokens=row["total_tokens"] or 0,
        cost_usd=row["cost_usd"],
        llm_calls=calls,
        cache_hits=hits,
        cache_hit_rate=hits / (hits + calls) if hits + calls else 0.0,
    )
