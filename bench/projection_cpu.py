"""CPU per projection job in the engine: what ``bench/server.py``'s projections cost the server's process,
without the HTTP stack.

The engine as the server extension opens it (``open_engine``, SQLite, the mock LLM at zero latency,
concurrency 8, the same input as bench/server.py's POSTs, so after the first job every LLM call is a
result-cache hit, as there), ``--jobs`` projections submitted one after another and then waited for.
Printed per job: the process's CPU (``time.process_time``) and each thread's (``/proc/self/task``: the event
loop's, the store's writer's, its reader's) and the writer's commits; the jobs' ends are read from one
subscription to every job's status events, as the server's lifecycle watcher reads them. ``--submit-only``:
the engine does not dispatch (the jobs stay pending), the submit path alone. ``--profile N``: cProfile's top N
entries of the loop thread by own time (inflated by the profiler: read them as shares). ``--writes``: the
store's writer thread's CPU per job by kind of write, and what each transaction costs around its writes
(``BEGIN``, the status counters, ``COMMIT``).

    python bench/projection_cpu.py [--jobs 3000] [--repeats 3] [--submit-only] [--profile 30] [--writes]

Last line: ``job_us=<x>`` (process CPU per job, submitted and run), or with ``--submit-only``
``submit_us=<x>``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import os
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import median, write_results
from lpe_nb.embedded import open_engine
from lpe_nb.jobs import JobManager, JobStatus, Subscription
from lpe_nb.jobs.sqlite import _group_commit
from lpe_nb.llm import MockLLM

# bench/server.py's body
INPUT = {
    "narrative": "Mara left the harbour town of Velden at dawn, carrying her father's compass and a debt.",
    "persona": "critic",
}
_TICKS = os.sysconf("SC_CLK_TCK")


def _thread_cpu_s() -> dict[str, float]:
    """CPU seconds of each thread of this process, by thread id."""
    seconds = {}
    for tid in os.listdir("/proc/self/task"):
        fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        seconds[tid] = (int(fields[11]) + int(fields[12])) / _TICKS
    return seconds


async def _run(jobs: int, submit_only: bool, profile: cProfile.Profile | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lpe-bench-projection-") as tmp:
        async with open_engine(Path(tmp) / "jobs.db", llm=MockLLM(0.0), dispatch=not submit_only) as engine:
            manager = engine.manager
            # every job's status events, as the Jupyter server's lifecycle watcher reads them
            statuses = manager.events.subscribe(None, max_pending=4 * jobs + 1000, statuses_only=True)
            await _submit_and_run(manager, 50, submit_only, statuses)  # the first fill the result cache
            store = manager.store
            commits, threads = getattr(store, "commits", 0), _thread_cpu_s()  # SQLite's writer counts them
            loop_id = str(threading.get_native_id())
            started = time.process_time()
            if profile is not None:
                profile.enable()
            await _submit_and_run(manager, jobs, submit_only, statuses)
            if profile is not None:
                profile.disable()
            ended, after = time.process_time(), _thread_cpu_s()
            others = [(after[t] - threads.get(t, 0.0)) / jobs * 1e6 for t in after if t != loop_id]
            return {
                "process_us": (ended - started) / jobs * 1e6,
                "loop_us": (after[loop_id] - threads[loop_id]) / jobs * 1e6,
                "other_threads_us": [round(us) for us in sorted(others, reverse=True)[:2]],  # writer, reader
                "commits_per_job": (getattr(store, "commits", 0) - commits) / jobs,
            }


async def _submit_and_run(manager: JobManager, jobs: int, submit_only: bool, statuses: Subscription) -> None:
    ids = {await manager.submit("projection", dict(INPUT)) for _ in range(jobs)}
    while ids and not submit_only:
        event = await statuses.get(timeout_s=120)
        if event.is_terminal and event.job_id in ids:
            assert event.status is JobStatus.COMPLETED, event.error_message
            ids.discard(event.job_id)


@contextlib.contextmanager
def _timed_writes() -> Iterator[tuple[dict[str, list[float]], list[float]]]:
    """The writer thread's CPU seconds in each kind of write (the store method that queued it: count,
    seconds) and in whole transactions (count, seconds), while the block runs."""
    by_kind: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    transactions = [0, 0.0]
    run_batch = _group_commit._run_batch

    def timed(conn: Any, batch: list[Any]) -> list[tuple[bool, Any]]:
        for write in batch:
            kind = getattr(write.op, "__qualname__", "?").split(".<locals>")[0]

            def op(conn: Any, inner: Any = write.op, kind: str = kind) -> Any:
                started = time.thread_time()
                try:
                    return inner(conn)
                finally:
                    by_kind[kind][0] += 1
                    by_kind[kind][1] += time.thread_time() - started

            write.op = op
        started = time.thread_time()
        try:
            return run_batch(conn, batch)
        finally:
            transactions[0] += 1
            transactions[1] += time.thread_time() - started

    _group_commit._run_batch = timed
    try:
        yield by_kind, transactions
    finally:
        _group_commit._run_batch = run_batch


def _print_writes(jobs: int, submit_only: bool) -> None:
    with _timed_writes() as (by_kind, transactions):
        asyncio.run(_run(jobs, submit_only, None))
    in_writes = 0.0
    print("the store's writer thread, CPU µs per job by kind of write (writes per job, µs each):")
    for kind, (count, seconds) in sorted(by_kind.items(), key=lambda item: -item[1][1]):
        in_writes += seconds
        if count / jobs >= 0.01:
            print(
                f"  {seconds / jobs * 1e6:7.1f}  ({count / jobs:5.2f}, {seconds / count * 1e6:6.1f})  {kind}"
            )
    count, seconds = transactions
    around = seconds - in_writes
    print(
        f"  {around / jobs * 1e6:7.1f}  ({count / jobs:5.2f}, {around / count * 1e6:6.1f})  "
        "each transaction around its writes: BEGIN, the status counters, COMMIT"
    )
    print(f"writer_us={seconds / jobs * 1e6:.0f} transactions_per_job={count / jobs:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--submit-only", action="store_true", help="the jobs never run: the submit alone")
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile's top N entries of the loop")
    parser.add_argument("--writes", action="store_true", help="the writer thread's CPU by kind of write")
    args = parser.parse_args()
    if args.writes:
        _print_writes(args.jobs, args.submit_only)
        return
    if args.profile:
        profile = cProfile.Profile()
        asyncio.run(_run(args.jobs, args.submit_only, profile))
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
        return
    runs = [asyncio.run(_run(args.jobs, args.submit_only, None)) for _ in range(args.repeats)]
    figures = {
        "jobs": args.jobs,
        "submit_only": args.submit_only,
        "runs": runs,
        "process_us": round(median([run["process_us"] for run in runs])),
        "loop_us": round(median([run["loop_us"] for run in runs])),
    }
    write_results("projection_cpu" + ("_submit" if args.submit_only else ""), figures)
    what = "submitted only (not dispatched)" if args.submit_only else "submitted and run"
    print(f"{args.jobs} projection jobs {what}; CPU µs per job:")
    for run in runs:
        print(
            f"    process {run['process_us']:6.0f}; loop thread {run['loop_us']:5.0f}; the store's writer and"
            f" reader threads {run['other_threads_us']}; commits per job {run['commits_per_job']:.2f}"
        )
    print(f"{'submit_us' if args.submit_only else 'job_us'}={figures['process_us']}")


if __name__ == "__main__":
    main()
