"""What a big history costs: ``GET status`` and ``jobs?status=running`` at 0, 10,000 and 100,000 jobs.

(a) Through a real ``jupyter server`` (``bench/server.py``'s, mock LLM) on a database seeded with N finished
    jobs through the store (``insert_job``), with 3 ticker jobs running: K sequential requests of
    ``GET lpe/api/status`` and ``GET lpe/api/jobs?status=running``, interleaved; medians, and the ratio of
    each size to the empty database. Each read goes to the database (the store's answers from memory,
    given while nothing was committed, are turned off: they would not measure the queries); then the same
    again as a dashboard gets them, with those answers on.
(b) The choices behind them, on the same files with ``sqlite3``: the status counts read from the counters
    against ``GROUP BY status`` over the status index and over the table; a listing by a rare status on the
    status index against the creation index it used to walk; the retention purge with its statuses in the
    index's order against the old order, with nothing to purge and with 20 % of the jobs past retention.
(c) What the status index and the counters cost the writes: ``jobs`` no-op jobs inserted, claimed and
    finished through the store, the schema as shipped against the same without the index, and with the
    counters kept by triggers as before issue 16 (the store's writer keeps them now), interleaved repeats.

    python bench/history.py [--sizes 0,10000,100000] [--requests 200] [--write-jobs 3000] [--repeats 3]

Prints the figures and, last, ``status_ratio=<x> running_ratio=<y>`` (100k against 0; target <= 2);
writes ``bench/results/history.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tornado.httpclient import AsyncHTTPClient, HTTPRequest  # noqa: E402

from bench._common import write_results  # noqa: E402
from bench.server import Server, jupyter_server  # noqa: E402
from bench.sql_floor import COUNTER_TRIGGERS  # noqa: E402
from lpe_nb.jobs import JobRecord, JobStatus, Progress, open_store  # noqa: E402
from lpe_nb.jobs.model import new_job_id, to_iso, utc_now  # noqa: E402
from lpe_nb.jobs.sqlite._sql_jobs import PURGE_TERMINAL_SQL  # noqa: E402

OLD_PURGE_SQL = (  # before issue 15: the statuses in another order than the partial index's WHERE
    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status IN ('cancelled', 'completed', 'failed') "
    "AND completed_at < ? ORDER BY completed_at LIMIT ?)"
)
COUNTS = {
    "counters (shipped)": "SELECT status, n FROM job_counts",
    "GROUP BY over the status index": "SELECT status, COUNT(*) FROM jobs INDEXED BY jobs_status_created "
    "GROUP BY status",
    "GROUP BY over the table (before)": "SELECT status, COUNT(*) FROM jobs NOT INDEXED GROUP BY status",
}
LISTINGS = {
    "status index (shipped)": "SELECT * FROM jobs INDEXED BY jobs_status_created WHERE status = 'running' "
    "ORDER BY created_at DESC, id DESC LIMIT 51",
    "creation index (before)": "SELECT * FROM jobs INDEXED BY jobs_created WHERE status = 'running' "
    "ORDER BY created_at DESC, id DESC LIMIT 51",
}
PURGE_BATCH = 200


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


# -- seeding ------------------------------------------------------------------------------------------------


async def seed(path: Path, count: int) -> None:
    """``count`` finished jobs (1 in 50 failed), created a second apart, finished a day ago or later."""
    start = utc_now() - timedelta(days=2)
    async with open_store(path) as store:
        for first in range(0, count, 2000):
            jobs = []
            for i in range(first, min(count, first + 2000)):
                created = to_iso(start + timedelta(seconds=i))
                jobs.append(
                    JobRecord(
                        id=new_job_id(), type="projection",
                        status=JobStatus.FAILED if i % 50 == 0 else JobStatus.COMPLETED,
                        title=f"job {i}", input_data={"narrative": "x" * 200}, result_data={"text": "y" * 400},
                        progress=Progress(current_step="done", percentage=100.0, seq=9), created_at=created,
                        started_at=created, completed_at=created, updated_at=created, attempts=1, seq=9,
                    )
                )  # fmt: skip
            await asyncio.gather(*(store.insert_job(job) for job in jobs))


# -- (a) through the server ---------------------------------------------------------------------------------


async def measure_server(server: Server, requests: int) -> dict[str, Any]:
    client = AsyncHTTPClient()
    body = json.dumps(
        {"jobs": 3, "hz": 1, "duration_s": 3600, "start_at_ns": time.time_ns(), "staggered": True}
    )
    await client.fetch(
        server.url + "lpe-bench/setup", method="POST", headers=server.headers, body=body, raise_error=True
    )
    paths = {
        "GET status": "lpe/api/status",
        "GET jobs?status=running": "lpe/api/jobs?status=running",
    }
    by_mode: dict[bool, dict[str, list[float]]] = {}
    for repeat_reads in (False, True):
        await client.fetch(
            server.url + "lpe-bench/reads-from-memory",
            method="POST",
            headers=server.headers,
            body=json.dumps({"on": repeat_reads}),
        )
        samples = by_mode[repeat_reads] = {name: [] for name in paths}
        for round_ in range(requests + 10):  # the first 10 warm up
            for name, path in paths.items():
                started = time.perf_counter()
                response = await client.fetch(HTTPRequest(server.url + path, headers=server.headers))
                elapsed = time.perf_counter() - started
                assert response.code == 200
                if round_ >= 10:
                    samples[name].append(elapsed)
    status = json.loads((await client.fetch(server.url + "lpe/api/status", headers=server.headers)).body)
    running = json.loads(
        (await client.fetch(server.url + "lpe/api/jobs?status=running", headers=server.headers)).body
    )
    await client.fetch(server.url + "lpe-bench/stop", method="POST", headers=server.headers, body="{}")
    return {
        "counts": status["counts"],
        "running_listed": len(running["jobs"]),
        "ms": _medians(by_mode[False]),  # every read from the database
        "ms_repeated_reads": _medians(by_mode[True]),  # as a dashboard gets them
    }


def _medians(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        name: {"p50": ms(statistics.median(v)), "p90": ms(sorted(v)[int(0.9 * len(v))])}
        for name, v in samples.items()
    }


# -- (b) the choices, with sqlite3 ----------------------------------------------------------------------------


def timed(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = (), repeats: int = 20) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        conn.execute(sql, params).fetchall()
        times.append(time.perf_counter() - started)
    return ms(statistics.median(times))


def purge_all(path: Path, sql: str, cutoff: str) -> tuple[float, int]:
    """Purge in batches of PURGE_BATCH as the manager does, one transaction each; (seconds, deleted)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    started, total = time.perf_counter(), 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        deleted = conn.execute(sql, (cutoff, PURGE_BATCH)).rowcount
        conn.execute("COMMIT")
        total += deleted
        if deleted < PURGE_BATCH:
            break
    conn.close()
    return time.perf_counter() - started, total


