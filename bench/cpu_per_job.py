"""CPU time per no-op job: the whole process, the event loop's thread and the store's writer thread, and
what an index or the old counter triggers of the jobs table cost (the same run with the schema changed).

    python bench/cpu_per_job.py [--jobs 2000] [--repeats 3] [--concurrency 8]
    python bench/cpu_per_job.py --profile 12   # cProfile's top 12 entries per thread instead
    python bench/cpu_per_job.py --gc           # with Python's garbage collector and without, alternating

CPU time (``time.process_time`` for the process, ``time.thread_time`` inside the loop for its thread) is
far less inflated by a busy machine than wall time. Each variant runs on a fresh database; variants are
interleaved within every repeat and the medians printed. Last line:
``cpu_per_job_us=<x> loop_per_job_us=<y>`` for the schema as shipped.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import median, write_results
from bench.sql_floor import COUNTER_TRIGGERS
from lpe_nb.jobs import JobManager, JobStatus, ManagerSettings, OperationRegistry, StepContext
from lpe_nb.jobs.sqlite import _group_commit

# Schema variants, each the shipped schema changed by its statements. jobs_updated cannot be among them:
# the peers' change feed names it (INDEXED BY), so the engine does not run without it. The counters are
# kept by the store's writer since issue 16; the triggers that kept them before are put back to measure
# what they cost (bench/sql_floor.py measures the SQL alone, with more variants).
VARIANTS: dict[str, tuple[str, ...]] = {
    "shipped": (),
    "+ the counter triggers (before issue 16)": COUNTER_TRIGGERS,
    "without jobs_status_created": ("DROP INDEX jobs_status_created",),
    "without jobs_user_status_created": ("DROP INDEX jobs_user_status_created",),
}


async def _noop(ctx: StepContext, data: Any) -> None:
    return None


class _WriterClock:
    """CPU time the store's writer thread spends in its transactions (``_group_commit._run_batch``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._run_batch = _group_commit._run_batch

    def __enter__(self) -> _WriterClock:
        def timed(conn: sqlite3.Connection, batch: list[Any]) -> list[tuple[bool, Any]]:
            started = time.thread_time()
            try:
                return self._run_batch(conn, batch)
            finally:
                self.seconds += time.thread_time() - started

        _group_commit._run_batch = timed
        return self

    def __exit__(self, *exc_info: object) -> None:
        _group_commit._run_batch = self._run_batch


async def _run(path: Path, jobs: int, concurrency: int) -> tuple[float, float, float]:
    """(process, loop thread, writer thread) CPU µs per job for ``jobs`` no-op jobs on the database at
    ``path``."""
    registry = OperationRegistry()
    registry.register("noop", _noop)
    settings = ManagerSettings(concurrency=concurrency, retention_days=None)
    async with JobManager.open(path, registry=registry, settings=settings) as manager:
        events = await manager.subscribe(None)
        events.max_pending = jobs * 4  # the benchmark reads every status event
        with _WriterClock() as writer:
            process_start, loop_start = time.process_time(), time.thread_time()
            await asyncio.gather(*(manager.submit("noop") for _ in range(jobs)))
            done = 0
            while done < jobs:
                event = await events.get(timeout_s=60)
                if event.is_terminal:
                    assert event.status is JobStatus.COMPLETED, event
                    done += 1
            process_s, loop_s = time.process_time() - process_start, time.thread_time() - loop_start
    return process_s / jobs * 1e6, loop_s / jobs * 1e6, writer.seconds / jobs * 1e6


class _Collections:
    """Python's cyclic garbage collections while it is entered: count and seconds by generation, and the
    longest one (a pause of whatever thread triggered it, most often the event loop's)."""

    def __init__(self) -> None:
        self.by_generation: dict[int, list[float]] = {}
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.by_generation.setdefault(info["generation"], []).append(time.perf_counter() - self._started)

    def __enter__(self) -> _Collections:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._callback)


def gc_cost(jobs: int, concurrency: int, repeats: int) -> None:
    """The shipped schema with Python's garbage collector as the process has it, and without it (disabled
    for the run), alternating: what the collections cost the loop thread and the process per job."""
    figures: dict[str, list[tuple[float, float, float]]] = {"collector on": [], "collector off": []}
    collections: list[dict[int, list[float]]] = []
    for repeat in range(repeats):
        for name in (
            ("collector on", "collector off") if repeat % 2 == 0 else ("collector off", "collector on")
        ):
            with tempfile.TemporaryDirectory(prefix="lpe-bench-cpu-") as tmp:
                path = Path(tmp) / "jobs.db"
                _prepare(path, ())
                gc.collect()
                if name == "collector off":
                    gc.disable()
                try:
                    with _Collections() as seen:
                        figures[name].append(asyncio.run(_run(path, jobs, concurrency)))
                finally:
                    gc.enable()
                if name == "collector on":
                    collections.append(seen.by_generation)
    for name, runs in figures.items():
        print(
            f"{name:<14} process {median([p for p, _, _ in runs]):6.1f} µs/job  "
            f"loop {median([loop for _, loop, _ in runs]):6.1f}  writer {median([w for _, _, w in runs]):6.1f}"
        )
    for generation in sorted({g for run in collections for g in run}):
        counts = [float(len(run.get(generation, []))) for run in collections]
        spent = [sum(run.get(generation, [])) / jobs * 1e6 for run in collections]
        longest = max(max(run.get(generation, [0.0])) for run in collections) * 1e3
        print(
            f"generation {generation}: {median(counts):5.0f} collections per {jobs} jobs, "
            f"{median(spent):5.1f} µs per job, the longest {longest:.1f} ms"
        )
    write_results(
        "cpu_per_job_gc",
        {
            "jobs": jobs,
            "repeats": repeats,
            "figures": figures,
            "collections_s": collections,
        },
    )


