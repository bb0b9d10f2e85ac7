"""The SQL floor of a no-op job: the statements lpe-nb's engine issues for it, replayed in a tight sqlite3 loop
with no engine, beside Huey's own enqueue/dequeue and Huey's whole job, in one run.

    python bench/sql_floor.py [--jobs 2000] [--repeats 3] [--synchronous NORMAL]

1. *Capture*: the real engine runs ``--jobs`` no-op jobs (``bench/engine_throughput.py``'s workload, the
   engine's default concurrency) while every statement its group-commit writer runs is recorded with its
   parameters, transaction by transaction (insert, claim, finish, their audit rows, the status counters'
   statement; the index maintenance happens inside them).
2. *Replay*: a fresh database created by the real migrations, with the store's own PRAGMAs, runs exactly
   those statements in exactly those transactions (the group-commit batches as they happened), timed;
   and the same with parts of the schema changed, to say what each costs (wall time, and CPU time, which
   a busy machine inflates far less). The claims find the same jobs, since every statement sees the state
   its recording saw; the replay checks every job completed.
3. *Huey*: its ``SqliteStorage.enqueue`` and ``dequeue`` for as many tasks (its SQL), and its whole job
   (``engine_throughput.huey_rate``: enqueue, dequeue, execute), interleaved with the replays.

One writer thread commits every state change, so lpe-nb's jobs/s can never exceed the replay's: if the SQL
costs more than half of Huey's whole job, 2x Huey is out of reach without dropping what that SQL is for.
The ``guarantees only`` variant keeps just the schema the guarantees need (conditional transitions,
leases, checkpoints, the audit trail, the claim's queue): its rate is the floor no engine change can beat.
Last line: ``sql_floor_us=<x> guarantees_us=<g> huey_job_us=<y> floor_ratio_vs_huey=<z>`` (``x`` the shipped
schema's SQL per job, ``g`` the guarantees-only schema's, ``z`` = y / x: the best ratio to Huey lpe-nb could
reach if all its Python cost nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import median, write_results
from bench.engine_throughput import huey_rate, lpe_rate
from lpe_nb.jobs import ManagerSettings
from lpe_nb.jobs.sqlite import _group_commit
from lpe_nb.jobs.sqlite._connection import configure
from lpe_nb.jobs.sqlite.schema import migrate

# Indexes of jobs that serve reads (listings, counts, retention, other processes' change feed), not a
# guarantee of the write path; the claim's queue (jobs_pending_queue, jobs_scheduled), the leases'
# (jobs_running_lease) and the primary keys stay in every variant, and so does jobs_created since the
# audit trail is keyed by it (schema migration 15: a job's transitions name it by (created_at, id)).
_READ_INDEXES = ("jobs_status_created", "jobs_user_status_created", "jobs_terminal_completed",
                 "jobs_updated")  # fmt: skip
# What issue 16 removed, put back to measure it in the same run: the counter triggers of schema migration
# 2 (the writer's own counter statements still run beside them, ~1 µs per job).
COUNTER_TRIGGERS = (
    "CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN "
    "UPDATE job_counts SET n = n + 1 WHERE status = NEW.status; END",
    "CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN "
    "UPDATE job_counts SET n = n - 1 WHERE status = OLD.status; END",
    "CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs WHEN OLD.status <> NEW.status BEGIN "
    "UPDATE job_counts SET n = n - 1 WHERE status = OLD.status; "
    "UPDATE job_counts SET n = n + 1 WHERE status = NEW.status; END",
)

VARIANTS: dict[str, tuple[str, ...]] = {
    "shipped": (),
    "+ the counter triggers (before issue 16)": COUNTER_TRIGGERS,
    **{f"without {index}": (f"DROP INDEX IF EXISTS {index}",) for index in _READ_INDEXES},
    "guarantees only": tuple(f"DROP INDEX IF EXISTS {index}" for index in _READ_INDEXES),
}


@dataclass(slots=True)
class Statement:
    sql: str
    params: Any  # a tuple, or for executemany a list of tuples
    many: bool = False


@dataclass(slots=True)
class Capture:
    jobs: int
    batches: list[list[Statement]] = field(default_factory=list)

    @property
    def statements(self) -> int:
        return sum(len(b) for b in self.batches)


class _Recorder:
    """A ``sqlite3.Connection`` stand-in for the writer's operations: records, then runs, each statement."""

    def __init__(self, conn: sqlite3.Connection, into: list[Statement]) -> None:
        self._conn = conn
        self._into = into

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        self._into.append(Statement(sql, tuple(params)))
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        rows = [tuple(p) for p in seq]
        self._into.append(Statement(sql, rows, many=True))
        return self._conn.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def capture(jobs: int, synchronous: str) -> Capture:
    """Run the engine on ``jobs`` no-op jobs and record what its writer committed, batch by batch."""
    captured = Capture(jobs)
    run_batch = _group_commit._run_batch

    def recording(conn: sqlite3.Connection, batch: list[Any]) -> list[tuple[bool, Any]]:
        statements: list[Statement] = []
        outcomes = run_batch(_Recorder(conn, statements), batch)  # type: ignore[arg-type]
        if not all(ok for ok, _ in outcomes):
            raise RuntimeError(f"a write failed while capturing: {outcomes}")
        # the transaction's own BEGIN and COMMIT went through the recorder too: the replay issues its own
        captured.batches.append([s for s in statements if s.sql not in ("BEGIN IMMEDIATE", "COMMIT")])
        return outcomes

    _group_commit._run_batch = recording
    try:
        with tempfile.TemporaryDirectory(prefix="lpe-sql-floor-") as tmp:
            asyncio.run(lpe_rate(Path(tmp), jobs, synchronous, ManagerSettings().concurrency))
    finally:
        _group_commit._run_batch = run_batch
    return captured


