"""The analytics report (:meth:`lpe_nb.jobs.store.JobStore.analytics`): two plain statements per part.

A job's tokens, LLM calls, cache hits and cost are columns of its row, added up by each step's insert
(schema: the analytics migration), so a report grouped by day, type or status reads only the jobs in its
range, walking ``jobs_created``: one ``GROUP BY`` for the counts and sums, and one read of the durations,
whose percentiles (nearest rank) are taken here, since SQLite has no percentile function and its window
functions cost twice the scan at 100,000 jobs. Grouped by model, the same figures come from each job's
steps of that model (their own columns, by primary key). Plain SQL but for ``julianday``. What it costs
at 100,000 jobs: ``bench/analytics.py`` (figures in docs/cost-and-analytics.md).
"""

from __future__ import annotations

import math
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from lpe_nb.jobs.analytics import Analytics, AnalyticsGroup, AnalyticsRange
from lpe_nb.jobs.sqlite._rows import USAGE_COLUMNS

__all__ = ["analytics", "analytics_sql", "durations_sql"]

_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
_KEY_COLUMNS = {
    "day": "substr(j.created_at, 1, 10)",
    "type": "j.type",
    "status": "j.status",
    "model": "s.model",
}
_IN_RANGE = (
    "j.created_at >= :since AND j.created_at < :until AND (:username IS NULL OR j.username = :username)"
)
_DURATION_S = "(julianday(j.completed_at) - julianday(j.started_at)) * 86400.0"
# A job's steps of each model, summed (grouped by model: its figures are those of its steps of that model)
_STEPS_BY_MODEL = f"""
    (SELECT job_id, model, {", ".join(f"SUM({key}) AS {key}" for key in USAGE_COLUMNS)},
            SUM(cost_usd) AS cost_usd
     FROM job_steps WHERE job_id IN (SELECT id FROM jobs AS j WHERE {_IN_RANGE})
     GROUP BY job_id, model)
"""


def _source(group_by: Sequence[str]) -> str:
    if "model" in group_by:  # a job with no step is under model NULL, once
        return f"jobs AS j LEFT JOIN {_STEPS_BY_MODEL} AS s ON s.job_id = j.id"
    return "jobs AS j"


def _keys(group_by: Sequence[str]) -> tuple[str, str]:
    """The key columns to select (``expr AS name, ``) and the ``GROUP BY ... ORDER BY ...`` clause."""
    if not group_by:
        return "", ""
    names = ", ".join(group_by)
    return "".join(f"{_KEY_COLUMNS[n]} AS {n}, " for n in group_by), f" GROUP BY {names} ORDER BY {names}"


def analytics_sql(group_by: Sequence[str]) -> str:
    """Counts per status and sums per group (``group_by``: names of ``_KEY_COLUMNS``; none: one row).
    Parameters ``since``, ``until``, ``username`` (None: everyone's jobs)."""
    keys, grouping = _keys(group_by)
    figures = "s" if "model" in group_by else "j"
    counts = ", ".join(f"SUM(j.status = '{status}') AS {status}" for status in _STATUSES)
    sums = ", ".join(f"SUM({figures}.{key}) AS {key}" for key in USAGE_COLUMNS)
    return (
        f"SELECT {keys}COUNT(*) AS jobs, {counts}, {sums}, SUM({figures}.cost_usd) AS cost_usd "
        f"FROM {_source(group_by)} WHERE {_IN_RANGE}{grouping}"
    )


def durations_sql(group_by: Sequence[str]) -> str:
    """Each timed job's key columns and its seconds from start to end. Parameters ``since``, ``until``,
    ``username``."""
    keys, _ = _keys(group_by)
    if "model" in group_by:  # one row per job and model: a job's duration counts once per model it used
        source = (
            "jobs AS j LEFT JOIN (SELECT DISTINCT job_id, model FROM job_steps WHERE job_id IN "
            f"(SELECT id FROM jobs AS j WHERE {_IN_RANGE})) AS s ON s.job_id = j.id"
        )
    else:
        source = "jobs AS j"
    return (
        f"SELECT {keys}{_DURATION_S} AS duration_s FROM {source} WHERE {_IN_RANGE} "
        "AND j.started_at IS NOT NULL AND j.completed_at IS NOT NULL"
    )


def analytics(conn: sqlite3.Connection, query: AnalyticsRange) -> Analytics:
    """The report for ``query``, from one consistent snapshot of ``conn`` (a connection of its own: a
    report over a big range takes a while, and nothing else should wait on it)."""
    params = {"since": query.since, "until": query.until, "username": query.username}
    names = query.group_by
    conn.execute("BEGIN")
    try:
        rows = [dict(row) for row in conn.execute(analytics_sql(names), params)]
        durations = _durations(_plain(conn).execute(durations_sql(names), params), names)
        if "model" in names:  # a job that used two models is in two groups: the totals are read apart
            (total,) = [dict(row) for row in conn.execute(analytics_sql(()), params)]
            every = [row[0] for row in _plain(conn).execute(durations_sql(()), params)]
    finally:
        conn.execute("COMMIT")
    if not names:
        return Analytics(query.since, query.until, names, [], _group(rows[0], {}, durations.get((), [])))
    groups = []
    for row in rows:
        key = tuple(row[name] for name in names)
        groups.append(_group(row, dict(zip(names, key, strict=True)), durations.get(key, [])))
    if "model" not in names:  # each job is in one group: the totals are their sums
        total = {field: _sum(row[field] for row in rows) for field in ("jobs", *_STATUSES, *USAGE_COLUMNS)}
        total["cost_usd"] = _sum(row["cost_usd"] for row in rows)
        every = [d for values in durations.values() for d in values]
    return Analytics(query.since, query.until, names, groups, _group(total, {}, every))


def _sum(values: Any) -> Any:
    """The sum of the values that are not None; None when all are (SQL's SUM)."""
    present = [value for value in values if value is not None]
    return sum(present) if present else None


def _plain(conn: sqlite3.Connection) -> sqlite3.Cursor:
    """A cursor of plain tuples: a ``sqlite3.Row`` per duration costs more than the query at 100,000."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor


def _durations(cursor: sqlite3.Cursor, names: Sequence[str]) -> dict[tuple[Any, ...], list[float]]:
    by_key: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    width = len(names)
    for row in cursor:
        by_key[tuple(row[:width])].append(row[width])
    return by_key


def _percentile(ordered: list[float], percent: int) -> float | None:
    """Nearest rank: the smallest value with at least ``percent`` % of the values at or below it."""
    if not ordered:
        return None
    return ordered[max(1, math.ceil(percent * len(ordered) / 100)) - 1]


def _group(row: dict[str, Any], key: dict[str, Any], durations: list[float]) -> AnalyticsGroup:
    ordered = sorted(durations)
    return AnalyticsGroup.from_sums(
        row, key, duration_p50_s=_percentile(ordered, 50), duration_p95_s=_percentile(ordered, 95)
    )