def measure_choices(path: Path, work: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    figures: dict[str, Any] = {
        "counts_ms": {name: timed(conn, sql) for name, sql in COUNTS.items()},
        "running_listing_ms": {name: timed(conn, sql) for name, sql in LISTINGS.items()},
    }
    long_ago = to_iso(utc_now() - timedelta(days=365))
    figures["noop_purge_ms"] = {
        "index order (shipped)": timed(
            conn,
            PURGE_TERMINAL_SQL.replace("DELETE FROM jobs WHERE id IN", "SELECT"),
            (long_ago, PURGE_BATCH),
        ),
        "other order (before)": timed(
            conn, OLD_PURGE_SQL.replace("DELETE FROM jobs WHERE id IN", "SELECT"), (long_ago, PURGE_BATCH)
        ),
    }
    (count,) = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()
    conn.close()
    if count >= 10_000:  # 20 % of the jobs past retention, purged with each statement on a copy
        figures["purge_20_percent_s"] = {}
        for name, sql in (
            ("index order (shipped)", PURGE_TERMINAL_SQL),
            ("other order (before)", OLD_PURGE_SQL),
        ):
            copy = work / f"purge-{len(figures['purge_20_percent_s'])}.db"
            shutil.copy(path, copy)
            with sqlite3.connect(copy) as c:
                c.execute(
                    "UPDATE jobs SET completed_at = '2000-01-01T00:00:00.000000+00:00' "
                    "WHERE rowid IN (SELECT rowid FROM jobs ORDER BY created_at LIMIT ?)",
                    (count // 5,),
                )
            seconds, deleted = purge_all(copy, sql, to_iso(utc_now() - timedelta(days=30)))
            assert deleted == count // 5, (deleted, count)
            figures["purge_20_percent_s"][name] = round(seconds, 2)
    return figures


# -- (c) the cost on writes -----------------------------------------------------------------------------------


# The counters are kept by the store's writer since issue 16 (one statement per changed status per
# transaction, nothing to drop); the variant puts back the triggers that kept them before, per row.
VARIANTS: dict[str, tuple[str, ...]] = {
    "shipped": (),
    "without the status index": ("DROP INDEX jobs_status_created",),
    "with the counter triggers (before issue 16)": COUNTER_TRIGGERS,
}


async def write_run(path: Path, jobs: int, drops: tuple[str, ...]) -> float:
    """Seconds to insert, claim and finish ``jobs`` jobs on a fresh schema less ``drops``."""
    async with open_store(path):
        pass  # create the schema
    with sqlite3.connect(path) as conn:
        for statement in drops:
            conn.execute(statement)
    conn.close()
    start = utc_now()
    now = to_iso(start)
    created = [to_iso(start + timedelta(microseconds=i)) for i in range(jobs)]  # in order, as submitted
    records = [JobRecord(id=new_job_id(), type="noop", status=JobStatus.PENDING, title="t", created_at=at, updated_at=at, seq=1) for at in created]  # fmt: skip
    async with open_store(path) as store:
        started = time.perf_counter()
        await asyncio.gather(*(store.insert_job(job) for job in records))
        claimed = []
        while len(claimed) < jobs:
            claimed += [job for job, _ in await store.claim_pending("me", now, now, 100)]
        await asyncio.gather(
            *(
                store.finish(job, "me", JobStatus.COMPLETED, now=now, seq=3, progress=Progress())
                for job in claimed
            )
        )
        return time.perf_counter() - started


async def measure_writes(work: Path, jobs: int, repeats: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for repeat in range(repeats):
        names = list(VARIANTS) if repeat % 2 == 0 else list(reversed(VARIANTS))
        for index, name in enumerate(names):
            seconds = await write_run(work / f"writes-{repeat}-{index}.db", jobs, VARIANTS[name])
            samples[name].append(jobs / seconds)
    rates = {name: round(statistics.median(v), 1) for name, v in samples.items()}
    return {
        "jobs": jobs,
        "repeats": repeats,
        "jobs_per_s": rates,
        "samples": {name: [round(x, 1) for x in v] for name, v in samples.items()},
        "ratio_shipped_vs_without_status_index": round(
            rates["shipped"] / rates["without the status index"], 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,10000,100000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--write-jobs", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    by_size: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lpe-bench-history-") as tmp:
        work = Path(tmp)
        for size in sizes:
            db = work / f"seed-{size}" / "jobs.db"
            db.parent.mkdir()
            started = time.perf_counter()
            asyncio.run(seed(db, size))
            seeded_s = time.perf_counter() - started
            with jupyter_server(work, f"server-{size}", db_path=str(db)) as server:
                served = asyncio.run(measure_server(server, args.requests))
            by_size[str(size)] = {"seeded_s": round(seeded_s, 1), **served, **measure_choices(db, db.parent)}
        writes = asyncio.run(measure_writes(work, args.write_jobs, args.repeats))

    base, top = by_size[str(sizes[0])]["ms"], by_size[str(sizes[-1])]["ms"]
    ratios = {name: round(top[name]["p50"] / base[name]["p50"], 2) for name in base}
    write_results("history", {"sizes": by_size, "ratios_largest_vs_smallest": ratios, "writes": writes})

    print(f"(a) through the server: medians of {args.requests} sequential requests each, ms (p90)")
    names = list(base)
    print("    jobs      " + "".join(f"{name:>28}" for name in names))
    for size, figures in by_size.items():
        cells = "".join(f"{figures['ms'][n]['p50']:>19.2f} ({figures['ms'][n]['p90']:6.2f})" for n in names)
        print(f"    {int(size):>7,}   {cells}")
    print("    ratio     " + "".join(f"{ratios[n]:>28.2f}" for n in names) + "   (target <= 2)")
    print(
        "    the same with the answers from memory on (no commit since the same read), as a dashboard gets them"
    )
    for size, figures in by_size.items():
        repeated = figures["ms_repeated_reads"]
        cells = "".join(f"{repeated[n]['p50']:>19.2f} ({repeated[n]['p90']:6.2f})" for n in names)
        print(f"    {int(size):>7,}   {cells}")
    print("(b) the choices, sqlite3 on the same files, medians ms")
    for size, figures in by_size.items():
        print(f"    {int(size):,} jobs")
        for group in ("counts_ms", "running_listing_ms", "noop_purge_ms"):
            print(f"      {group:20} " + "; ".join(f"{k} {v}" for k, v in figures[group].items()))
        if "purge_20_percent_s" in figures:
            cells = "; ".join(f"{k} {v} s" for k, v in figures["purge_20_percent_s"].items())
            print(f"      purge of 20 %        {cells}")
    print(
        f"(c) writes, {writes['jobs']} jobs inserted, claimed and finished, medians of {writes['repeats']}: "
        + "; ".join(f"{k} {v} jobs/s" for k, v in writes["jobs_per_s"].items())
        + f"; shipped / without the status index {writes['ratio_shipped_vs_without_status_index']}"
    )
    print(f"status_ratio={ratios['GET status']:.2f} running_ratio={ratios['GET jobs?status=running']:.2f}")


if __name__ == "__main__":
    main()