def _open(path: Path, synchronous: str, changes: Sequence[str]) -> sqlite3.Connection:
    """A connection as the store opens its writer (same PRAGMAs), on a schema made by the real migrations."""
    conn = sqlite3.connect(path, isolation_level=None)
    configure(10_000, "FULL" if synchronous == "FULL" else "NORMAL", False)(conn)
    migrate(conn)
    for statement in changes:
        conn.execute(statement)
    return conn


def _commit(conn: sqlite3.Connection, batch: Sequence[Statement]) -> None:
    """One captured transaction, replayed as the engine committed it."""
    conn.execute("BEGIN IMMEDIATE")
    for s in batch:
        if s.many:
            conn.executemany(s.sql, s.params)
        else:
            conn.execute(s.sql, s.params).fetchall()
    conn.execute("COMMIT")


def replay(path: Path, captured: Capture, synchronous: str, changes: Sequence[str]) -> tuple[float, float]:
    """Seconds (wall, and CPU) to run the captured transactions on a fresh database at ``path`` with the
    schema ``changes`` of a variant."""
    conn = _open(path, synchronous, changes)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        for batch in captured.batches:
            _commit(conn, batch)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        ((completed,),) = conn.execute("SELECT COUNT(*) FROM jobs WHERE status = 'completed'").fetchall()
        if completed != captured.jobs:
            raise RuntimeError(f"the replay completed {completed} of {captured.jobs} jobs")
    finally:
        conn.close()
    return elapsed, cpu


def statement_costs(path: Path, captured: Capture, synchronous: str) -> dict[str, float]:
    """CPU µs per job of each kind of statement (the shipped schema; index writes count in their
    statement's, a transaction's WAL writes in its COMMIT): thread CPU time, which load inflates less."""
    conn = _open(path, synchronous, ())
    spent: dict[str, float] = defaultdict(float)
    clock = time.thread_time
    try:
        for batch in captured.batches:
            t = clock()
            conn.execute("BEGIN IMMEDIATE")
            spent["BEGIN IMMEDIATE"] += clock() - t
            for s in batch:
                t = clock()
                if s.many:
                    conn.executemany(s.sql, s.params)
                else:
                    conn.execute(s.sql, s.params).fetchall()
                spent[_kind(s.sql)] += clock() - t
            t = clock()
            conn.execute("COMMIT")
            spent["COMMIT"] += clock() - t
    finally:
        conn.close()
    return {
        kind: seconds / captured.jobs * 1e6 for kind, seconds in sorted(spent.items(), key=lambda kv: -kv[1])
    }


