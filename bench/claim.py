"""What jobs that wait cost the claim: 10,000 scheduled for later and 10,000 blocked by a parent, against none.

The claim the dispatcher runs (``lpe_nb.jobs.sqlite._sql_leases.claim_pending``, its own transaction, on
``sqlite3`` with the shipped schema) takes 8 jobs from a queue of ready ones, again and again, on three
databases, interleaved round by round:

- ``empty``: only the ready jobs;
- ``waiting``: the same, plus 10,000 jobs scheduled for tomorrow and 10,000 waiting for a parent that
  runs, all older than the ready ones (the worst place: the queue is walked oldest first);
- ``blocked in the queue index`` (not shipped): the ``waiting`` database with the queue index rebuilt
  without its ``waiting_on IS NULL`` condition, so the claim walks past the blocked jobs and drops each one
  (what a status-only marker would cost).

Every other claim is timed (wall, ``perf_counter``); the others are counted in SQLite virtual-machine
instructions (a progress handler on every one: a figure no machine load changes); medians.

    python bench/claim.py [--waiting 10000] [--rounds 400]

Prints the figures and, last, ``ratio=<waiting/empty, time> steps_ratio=<waiting/empty, VM steps>``;
writes ``bench/results/claim.json``.
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
from lpe_nb.jobs.model import to_iso, utc_now  # noqa: E402
from lpe_nb.jobs.sqlite._counts import WriterConnection  # noqa: E402
from lpe_nb.jobs.sqlite._sql_leases import claim_pending  # noqa: E402
from lpe_nb.jobs.sqlite.schema import migrate  # noqa: E402

BATCH = 8  # jobs per claim: the dispatcher's free slots
NAIVE_QUEUE = (
    "CREATE INDEX jobs_pending_queue ON jobs (priority DESC, created_at) "
    "WHERE status = 'pending' AND scheduled_at IS NULL"
)


def _open(path: Path, *, waiting: int, naive: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, factory=WriterConnection)  # as the store's writer
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    migrate(conn)
    if waiting:
        _add_waiting(conn, waiting)
    if naive:
        conn.execute("DROP INDEX jobs_pending_queue")
        conn.execute(NAIVE_QUEUE)
    return conn


def _add_waiting(conn: sqlite3.Connection, count: int) -> None:
    """``count`` jobs scheduled for tomorrow and ``count`` blocked by a running parent, all old."""
    old, tomorrow = "2020-01-01T00:00:00.000000+00:00", "2999-01-01T00:00:00.000000+00:00"
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO jobs (id, type, status, title, created_at, updated_at, dependents) "
        "VALUES ('parent', 'noop', 'running', 'the parent', ?, ?, ?)",
        (old, old, count),
    )
    conn.executemany(
        "INSERT INTO jobs (id, type, status, title, created_at, updated_at, depends_on, waiting_on) "
        "VALUES (?, 'noop', 'pending', 't', ?, ?, '[\"parent\"]', 1)",
        [(f"blocked-{i:06d}", old, old) for i in range(count)],
    )
    conn.executemany(
        "INSERT INTO job_dependencies (parent_id, job_id) VALUES ('parent', ?)",
        [(f"blocked-{i:06d}",) for i in range(count)],
    )
    conn.executemany(
        "INSERT INTO jobs (id, type, status, title, created_at, updated_at, scheduled_at) "
        "VALUES (?, 'noop', 'pending', 't', ?, ?, ?)",
        [(f"scheduled-{i:06d}", old, old, tomorrow) for i in range(count)],
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")


def _refill(conn: sqlite3.Connection, serial: int) -> None:
    """``BATCH`` ready jobs, and the last claim's jobs finished: a queue that stays short, as in use."""
    now = to_iso(utc_now())
    conn.execute("BEGIN")
    conn.execute(
        "UPDATE jobs SET status = 'completed', completed_at = ? WHERE status = 'running' AND id <> 'parent'",
        (now,),
    )
    conn.executemany(
        "INSERT INTO jobs (id, type, status, title, created_at, updated_at) VALUES (?, 'noop', 'pending', 't', ?, ?)",
        [(f"ready-{serial}-{i}", now, now) for i in range(BATCH)],
    )
    conn.execute("COMMIT")


def _claim(conn: sqlite3.Connection, *, count_steps: bool) -> tuple[float, int, int]:
    """One claim in its own transaction: (microseconds, VM instructions, jobs claimed). The steps are
    counted by a Python callback per instruction, which slows the claim: a claim is timed or counted."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    now = to_iso(utc_now())
    if count_steps:
        conn.set_progress_handler(count, 1)
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    claimed = claim_pending(conn, "bench", now, now, BATCH)
    conn.execute("COMMIT")
    elapsed_us = (time.perf_counter() - started) * 1e6
    conn.set_progress_handler(None, 1)
    return elapsed_us, steps, len(claimed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--waiting", type=int, default=10_000, help="scheduled jobs, and as many blocked ones"
    )
    parser.add_argument("--rounds", type=int, default=400, help="claims per database")
    args = parser.parse_args()
    configs = {
        "empty": {"waiting": 0, "naive": False},
        "waiting": {"waiting": args.waiting, "naive": False},
        "blocked in the queue index (not shipped)": {"waiting": args.waiting, "naive": True},
    }
    times: dict[str, list[float]] = {name: [] for name in configs}
    steps: dict[str, list[int]] = {name: [] for name in configs}
    with tempfile.TemporaryDirectory(prefix="lpe-bench-claim-") as tmp:
        conns = {
            name: _open(Path(tmp) / f"db{index}.db", **config)
            for index, (name, config) in enumerate(configs.items())
        }
        for round_ in range(args.rounds + 20):  # the first 20: warm-up, statements prepared, pages cached
            for name, conn in conns.items():
                _refill(conn, round_)
                counting = round_ % 2 == 1
                elapsed_us, vm_steps, claimed = _claim(conn, count_steps=counting)
                assert claimed == BATCH, f"{name}: claimed {claimed} of {BATCH} ready jobs"
                if round_ >= 20 and counting:
                    steps[name].append(vm_steps)
                elif round_ >= 20:
                    times[name].append(elapsed_us)
        for conn in conns.values():
            conn.close()
    figures: dict[str, Any] = {"waiting": args.waiting, "rounds": args.rounds, "batch": BATCH, "claims": {}}
    print(
        f"claim of {BATCH} ready jobs; {args.waiting:,} scheduled + {args.waiting:,} blocked jobs in 'waiting'"
    )
    for name in configs:
        median_us, median_steps = statistics.median(times[name]), statistics.median(steps[name])
        figures["claims"][name] = {"median_us": round(median_us, 1), "median_vm_steps": median_steps}
        print(f"  {name:<42} {median_us:8.1f} us  {median_steps:>9,.0f} VM steps")
    ratio = statistics.median(times["waiting"]) / statistics.median(times["empty"])
    steps_ratio = statistics.median(steps["waiting"]) / statistics.median(steps["empty"])
    figures["ratio"], figures["steps_ratio"] = round(ratio, 3), round(steps_ratio, 3)
    path = write_results("claim", figures)
    print(f"written to {path.relative_to(ROOT)}")
    print(f"ratio={ratio:.2f} steps_ratio={steps_ratio:.3f}")


if __name__ == "__main__":
    main()
