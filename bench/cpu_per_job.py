"""CPU time per no-op job: the whole process and the event loop's thread, and what each index or trigger
of the jobs table costs (the same run with one of them dropped).

    python bench/cpu_per_job.py [--jobs 2000] [--repeats 3] [--concurrency 8]

CPU time (``time.process_time`` for the process, ``time.thread_time`` inside the loop for its thread) is
far less inflated by a busy machine than wall time. Each variant runs on a fresh database; variants are
interleaved within every repeat and the medians printed. Last line:
``cpu_per_job_us=<x> loop_per_job_us=<y>`` for the schema as shipped.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import median, write_results
from bench.history import VARIANTS
from lpe_nb.jobs import JobManager, JobStatus, ManagerSettings, OperationRegistry, StepContext

# The schema variants of bench/history.py (what each drops). jobs_updated cannot be among them: the peers'
# change feed names it (INDEXED BY), so the engine does not run without it.


async def _noop(ctx: StepContext, data: Any) -> None:
    return None


async def _run(path: Path, jobs: int, concurrency: int) -> tuple[float, float]:
    """(process CPU µs, loop-thread CPU µs) per job for ``jobs`` no-op jobs on the database at ``path``."""
    registry = OperationRegistry()
    registry.register("noop", _noop)
    settings = ManagerSettings(concurrency=concurrency, retention_days=None)
    async with JobManager.open(path, registry=registry, settings=settings) as manager:
        events = await manager.subscribe(None)
        events.max_pending = jobs * 4  # the benchmark reads every status event
        process_start, loop_start = time.process_time(), time.thread_time()
        await asyncio.gather(*(manager.submit("noop") for _ in range(jobs)))
        done = 0
        while done < jobs:
            event = await events.get(timeout_s=60)
            if event.is_terminal:
                assert event.status is JobStatus.COMPLETED, event
                done += 1
        process_s, loop_s = time.process_time() - process_start, time.thread_time() - loop_start
    return process_s / jobs * 1e6, loop_s / jobs * 1e6


def _prepare(path: Path, drops: tuple[str, ...]) -> None:
    asyncio.run(_run(path, 1, 1))  # creates the schema as shipped
    with sqlite3.connect(path) as conn:
        for statement in drops:
            conn.execute(statement)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name, drops in VARIANTS.items():
            with tempfile.TemporaryDirectory(prefix="lpe-bench-cpu-") as tmp:
                path = Path(tmp) / "jobs.db"
                _prepare(path, drops)
                samples[name].append(asyncio.run(_run(path, args.jobs, args.concurrency)))
    figures = {
        name: {
            "process_us_per_job": median([p for p, _ in runs]),
            "loop_us_per_job": median([loop for _, loop in runs]),
        }
        for name, runs in samples.items()
    }
    shipped = figures["shipped"]
    for name, figure in figures.items():
        saved = shipped["process_us_per_job"] - figure["process_us_per_job"]
        print(
            f"{name:<30} process {figure['process_us_per_job']:7.1f} µs/job  "
            f"loop {figure['loop_us_per_job']:6.1f} µs/job  (saves {saved:+6.1f})"
        )
    write_results("cpu_per_job", {"jobs": args.jobs, "repeats": args.repeats, "figures": figures})
    print(
        f"cpu_per_job_us={shipped['process_us_per_job']:.1f} loop_per_job_us={shipped['loop_us_per_job']:.1f}"
    )


if __name__ == "__main__":
    main()