def wal_pages(path: Path, captured: Capture, synchronous: str) -> tuple[int, dict[str, float]]:
    """The WAL pages a steady transaction writes (the group commits of claims and finishes, after the
    submits' big ones), per transaction and by b-tree: every dirty page is a WAL frame, written (and at
    FULL synced) by COMMIT. The captured transactions replayed without checkpoints, then the WAL's frame
    headers mapped to their table or index with SQLite's ``dbstat``. Returns (transactions, pages by name)."""
    conn = _open(path, synchronous, ("PRAGMA wal_autocheckpoint = 0",))
    try:
        steady = [i for i, batch in enumerate(captured.batches) if len(batch) < 100]
        first = next(i for i in steady if i > max(i for i, b in enumerate(captured.batches) if len(b) >= 100))
        measured = captured.batches[first:]
        for index, batch in enumerate(captured.batches):
            if index == first:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL holds the steady ones only
            _commit(conn, batch)
        ((page_size,),) = conn.execute("PRAGMA page_size").fetchall()
        names = {page: name for name, page in conn.execute("SELECT name, pageno FROM dbstat")}
        wal = Path(f"{path}-wal").read_bytes()
    finally:
        conn.close()
    pages: dict[str, float] = defaultdict(float)
    for offset in range(32, len(wal) - 24, 24 + page_size):  # a 32-byte header, then frames
        pages[names.get(int.from_bytes(wal[offset : offset + 4], "big"), "(freed)")] += 1 / len(measured)
    return len(measured), dict(sorted(pages.items(), key=lambda kv: -kv[1]))


def _kind(sql: str) -> str:
    text = re.sub(r"\s+", " ", sql).strip()
    return text if len(text) <= 90 else text[:87] + "..."


