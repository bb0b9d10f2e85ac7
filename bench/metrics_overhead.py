"""What the metrics cost per job: CPU time per job of this tree against a baseline tree without them.

    mkdir /tmp/lpe-before && git archive e5bbc6a | tar -x -C /tmp/lpe-before   # before the metrics
    python bench/metrics_overhead.py --baseline /tmp/lpe-before [--tree .] [--repeats 7]

Each run is a fresh interpreter on one tree, interleaved (baseline, tree, baseline, ...), measuring process
CPU time (``time.process_time``, far less inflated by a busy machine than wall time) per job for no-op
jobs (as ``bench/cpu_per_job.py`` runs them) and for jobs of three steps that each call the mock LLM (so
the step and LLM counters are fed too), and timing the meter's own calls. Prints the medians and, last,
``metrics_overhead_noop=<ratio> metrics_overhead_stepped=<ratio>`` (tree / baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from bench._common import median, write_results  # noqa: E402


async def _cpu_us_per_job(path: Path, jobs: int, concurrency: int, *, steps: int) -> float:
    """Process CPU µs per job of ``jobs`` jobs of ``steps`` steps, each step one mock LLM call (0: no-op
    jobs, as ``bench/cpu_per_job.py`` runs them)."""
    from lpe_nb.jobs import JobManager, JobStatus, ManagerSettings, OperationRegistry, StepContext
    from lpe_nb.llm import MockLLM

    llm = MockLLM()

    async def run(ctx: StepContext, data: Any) -> None:
        for index in range(steps):

            async def work() -> dict[str, str]:
                reply = await llm.complete([{"role": "user", "content": "hello there"}], task="bench")
                ctx.add_usage(reply.usage.as_dict())
                return {"text": reply.text}

            await ctx.run_step(f"s{index}", work)

    registry = OperationRegistry()
    registry.register("stepped", run)
    settings = ManagerSettings(concurrency=concurrency, retention_days=None)
    async with JobManager.open(path, registry=registry, settings=settings) as manager:
        events = await manager.subscribe(None)
        events.max_pending = jobs * 20  # every status and progress event is read
        started = time.process_time()
        await asyncio.gather(*(manager.submit("stepped") for _ in range(jobs)))
        done = 0
        while done < jobs:
            event = await events.get(timeout_s=60)
            if event.is_terminal:
                assert event.status is JobStatus.COMPLETED, event
                done += 1
        return (time.process_time() - started) / jobs * 1e6


def _child(tree: str, jobs: int, concurrency: int) -> None:
    """One measurement with ``tree``'s lpe_nb; prints JSON."""
    sys.path[:] = [tree, *(p for p in sys.path if p != str(HERE))]  # lpe_nb is not imported yet
    with tempfile.TemporaryDirectory(prefix="lpe-bench-metrics-") as tmp:
        noop_us = asyncio.run(_cpu_us_per_job(Path(tmp) / "noop.db", jobs, concurrency, steps=0))
        stepped_us = asyncio.run(_cpu_us_per_job(Path(tmp) / "stepped.db", jobs // 2, concurrency, steps=3))
        import lpe_nb

        assert Path(lpe_nb.__file__).is_relative_to(tree), lpe_nb.__file__
    print(json.dumps({"noop_us": noop_us, "stepped_us": stepped_us, **_meter_calls_us()}))


def _meter_calls_us() -> dict[str, float]:
    """What the meter's calls cost: those of a job (submitted, finished) and of an LLM step (the step, the
    request, its tokens, finding the meter), in µs; empty for a tree without the metrics."""
    try:
        from lpe_nb.metrics import Meter, current_meter
    except ImportError:
        return {}
    meter = Meter()
    usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}

    def job() -> None:
        meter.job_submitted("bench")
        meter.job_finished("bench", "completed", 1.5)

    def step() -> None:
        meter.step_finished("bench", "s0", 0.4, usage, 0.001)
        current_meter().llm_request("model", "ok", 0.5)
        current_meter().llm_tokens("model", 5, 3, 0.001)

    calls = 100_000
    return {
        name: min(timeit.repeat(fn, number=calls, repeat=5)) / calls * 1e6
        for name, fn in (("meter_per_job_us", job), ("meter_per_llm_step_us", step))
    }


def _measure(tree: Path, jobs: int, concurrency: int) -> dict[str, float]:
    """One measurement in a fresh interpreter whose ``lpe_nb`` is ``tree``'s."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(tree),
        str(jobs),
        str(concurrency),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True, cwd=tree)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--baseline", type=Path, required=True, help="a tree without the metrics")
    parser.add_argument("--tree", type=Path, default=HERE, help="the tree with them (default: this one)")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    samples: dict[str, list[dict[str, float]]] = {"baseline": [], "metrics": []}
    for _ in range(args.repeats):
        samples["baseline"].append(_measure(args.baseline.resolve(), args.jobs, args.concurrency))
        samples["metrics"].append(_measure(args.tree.resolve(), args.jobs, args.concurrency))
    figures = {
        tree: {kind: median([run[kind] for run in runs]) for kind in ("noop_us", "stepped_us")}
        for tree, runs in samples.items()
    }
    for tree, figure in figures.items():
        print(
            f"{tree:<9} no-op {figure['noop_us']:7.1f} µs/job   3 LLM steps {figure['stepped_us']:7.1f} µs/job"
        )
    ratios = {
        kind: figures["metrics"][kind] / figures["baseline"][kind] for kind in ("noop_us", "stepped_us")
    }
    calls = {
        name: median([run[name] for run in samples["metrics"]])
        for name in ("meter_per_job_us", "meter_per_llm_step_us")
    }
    print(
        f"the meter's own calls: {calls['meter_per_job_us']:.2f} µs per job, "
        f"{calls['meter_per_llm_step_us']:.2f} µs per LLM step"
    )
    write_results(
        "metrics_overhead",
        {
            "jobs": args.jobs,
            "repeats": args.repeats,
            "figures": figures,
            "samples": samples,
            "ratios": ratios,
            "meter_calls_us": calls,
        },
    )
    print(
        f"metrics_overhead_noop={ratios['noop_us']:.3f} metrics_overhead_stepped={ratios['stepped_us']:.3f}"
    )


if __name__ == "__main__":
    main()
