"""The proving ground at scale: transient faults and kill -9, counting what is lost, stuck, duplicated or redone.

Two runs against the loopback fake OpenAI server (``tests/llm/fake_openai_server.py``), with the default
retry policy and attempts (backoffs scaled down, as in ``tests/chaos``):

1. ``faults``: ``--jobs`` three-step jobs in this process, ``--fault-rate`` of all requests a transient
   fault of any kind (seeded). Prints the share of jobs completed and the requests per successful call.
2. ``kills``: the same jobs run by an engine in a child process that is SIGKILLed ``--kills`` times at
   random points (after 15..60 requests), with the same faults; a last child finishes. Prints
   ``lost= stuck= duplicated= redone= completed=`` and the requests per call, counted from the database
   and the server's per-job, per-step request log.

    python bench/chaos.py                      # 1000 jobs, 100 kills, 30 % faults
    python bench/chaos.py --jobs 200 --kills 20

Results go to ``bench/results/chaos.json``; docs/fault-tolerance.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import write_results
from lpe_nb.jobs import JobManager, OperationRegistry
from lpe_nb.llm import OpenAICompatibleLLM
from tests.chaos.harness import (
    CHAOS_TYPE,
    ChaosReport,
    KillLoop,
    chaos_llm_settings,
    chaos_manager_settings,
    register_chaos,
    report,
    until_all_done,
)
from tests.llm.fake_openai_server import TRANSIENT_FAULTS, FakeOpenAIServer, SeededFaults


async def faults_only(db_path: Path, jobs: int, rate: float, seed: int) -> ChaosReport:
    with FakeOpenAIServer(slow_s=1.0, faults=SeededFaults(rate, TRANSIENT_FAULTS, seed=seed)) as server:
        llm = OpenAICompatibleLLM(chaos_llm_settings(server.base_url))
        registry = OperationRegistry()
        register_chaos(registry, llm)
        started = time.monotonic()
        try:
            async with JobManager.open(
                db_path, registry=registry, settings=chaos_manager_settings()
            ) as manager:
                ids = [await manager.submit(CHAOS_TYPE, {"steps": 3}) for _ in range(jobs)]
                await until_all_done(manager, timeout_s=3600)
        finally:
            await llm.aclose()
        result = await report(db_path, ids, server.requests)
        result.seconds = time.monotonic() - started
        return result


async def kill_loop(db_path: Path, jobs: int, kills: int, rate: float, seed: int) -> ChaosReport:
    with FakeOpenAIServer(slow_s=1.0, faults=SeededFaults(rate, TRANSIENT_FAULTS, seed=seed)) as server:
        loop = KillLoop(db_path, server, kills=kills, seed=seed, between=(15, 60), finish_timeout_s=1800)
        ids = await loop.submit(jobs, steps=3, max_attempts=10)
        started = time.monotonic()
        await loop.run()
        result = await report(db_path, ids, server.requests)
        result.kills = loop.killed
        result.seconds = time.monotonic() - started
        return result


def figures(result: ChaosReport) -> dict[str, Any]:
    return {
        "submitted": result.submitted,
        "completed": result.completed,
        "completed_share": round(result.completed / result.submitted, 4) if result.submitted else 0,
        "lost": result.lost,
        "stuck": result.stuck,
        "duplicated": result.duplicated,
        "redone": result.redone,
        "malformed": result.malformed,
        "kills": result.kills,
        "requests": result.requests,
        "calls": result.calls,
        "requests_per_call": round(result.requests_per_call, 3),
        "seconds": round(result.seconds, 1),
        "problems": result.problems[:20],
    }


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        faults = await faults_only(Path(tmp) / "faults.db", args.jobs, args.fault_rate, args.seed)
        print(
            f"faults: {faults.line()} completed_share={faults.completed / faults.submitted:.1%}", flush=True
        )
        kills = await kill_loop(Path(tmp) / "kills.db", args.jobs, args.kills, args.fault_rate, args.seed)
        print(f"kills:  {kills.line()}", flush=True)
    path = write_results(
        "chaos",
        {
            "settings": {
                "jobs": args.jobs,
                "kills": args.kills,
                "fault_rate": args.fault_rate,
                "seed": args.seed,
                "steps_per_job": 3,
                "fault_kinds": list(TRANSIENT_FAULTS),
            },
            "faults": figures(faults),
            "kills": figures(kills),
        },
    )
    print(f"written to {path}")
    return 0 if faults.ok and kills.ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    sys.exit(asyncio.run(main(parser.parse_args())))