def huey_sql_rate(directory: Path, jobs: int, synchronous: str) -> float:
    """Tasks per second through Huey's ``SqliteStorage.enqueue`` then ``dequeue`` alone (its SQL)."""
    from huey import SqliteHuey
    from huey.storage import SqliteStorage

    level = {"FULL": 2, "NORMAL": 1}[synchronous]

    class Storage(SqliteStorage):  # type: ignore[misc]  # as engine_throughput.huey_rate configures it
        def _create_connection(self) -> sqlite3.Connection:
            conn = super()._create_connection()
            conn.execute(f"pragma synchronous={level}")
            return conn

    huey = SqliteHuey("bench", filename=str(directory / "huey.db"), storage_class=Storage, results=True)

    @huey.task()  # type: ignore[misc]
    def noop() -> None:
        return None

    message = huey.serialize_task(noop.s())  # what huey.enqueue stores for a task
    storage = huey.storage
    started = time.perf_counter()
    for _ in range(jobs):
        storage.enqueue(message, 0)
    for _ in range(jobs):
        if storage.dequeue() is None:
            raise RuntimeError("huey's queue ran dry early")
    elapsed = time.perf_counter() - started
    return jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--synchronous", choices=("NORMAL", "FULL"), default="NORMAL")
    parser.add_argument(
        "--pages", action="store_true", help="only the WAL pages a steady transaction writes, by b-tree"
    )
    args = parser.parse_args()
    sync = args.synchronous

    captured = capture(args.jobs, sync)
    if args.pages:
        with tempfile.TemporaryDirectory(prefix="lpe-sql-floor-") as tmp:
            transactions, pages = wal_pages(Path(tmp) / "pages.db", captured, sync)
        jobs_each = args.jobs / len(captured.batches)
        print(f"{transactions} steady transactions, {jobs_each:.1f} jobs each; WAL pages per transaction:")
        for name, count in pages.items():
            print(f"  {count:6.2f}  {name}")
        print(f"wal_pages_per_transaction={sum(pages.values()):.1f}")
        return
    per_batch = captured.statements / len(captured.batches)
    jobs_per_batch = args.jobs / len(captured.batches)
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpu_us: dict[str, list[float]] = {name: [] for name in VARIANTS}
    huey_sql: list[float] = []
    huey_job: list[float] = []
    with tempfile.TemporaryDirectory(prefix="lpe-sql-floor-") as tmp:
        work = Path(tmp)
        for repeat in range(args.repeats):  # interleaved, so drift in the machine hits every side alike
            names = list(VARIANTS) if repeat % 2 == 0 else list(reversed(VARIANTS))
            for index, name in enumerate(names):
                wall_s, cpu_s = replay(work / f"replay-{repeat}-{index}.db", captured, sync, VARIANTS[name])
                rates[name].append(args.jobs / wall_s)
                cpu_us[name].append(cpu_s / args.jobs * 1e6)
            (work / f"huey-sql-{repeat}").mkdir()
            huey_sql.append(huey_sql_rate(work / f"huey-sql-{repeat}", args.jobs, sync))
            (work / f"huey-job-{repeat}").mkdir()
            huey_job.append(huey_rate(work / f"huey-job-{repeat}", args.jobs, sync))
        costs = statement_costs(work / "costs.db", captured, sync)

    lpe = {name: median(values) for name, values in rates.items()}
    huey_sql_rate_ = median(huey_sql)
    huey_job_rate = median(huey_job)
    huey_job_us = 1e6 / huey_job_rate
    floor_us = 1e6 / lpe["shipped"]
    print(f"synchronous={sync} jobs={args.jobs} repeats={args.repeats} (medians)")
    print(
        f"captured: {captured.statements / args.jobs:.2f} statements per job in {len(captured.batches)} "
        f"transactions ({jobs_per_batch:.1f} jobs, {per_batch:.1f} statements each)"
    )
    print(
        "CPU µs per job by statement (shipped schema; index writes count in their statement, WAL writes in "
        "COMMIT):"
    )
    for kind, us in costs.items():
        print(f"  {us:7.1f}  {kind}")
    cpu = {name: median(values) for name, values in cpu_us.items()}
    print(
        f"{'lpe-nb SQL only, by schema':<46} {'jobs/s':>8} {'µs/job':>8} {'vs shipped':>10} {'CPU µs/job':>10}"
    )
    for name, rate in lpe.items():
        print(f"  {name:<44} {rate:8.0f} {1e6 / rate:8.1f} {1e6 / rate - floor_us:+10.1f} {cpu[name]:10.1f}")
    print(f"{'huey SQL only (enqueue + dequeue)':<46} {huey_sql_rate_:8.0f} {1e6 / huey_sql_rate_:8.1f}")
    print(f"{'huey whole job (enqueue, dequeue, execute)':<46} {huey_job_rate:8.0f} {huey_job_us:8.1f}")
    guarantees_us = 1e6 / lpe["guarantees only"]
    best, best_guarantees = huey_job_us / floor_us, huey_job_us / guarantees_us
    print(
        f"lpe-nb's SQL alone is {floor_us / huey_job_us:.2f}x Huey's whole job with the shipped schema, "
        f"{guarantees_us / huey_job_us:.2f}x with only what the guarantees need: if all of lpe-nb's Python "
        f"cost nothing it could reach {best:.2f}x (shipped) or {best_guarantees:.2f}x Huey's rate here"
    )
    half = huey_job_us / 2
    if floor_us > half:
        print(
            f"=> 2x Huey is out of reach here with the shipped schema: its SQL alone ({floor_us:.1f} µs) costs "
            f"more than half of Huey's whole job ({half:.1f} µs)"
            + (
                f", and so does the SQL the guarantees need ({guarantees_us:.1f} µs)"
                if guarantees_us > half
                else f"; the guarantees' SQL alone ({guarantees_us:.1f} µs) would leave {half - guarantees_us:.1f} "
                "µs per job for everything else (the engine's Python, events, the read indexes)"
            )
        )
    write_results(
        "sql_floor",
        {
            "jobs": args.jobs,
            "repeats": args.repeats,
            "synchronous": sync,
            "statements_per_job": round(captured.statements / args.jobs, 2),
            "jobs_per_transaction": round(jobs_per_batch, 1),
            "lpe_sql_jobs_per_s": {name: round(rate, 1) for name, rate in lpe.items()},
            "lpe_sql_samples": rates,
            "lpe_sql_cpu_us_per_job": {name: round(us, 1) for name, us in cpu.items()},
            "statement_us_per_job": {kind: round(us, 2) for kind, us in costs.items()},
            "huey_sql_jobs_per_s": round(huey_sql_rate_, 1),
            "huey_job_jobs_per_s": round(huey_job_rate, 1),
            "huey_samples": {"sql": huey_sql, "job": huey_job},
        },
    )
    print(
        f"sql_floor_us={floor_us:.1f} guarantees_us={guarantees_us:.1f} huey_job_us={huey_job_us:.1f} "
        f"floor_ratio_vs_huey={best:.2f}"
    )


if __name__ == "__main__":
    main()
