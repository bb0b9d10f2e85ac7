"""End-to-end throughput of no-op jobs: lpe-nb's engine versus Huey with its SqliteStorage.

Both sides get the same N jobs, the same database directory and the same ``synchronous`` setting; each
figure is the median of interleaved repeats in this one run. Huey runs its worker loop (dequeue, execute)
with one worker in this process, without the consumer's idle polling, which could only slow it down.

    python bench/engine_throughput.py [--jobs 2000] [--repeats 3] [--concurrency 4]

Prints both rates and, last, ``ratio_vs_huey=<x>`` (lpe-nb / Huey at synchronous=FULL).
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
from lpe_nb.jobs import JobManager, JobStatus, ManagerSettings, OperationRegistry, StepContext


async def _noop(ctx: StepContext, data: Any) -> None:
    return None


async def lpe_rate(directory: Path, jobs: int, synchronous: str, concurrency: int) -> float:
    registry = OperationRegistry()
    registry.register("noop", _noop)
    settings = ManagerSettings(concurrency=concurrency, retention_days=None)
    async with JobManager.open(
        directory / "lpe.db",
        synchronous=synchronous,
        registry=registry,
        settings=settings,  # type: ignore[arg-type]
    ) as manager:
        events = await manager.subscribe(None)
        events.max_pending = jobs * 4  # the benchmark reads every status event
        started = time.perf_counter()
        await asyncio.gather(*(manager.submit("noop") for _ in range(jobs)))
        done = 0
        while done < jobs:
            event = await events.get(timeout_s=60)
            if event.is_terminal:
                assert event.status is JobStatus.COMPLETED, event
                done += 1
        elapsed = time.perf_counter() - started
    return jobs / elapsed


def huey_rate(directory: Path, jobs: int, synchronous: str) -> float:
    from huey import SqliteHuey
    from huey.storage import SqliteStorage

    level = {"FULL": 2, "NORMAL": 1}[synchronous]

    class Storage(SqliteStorage):  # type: ignore[misc]
        def _create_connection(self) -> sqlite3.Connection:
            conn = super()._create_connection()
            conn.execute(f"pragma synchronous={level}")
            return conn

    huey = SqliteHuey("bench", filename=str(directory / "huey.db"), storage_class=Storage, results=True)

    @huey.task()
    def noop() -> None:
        return None

    started = time.perf_counter()
    for _ in range(jobs):
        noop()
    executed = 0
    while executed < jobs:
        task = huey.dequeue()
        assert task is not None
        huey.execute(task)
        executed += 1
    elapsed = time.perf_counter() - started
    assert huey.pending_count() == 0
    return jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=ManagerSettings().concurrency)
    args = parser.parse_args()

    samples: dict[str, list[float]] = {k: [] for k in ("lpe_full", "huey_full", "lpe_normal", "huey_normal")}
    for _ in range(args.repeats):  # interleaved, so drift in the machine hits both sides alike
        for sync in ("FULL", "NORMAL"):
            with tempfile.TemporaryDirectory() as tmp:
                samples[f"lpe_{sync.lower()}"].append(
                    asyncio.run(lpe_rate(Path(tmp), args.jobs, sync, args.concurrency))
                )
            with tempfile.TemporaryDirectory() as tmp:
                samples[f"huey_{sync.lower()}"].append(huey_rate(Path(tmp), args.jobs, sync))

    rates = {name: round(median(values), 1) for name, values in samples.items()}
    ratio_full = rates["lpe_full"] / rates["huey_full"]
    ratio_normal = rates["lpe_normal"] / rates["huey_normal"]
    write_results(
        "engine_throughput",
        {
            "jobs": args.jobs,
            "repeats": args.repeats,
            "concurrency": args.concurrency,
            "jobs_per_s": rates,
            "samples": samples,
            "ratio_vs_huey_full": round(ratio_full, 2),
            "ratio_vs_huey_normal": round(ratio_normal, 2),
        },
    )
    print(f"jobs={args.jobs} repeats={args.repeats} lpe concurrency={args.concurrency} (medians, jobs/s)")
    print(f"synchronous=FULL    lpe-nb {rates['lpe_full']:8.1f}   huey {rates['huey_full']:8.1f}")
    print(f"synchronous=NORMAL  lpe-nb {rates['lpe_normal']:8.1f}   huey {rates['huey_normal']:8.1f}")
    print(f"ratio at NORMAL (the default): {ratio_normal:.2f}")
    print(f"ratio_vs_huey={ratio_full:.2f}")


if __name__ == "__main__":
    main()
