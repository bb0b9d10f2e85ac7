"""What one user's jobs cost in a big shared history (issue 13): the index of migration ``username``.

On the shipped schema, ``--jobs`` jobs (default 100,000) of ``--users`` users, 1 in 50 failed, the rest
completed, plus a light user with 100 jobs and 3 running ones:

(a) reads, with ``sqlite3`` and the SQL the store runs (``list_jobs_query``, ``COUNT_BY_USER_SQL``): a
    user's first page (50) with no status filter, which merges one walk per status of
    ``jobs_user_status_created``, against one walk of an extra ``(username, created_at DESC, id DESC)``
    index; a user's page of ``running`` jobs; a user's counts, for the heavy user and the light one,
    against the five global counters;
(b) writes: ``--write-jobs`` jobs inserted, claimed and finished (three statements, as the store's
    submit, claim and finish) on the schema as shipped, without the user index, and with the extra one
    besides, interleaved repeats: what each index costs a job.

    python bench/users.py [--jobs 100000] [--users 10] [--write-jobs 5000] [--repeats 3]

Prints the figures and, last, ``user_page_ms=<x> user_running_ms=<y> user_counts_ms=<z>`` (the heavy
user's); writes ``bench/results/users.json``.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import write_results  # noqa: E402
from lpe_nb.jobs import JobStatus  # noqa: E402
from lpe_nb.jobs.model import new_job_id  # noqa: E402
from lpe_nb.jobs.sqlite._sql_reads import COUNT_BY_STATUS_SQL, COUNT_BY_USER_SQL, list_jobs_query  # noqa: E402
from lpe_nb.jobs.sqlite.schema import migrate  # noqa: E402

EXTRA_INDEX = "CREATE INDEX jobs_user_created ON jobs (username, created_at DESC, id DESC)"
PAGE = 51  # the manager asks for one more than the page, to know whether there is a next one


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def seed(path: Path, jobs: int, users: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    rows = []
    for i in range(jobs):
        status = "failed" if i % 50 == 0 else "completed"
        rows.append((new_job_id(), status, f"{i:09d}", f"user{i % users}"))
    for i in range(100):
        rows.append((new_job_id(), "running" if i < 3 else "completed", f"{jobs + i:09d}", "light"))
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO jobs (id, type, status, title, created_at, updated_at, completed_at, username) "
        "VALUES (?, 'noop', ?, 't', ?, ?, ?, ?)",
        [(job_id, status, at, at, at, user) for job_id, status, at, user in rows],
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def timed(
    conn: sqlite3.Connection, sql: str, params: list[Any] | tuple[Any, ...], repeats: int = 30
) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        conn.execute(sql, params).fetchall()
        times.append(time.perf_counter() - start)
    return ms(statistics.median(times))


def measure_reads(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    merged_sql, merged_params = list_jobs_query(
        statuses=[], job_type=None, limit=PAGE, before=None, username="user0"
    )
    running_sql, running_params = list_jobs_query(
        statuses=[JobStatus.RUNNING], job_type=None, limit=PAGE, before=None, username="light"
    )
    figures = {
        "page, no status, merged walks (shipped)": timed(conn, merged_sql, merged_params),
        "page of running jobs (light user)": timed(conn, running_sql, running_params),
        "counts, heavy user (shipped)": timed(conn, COUNT_BY_USER_SQL, ("user0",)),
        "counts, light user (shipped)": timed(conn, COUNT_BY_USER_SQL, ("light",)),
        "counts, everyone (counters)": timed(conn, COUNT_BY_STATUS_SQL, ()),
    }
    conn.execute(EXTRA_INDEX)
    figures["page, no status, extra (username, created_at) index"] = timed(
        conn,
        "SELECT * FROM jobs INDEXED BY jobs_user_created WHERE username = ? ORDER BY created_at DESC, id DESC "
        "LIMIT ?",
        ("user0", PAGE),
    )
    conn.close()
    return figures


def write_jobs(path: Path, variant: str, count: int) -> float:
    """Seconds to insert, claim and finish ``count`` jobs one statement each, committed per 100 jobs."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    if variant == "without the user index":
        conn.execute("DROP INDEX jobs_user_status_created")
    elif variant == "with an extra (username, created_at) index":
        conn.execute(EXTRA_INDEX)
    ids = [new_job_id() for _ in range(count)]
    start = time.perf_counter()
    for first in range(0, count, 100):
        conn.execute("BEGIN")
        for i in range(first, min(count, first + 100)):
            at = f"{i:09d}"
            conn.execute(
                "INSERT INTO jobs (id, type, status, title, created_at, updated_at, username) "
                "VALUES (?, 'noop', 'pending', 't', ?, ?, ?)",
                (ids[i], at, at, f"user{i % 10}"),
            )
        for i in range(first, min(count, first + 100)):
            conn.execute("UPDATE jobs SET status = 'running', seq = seq + 1 WHERE id = ?", (ids[i],))
            conn.execute("UPDATE jobs SET status = 'completed', seq = seq + 1 WHERE id = ?", (ids[i],))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def measure_writes(work: Path, count: int, repeats: int) -> dict[str, Any]:
    variants = ["as shipped", "without the user index", "with an extra (username, created_at) index"]
    runs: dict[str, list[float]] = {variant: [] for variant in variants}
    for repeat in range(repeats):
        for variant in variants:  # interleaved, so the machine's load falls on all alike
            path = work / f"write-{repeat}-{variants.index(variant)}.db"
            runs[variant].append(write_jobs(path, variant, count))
    return {variant: round(statistics.median(t) / count * 1e6, 2) for variant, t in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--write-jobs", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = work / "history.db"
        seed(path, args.jobs, args.users)
        reads = measure_reads(path)
        writes = measure_writes(work, args.write_jobs, args.repeats)
    print(f"reads at {args.jobs:,} jobs of {args.users} users (+100 of a light user), median ms:")
    for name, value in reads.items():
        print(f"  {name:<55} {value:8.3f}")
    print(f"writes: µs per job (insert, claim, finish), median of {args.repeats}:")
    for name, value in writes.items():
        print(f"  {name:<55} {value:8.2f}")
    figures = {"jobs": args.jobs, "users": args.users, "reads_ms": reads, "write_us_per_job": writes}
    print(f"results: {write_results('users', figures)}")
    print(
        f"user_page_ms={reads['page, no status, merged walks (shipped)']} "
        f"user_running_ms={reads['page of running jobs (light user)']} "
        f"user_counts_ms={reads['counts, heavy user (shipped)']}"
    )


if __name__ == "__main__":
    main()
