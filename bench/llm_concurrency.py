"""Engine overhead on I/O-bound LLM jobs: 200 projections (5 LLM calls each) versus a bare asyncio.gather.

A loopback OpenAI-compatible server (its own process) answers every call after ``--delay-s`` (1 s). The
engine runs ``--jobs`` projection jobs with job and LLM concurrency both at ``--jobs``; in the same run,
the floor is the same number of calls made by ``asyncio.gather`` over an ``openai.AsyncOpenAI`` client,
at most ``--jobs`` in flight, each job's five calls in sequence as a projection makes them. Nobody
watches the jobs' text, so the engine does not stream (see ``StepContext.text_streamer``). Reported: both
makespans and their ratio, event-loop lag p99 (a 10 ms ticker) in each, and peak RSS per in-flight job.

    python bench/llm_concurrency.py [--jobs 200] [--delay-s 1.0] [--repeats 3]

Figures are medians of the interleaved repeats.

Last line: ``ratio_vs_bare=<x> loop_lag_p99_ms=<y>`` (the engine's loop).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import median, write_results  # noqa: E402
from lpe_nb.jobs import JobStatus, ManagerSettings  # noqa: E402
from lpe_nb.llm import LlmSettings  # noqa: E402

CALLS_PER_JOB = 5
NARRATIVE = "Ada Lovelace wrote the first program for Babbage's Analytical Engine, which was never built."


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measured(work: Callable[[], Awaitable[Any]]) -> tuple[float, float, float]:
    """Makespan of ``work``, the p99 lateness of a 10 ms ticker meanwhile, and peak RSS (MB)."""
    lags: list[float] = []
    peak = [rss_mb()]
    done = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            expected = loop.time() + 0.010
            await asyncio.sleep(0.010)
            lags.append(max(0.0, loop.time() - expected))
            if len(lags) % 10 == 0:
                peak[0] = max(peak[0], rss_mb())

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    try:
        await work()
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        await tick
    lags.sort()
    p99 = lags[int(0.99 * (len(lags) - 1))] if lags else 0.0
    return elapsed, p99 * 1000, max(peak[0], rss_mb())


async def engine_run(base_url: str, jobs: int, directory: Path) -> tuple[float, float, float, float]:
    from lpe_nb.embedded import open_engine

    settings = LlmSettings(
        provider="openai", base_url=base_url, model="bench", max_concurrency=jobs, timeout_s=60
    )
    manager_settings = ManagerSettings(concurrency=jobs, retention_days=None)
    async with open_engine(directory / "jobs.db", llm_settings=settings, settings=manager_settings) as engine:
        baseline = rss_mb()

        async def work() -> None:
            # One subscription to all jobs (like a dashboard) counts the outcomes without watching any text.
            with await engine.manager.subscribe(None) as events:
                events.max_pending = jobs * 8
                for i in range(jobs):
                    await engine.projection(NARRATIVE + f" (variant {i})")
                finished = 0
                while finished < jobs:
                    event = await events.get(timeout_s=600)
                    if event.is_terminal:
                        assert event.status is JobStatus.COMPLETED, event.error_message
                        finished += 1

        makespan, lag, peak = await measured(work)
    return makespan, lag, peak, baseline


async def bare_run(base_url: str, jobs: int) -> tuple[float, float]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-no-key-required", timeout=60, max_retries=2)
    gate = asyncio.Semaphore(jobs)

    async def one_job(i: int) -> None:
        async with gate:
            for step in range(CALLS_PER_JOB):
                await client.chat.completions.create(
                    model="bench",
                    messages=[{"role": "user", "content": f"{NARRATIVE} (variant {i}, step {step})"}],
                )

    async def work() -> None:
        await asyncio.gather(*(one_job(i) for i in range(jobs)))

    try:
        makespan, lag, _ = await measured(work)
    finally:
        await client.close()
    return makespan, lag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--delay-s", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "_openai_server.py"), str(args.delay_s)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        bare: list[tuple[float, float]] = []
        engine: list[tuple[float, float, float, float]] = []
        for _ in range(args.repeats):  # interleaved, so drift in the machine hits both sides alike
            bare.append(asyncio.run(bare_run(base_url, args.jobs)))
            with tempfile.TemporaryDirectory() as tmp:
                engine.append(asyncio.run(engine_run(base_url, args.jobs, Path(tmp))))
        bare_s, bare_lag = median([b[0] for b in bare]), median([b[1] for b in bare])
        engine_s, engine_lag = median([e[0] for e in engine]), median([e[1] for e in engine])
        peak, baseline = max(e[2] for e in engine), min(e[3] for e in engine)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)

    ratio = engine_s / bare_s
    per_job_kb = max(0.0, peak - baseline) * 1024 / args.jobs
    write_results(
        "llm_concurrency",
        {
            "jobs": args.jobs,
            "repeats": args.repeats,
            "calls": args.jobs * CALLS_PER_JOB,
            "delay_s": args.delay_s,
            "engine_makespan_s": round(engine_s, 3),
            "bare_makespan_s": round(bare_s, 3),
            "ratio_vs_bare": round(ratio, 3),
            "engine_loop_lag_p99_ms": round(engine_lag, 1),
            "bare_loop_lag_p99_ms": round(bare_lag, 1),
            "peak_rss_per_inflight_job_kb": round(per_job_kb, 1),
        },
    )
    print(f"{args.jobs} jobs x {CALLS_PER_JOB} calls, server delay {args.delay_s} s")
    print(f"engine makespan {engine_s:.2f} s, loop lag p99 {engine_lag:.1f} ms")
    print(f"bare gather     {bare_s:.2f} s, loop lag p99 {bare_lag:.1f} ms")
    print(f"peak RSS per in-flight job {per_job_kb:.0f} KB")
    print(f"ratio_vs_bare={ratio:.3f} loop_lag_p99_ms={engine_lag:.1f}")


if __name__ == "__main__":
    main()
