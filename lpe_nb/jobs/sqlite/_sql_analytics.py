"""The analytics query (:meth:`lpe_nb.jobs.store.JobStore.analytics`): one statement per report part.

Plain SQL but for ``json_extract`` (a step's usage is a JSON object) and ``julianday`` (durations), so a
port swaps those two. The range walks ``jobs_created``; each job's steps come by their primary key;
percentiles are nearest-rank, from ``ROW_NUMBER()`` within each group, so only the result rows leave
SQLite. Its cost at 100,000 jobs: ``bench/analytics.py`` and docs/cost-and-analytics.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from lpe_nb.jobs.analytics import Analytics, AnalyticsGroup, AnalyticsRange

__all__ = ["analytics", "analytics_sql"]

_KEY_COLUMNS = {
    "day": "substr(j.created_at, 1, 10)",
    "type": "j.type",
    "status": "j.status",
    "model": "s.model",
}
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens", "llm_calls", "cache_hits")


def analytics_sql(group_by: Sequence[str]) -> str:
    """The statement of one report part grouped by ``group_by`` (names of ``_KEY_COLUMNS``; none: totals).

    Parameters: ``since``, ``until``. By model, a job's steps are split by model (a job that used two is
    in both groups, and one with no step has model NULL); otherwise they are summed per job.
    """
    by_model = "model" in group_by
    usage = ", ".join(f"SUM(COALESCE(json_extract(usage, '$.{key}'), 0)) AS {key}" for key in _USAGE_KEYS)
    step_key = "job_id, model" if by_model else "job_id"
    keys = [f"{_KEY_COLUMNS[name]} AS {name}" for name in group_by]
    partition = f"PARTITION BY {', '.join(group_by)} " if group_by else ""
    group = f"GROUP BY {', '.join(group_by)} ORDER BY {', '.join(group_by)}" if group_by else ""
    sums = ", ".join(f"SUM(COALESCE({key}, 0)) AS {key}" for key in _USAGE_KEYS)
    # Percentile p of n sorted values, nearest rank: the value at rank ceil(p * n / 100), integer maths.
    return f"""
        WITH j AS (
            SELECT id, type, status, created_at,
                   CASE WHEN started_at IS NOT NULL AND completed_at IS NOT NULL
                        THEN (julianday(completed_at) - julianday(started_at)) * 86400.0 END AS duration_s
            FROM jobs WHERE created_at >= :since AND created_at < :until
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
        SELECT {"".join(f"{name}, " for name in group_by)}COUNT(*) AS jobs,
               SUM(job_status = 'pending') AS pending, SUM(job_status = 'running') AS running,
               SUM(job_status = 'completed') AS completed, SUM(job_status = 'failed') AS failed,
               SUM(job_status = 'cancelled') AS cancelled,
               MAX(CASE WHEN rn = (timed * 50 + 99) / 100 THEN duration_s END) AS duration_p50_s,
               MAX(CASE WHEN rn = (timed * 95 + 99) / 100 THEN duration_s END) AS duration_p95_s,
               {sums}, SUM(cost_usd) AS cost_usd
        FROM r {group}
    """


def analytics(conn: sqlite3.Connection, query: AnalyticsRange) -> Analytics:
    """The report for ``query``: its groups and its totals, from one consistent snapshot."""
    params = {"since": query.since, "until": query.until}
    conn.execute("BEGIN")
    try:
        rows = conn.execute(analytics_sql(query.group_by), params).fetchall() if query.group_by else []
        (total,) = conn.execute(analytics_sql(()), params).fetchall()
    finally:
        conn.execute("COMMIT")
    groups = [_group(row, {name: row[name] for name in query.group_by}) for row in rows]
    return Analytics(query.since, query.until, query.group_by, groups, _group(total, {}))


def _group(row: sqlite3.Row, key: dict[str, Any]) -> AnalyticsGroup:
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
