"""What ``GET lpe/api/analytics`` costs the database at 10,000 and 100,000 jobs.

A database at the shipped schema is seeded with N finished jobs spread over 30 days (1 in 20 failed,
1 in 50 cancelled, three job types), each with 5 steps whose usage has tokens, ``llm_calls`` and
``cache_hits`` and whose cost and model (two models) are set. Then the store's own query
(``lpe_nb.jobs.sqlite._sql_analytics.analytics``, the function ``SqliteJobStore.analytics`` runs on its
reader connection) is timed, median of ``--repeats``, for the last 24 hours and the whole 30 days, with
no grouping and grouped by type, by day and status (the widget's charts), and by model.

    python bench/analytics.py [--sizes 10000,100000] [--repeats 5]

Prints one line per case and writes ``bench/results/analytics.json``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import write_results  # noqa: E402
from lpe_nb.jobs.analytics import AnalyticsRange  # noqa: E402
from lpe_nb.jobs.model import to_iso  # noqa: E402
from lpe_nb.jobs.sqlite._sql_analytics import analytics  # noqa: E402
from lpe_nb.jobs.sqlite.schema import migrate  # noqa: E402

DAYS = 30
STEPS = 5
END = datetime(2026, 11, 29, tzinfo=timezone.utc)
GROUPINGS: dict[str, tuple[str, ...]] = {
    "totals": (),
    "by type": ("type",),
    "by day and status": ("day", "status"),
    "by model": ("model",),
}


def seed(path: Path, count: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    spacing_s = DAYS * 86_400 / count
    types = ("projection", "translation", "maieutic")
    for i in range(count):
        created = END - timedelta(seconds=(count - i) * spacing_s)
        ended = created + timedelta(seconds=2 + i % 17)
        status = "failed" if i % 20 == 0 else "cancelled" if i % 50 == 1 else "completed"
        job_id = f"job-{i:07d}"
        conn.execute(
            "INSERT INTO jobs (id, type, status, title, created_at, started_at, completed_at, updated_at, "
            "cost_usd, prompt_tokens, completion_tokens, total_tokens, llm_calls, cache_hits) "
            "VALUES (?, ?, ?, 't', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, types[i % 3], status, to_iso(created), to_iso(created), to_iso(ended), to_iso(ended),
             0.0005 * STEPS, 300 * STEPS, 120 * STEPS, 420 * STEPS, STEPS - 1, 1),
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO job_steps (job_id, idx, name, input, output, usage, started_at, completed_at, "
            "duration_ms, attempt, model, cost_usd, prompt_tokens, completion_tokens, total_tokens, llm_calls, "
            "cache_hits) VALUES (?, ?, ?, '{}', '{}', ?, ?, ?, 400, 1, ?, ?, 300, 120, 420, ?, ?)",
            [
                (job_id, s, f"step{s}", json.dumps({"prompt_tokens": 300, "completion_tokens": 120,
                 "total_tokens": 420, "llm_calls": 0 if s == 4 else 1, "cache_hits": 1 if s == 4 else 0}),
                 to_iso(created), to_iso(ended), "gpt-4o-mini" if s % 2 else "gpt-4.1-mini", 0.0005,
                 0 if s == 4 else 1, 1 if s == 4 else 0)
                for s in range(STEPS)
            ],
        )  # fmt: skip
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def measure(path: Path, repeats: int) -> dict[str, dict[str, float]]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    ranges = {"last 24 h": END - timedelta(days=1), f"last {DAYS} days": END - timedelta(days=DAYS + 1)}
    figures: dict[str, dict[str, float]] = {}
    for range_name, since in ranges.items():
        for grouping, group_by in GROUPINGS.items():
            query = AnalyticsRange(to_iso(since), to_iso(END + timedelta(seconds=1)), group_by)
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                report = analytics(conn, query)
                times.append(time.perf_counter() - started)
            figures.setdefault(range_name, {})[grouping] = round(statistics.median(times) * 1000, 1)
            figures[range_name]["jobs"] = report.totals.jobs
    conn.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, Any] = {"steps_per_job": STEPS, "days": DAYS, "ms": {}}
    with tempfile.TemporaryDirectory(prefix="lpe-analytics-") as work:
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(work) / f"jobs-{size}.db"
            started = time.perf_counter()
            seed(path, size)
            print(f"{size:,} jobs seeded in {time.perf_counter() - started:.1f} s")
            figures = measure(path, args.repeats)
            results["ms"][str(size)] = figures
            for range_name, by_grouping in figures.items():
                cases = "  ".join(f"{k}: {v:g}" for k, v in by_grouping.items() if k != "jobs")
                print(f"  {size:>7,} jobs, {range_name} ({by_grouping['jobs']:,} jobs): {cases} ms")
    print(f"wrote {write_results('analytics', results)}")


if __name__ == "__main__":
    main()