def _prepare(path: Path, drops: tuple[str, ...]) -> None:
    asyncio.run(_run(path, 1, 1))  # creates the schema as shipped
    with sqlite3.connect(path) as conn:
        for statement in drops:
            conn.execute(statement)


def profile(jobs: int, concurrency: int, top: int) -> dict[str, list[tuple[float, float, str]]]:
    """cProfile of one run on the shipped schema: the loop thread's and the writer thread's top entries by
    own time, as (µs per job, calls per job, function); profiling inflates every Python call, so read
    them as shares, not as costs."""
    writer_profile, loop_profile = cProfile.Profile(), cProfile.Profile()
    run_batch = _group_commit._run_batch

    def profiled(conn: sqlite3.Connection, batch: list[Any]) -> list[tuple[bool, Any]]:
        writer_profile.enable()
        try:
            return run_batch(conn, batch)
        finally:
            writer_profile.disable()

    _group_commit._run_batch = profiled
    try:
        with tempfile.TemporaryDirectory(prefix="lpe-bench-cpu-") as tmp:
            path = Path(tmp) / "jobs.db"
            _prepare(path, ())
            loop_profile.enable()
            asyncio.run(_run(path, jobs, concurrency))
            loop_profile.disable()
    finally:
        _group_commit._run_batch = run_batch
    # What the loop does while it has nothing to do (the hand-off of a transaction to the SQLite thread,
    # SimpleQueue.put_nowait, stays: it is where the loop waits for the GIL while that thread runs Python).
    idle = (
        "select.epoll",
        "selectors.py",
        "base_events.py:_run_once",
        "'run' of '_contextvars",
        "events.py:_run",
    )
    tops = {}
    for thread, prof in (("loop", loop_profile), ("writer", writer_profile)):
        entries = []
        for (file, _line, function), (_cc, calls, own, _cum, _callers) in pstats.Stats(prof).stats.items():  # type: ignore[attr-defined]
            name = function if file == "~" else f"{Path(file).name}:{function}"
            if thread == "loop" and (any(word in name for word in idle) or name.startswith("cpu_per_job")):
                continue  # waiting for I/O, and this script's own loop
            entries.append((own / jobs * 1e6, calls / jobs, name))
        entries.sort(reverse=True)
        tops[thread] = entries[:top]
        print(f"{thread} thread, top entries by own time (profiled µs per job, calls per job):")
        for us, calls, name in entries[:top]:
            print(f"  {us:6.1f} µs  {calls:5.2f}  {name}")
    return tops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=ManagerSettings().concurrency)
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="print the top N entries per thread"
    )
    parser.add_argument(
        "--gc", action="store_true", help="the garbage collector's share: runs with it and without it"
    )
    args = parser.parse_args()
    if args.gc:
        gc_cost(args.jobs, args.concurrency, args.repeats)
        return
    if args.profile:
        profile(args.jobs, args.concurrency, args.profile)
        return
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in VARIANTS}
    for repeat in range(args.repeats):  # interleaved, alternating the order
        names = list(VARIANTS) if repeat % 2 == 0 else list(reversed(VARIANTS))
        for name in names:
            with tempfile.TemporaryDirectory(prefix="lpe-bench-cpu-") as tmp:
                path = Path(tmp) / "jobs.db"
                _prepare(path, VARIANTS[name])
                samples[name].append(asyncio.run(_run(path, args.jobs, args.concurrency)))
    figures = {
        name: {
            "process_us_per_job": median([p for p, _, _ in runs]),
            "loop_us_per_job": median([loop for _, loop, _ in runs]),
            "writer_us_per_job": median([writer for _, _, writer in runs]),
        }
        for name, runs in samples.items()
    }
    shipped = figures["shipped"]
    for name, figure in figures.items():
        saved = shipped["process_us_per_job"] - figure["process_us_per_job"]
        print(
            f"{name:<42} process {figure['process_us_per_job']:6.1f} µs/job  "
            f"loop {figure['loop_us_per_job']:6.1f}  writer {figure['writer_us_per_job']:6.1f}  "
            f"(saves {saved:+6.1f})"
        )
    write_results("cpu_per_job", {"jobs": args.jobs, "repeats": args.repeats, "figures": figures})
    print(
        f"cpu_per_job_us={shipped['process_us_per_job']:.1f} loop_per_job_us={shipped['loop_us_per_job']:.1f} "
        f"writer_per_job_us={shipped['writer_us_per_job']:.1f}"
    )


if __name__ == "__main__":
    main()
