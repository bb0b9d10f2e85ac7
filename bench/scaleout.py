"""Scale-out on PostgreSQL: LLM-bound jobs run by 1, 2 and 4 ``python -m lpe_nb worker`` processes.

A loopback OpenAI-compatible server (its own process) answers every call after ``--delay-s`` (1 s), so a
translation job (four LLM calls in a row) takes about 4 s whoever runs it, and a worker runs
``--concurrency`` at a time: the makespan of ``--jobs`` jobs is set by how many workers share them. For
each worker count, in a fresh schema: start the workers, wait for their heartbeat rows, submit the jobs
from this process (an engine with ``dispatch=False``, as a Jupyter server with ``dispatch = "never"``
would), and time from the first submit to the last completion, seen through this process's event
relay. Every progress event that crosses from a worker to this process is timed too (its report's
timestamp to its arrival here; one machine, one clock): ``event_p99_ms``. Then, with two workers,
``--cancels`` jobs are cancelled from this process as soon as each runs on a worker: the time from the
cancel to its ``cancelled`` status arriving here is ``cancel_ms`` (relayed by NOTIFY to the worker, the
LLM call interrupted, the outcome committed and relayed back).

    python bench/scaleout.py [--db-url postgresql://...] [--jobs 64] [--concurrency 8] [--delay-s 1.0]
                             [--stages]

``--stages`` also times each relayed progress event's way through the relay, stage by stage (wall clock,
one machine): reported -> queued for the worker's publisher -> its NOTIFY sent -> NOTIFY returned ->
received by this process's listener -> delivered on its bus -> read by the subscriber here; it prints each
stage's p50/p99 and what the slowest 1 % spent where, with the garbage collector's pauses. The workers then
run as ``bench/_traced_worker.py`` (the same worker, its relay traced); without the
flag nothing is traced.

Without ``--db-url`` (or ``$LPE_DB_URL``) it starts a throwaway PostgreSQL (``initdb`` + ``pg_ctl`` on a
free loopback port, as the tests do) and stops it at the end. Targets (issue 13): scale_2 >= 1.8,
scale_4 >= 3.2, cancel p95 <= 100 ms, event p99 <= 20 ms.

Last line: ``scale_2=<x> scale_4=<y> cancel_p95_ms=<z> event_p99_ms=<w>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import write_results  # noqa: E402
from bench._relay_stages import StageTrace  # noqa: E402
from lpe_nb.embedded import Engine, open_engine  # noqa: E402
from lpe_nb.jobs import JobStatus  # noqa: E402
from lpe_nb.jobs.events import Subscription  # noqa: E402
from lpe_nb.llm import MockLLM  # noqa: E402
from lpe_nb.testing.postgres import ThrowawayPostgres, create_schema, drop_schema  # noqa: E402

TEXT = "The lighthouse keeper counted the ships that passed, and wrote each name in a blue notebook."


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, max(0, round(q / 100 * len(ranked) + 0.5) - 1))]


@contextlib.contextmanager
def llm_server(delay_s: float) -> Iterator[str]:
    """The loopback OpenAI-compatible server in its own process; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "_openai_server.py"), str(delay_s)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(10)


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    """``url``'s database, or a throwaway server's ``postgres`` database, for the run."""
    if url:
        yield url
        return
    with ThrowawayPostgres() as server:
        yield server.url


def start_workers(
    count: int, url: str, base_url: str, concurrency: int, trace: StageTrace | None = None
) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LPE_LLM_PROVIDER": "openai",
        "LPE_LLM_BASE_URL": base_url,
        "LPE_LLM_API_KEY": "sk-bench",
        "LPE_LLM_CONCURRENCY": str(concurrency),
        "LPE_LLM_MAX_RETRIES": "0",
        "LPE_LLM_CACHE": "0",  # every job's calls are made: what is measured is the scale-out
    }
    arguments = ["worker", "--db-url", url, "--types", "translation", "--concurrency", str(concurrency)]
    return [
        subprocess.Popen(
            [
                *([sys.executable, "-m", "lpe_nb"] if trace is None else trace.worker_command()),
                *arguments,
                *("--shutdown-grace", "1"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


async def wait_for_workers(engine: Engine, count: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(await engine.manager.workers()) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} worker(s) did not start within {timeout_s} s")
        await asyncio.sleep(0.1)  # polling other processes' heartbeat rows: nothing to await


def latency_ms(timestamp: str) -> float | None:
    if not timestamp:
        return None
    sent = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    return (time.time() - sent) * 1000.0


async def until_terminal(
    sub: Subscription, submitted: asyncio.Future[list[str]], latencies: list[float], trace: StageTrace | None
) -> dict[str, float]:
    """Read ``sub`` until every job ``submitted`` gives ended; when each ended (monotonic). It reads while
    the jobs are still being submitted: the first jobs run (and report) before the last is queued, and
    their events are timed as they arrive, not once this process is done submitting."""
    ended: dict[str, float] = {}
    # A job ends seconds after its submit returned, so the last terminal event comes after ``submitted``.
    while not (submitted.done() and set(submitted.result()) <= ended.keys()):
        event = await sub.get(timeout_s=120)
        if event.progress is not None and not event.snapshot:
            latency = latency_ms(event.progress.timestamp)
            if latency is not None:
                latencies.append(latency)
                if trace is not None:
                    trace.read(event)
        if event.is_terminal:
            ended[event.job_id] = time.monotonic()
    return ended


def children_cpu_s() -> float:
    """CPU seconds (user + system) of the child processes that have ended: the workers and the LLM server."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def makespan(
    url: str, base_url: str, workers: int, jobs: int, concurrency: int, trace: StageTrace | None
) -> tuple[float, list[float]]:
    processes = start_workers(workers, url, base_url, concurrency, trace)
    try:
        async with open_engine(db_url=url, dispatch=False, llm=MockLLM()) as engine:
            await wait_for_workers(engine, workers)
            latencies: list[float] = []
            with engine.manager.events.subscribe(None, max_pending=100_000) as sub:
                started = time.monotonic()
                submits = (
                    engine.submit("translation", text=f"{TEXT} ({i})", intermediate_language="french")
                    for i in range(jobs)
                )
                submitted = asyncio.ensure_future(asyncio.gather(*submits))
                ended = await until_terminal(sub, submitted, latencies, trace)
                ids = set(submitted.result())
                ended = {job_id: ended[job_id] for job_id in ids}
            statuses = [(await engine.manager.get(job_id)).status for job_id in ids]
            if any(status is not JobStatus.COMPLETED for status in statuses):
                raise RuntimeError(f"not every job completed: {statuses}")
            return max(ended.values()) - started, latencies
    finally:
        stop_workers(processes)


async def cancels(url: str, base_url: str, count: int, concurrency: int) -> list[float]:
    processes = start_workers(2, url, base_url, concurrency)
    try:
        async with open_engine(db_url=url, dispatch=False, llm=MockLLM()) as engine:
            await wait_for_workers(engine, 2)
            times: list[float] = []
            with engine.manager.events.subscribe(None, max_pending=100_000) as sub:
                for i in range(count):
                    job_id = await engine.submit(
                        "translation", text=f"{TEXT} [{i}]", intermediate_language="german"
                    )
                    while True:  # until a worker claimed it
                        event = await sub.get(timeout_s=60)
                        if event.job_id == job_id and event.status is JobStatus.RUNNING:
                            break
                    asked = time.monotonic()
                    await engine.manager.cancel(job_id)
                    while True:
                        event = await sub.get(timeout_s=60)
                        if event.job_id == job_id and event.status is JobStatus.CANCELLED:
                            times.append((time.monotonic() - asked) * 1000.0)
                            break
            return times
    finally:
        stop_workers(processes)


async def main(args: argparse.Namespace) -> str:
    load_before = os.getloadavg()[0]
    trace = StageTrace() if args.stages else None
    if trace is not None:
        trace.install()
    with llm_server(args.delay_s) as base_url, database(args.db_url) as server_url:
        spans: dict[int, float] = {}
        cpu_ms_per_job: dict[int, float] = {}
        latencies: list[float] = []
        for workers in (1, 2, 4):
            schema = f"lpe_bench_{uuid.uuid4().hex[:8]}"
            url = create_schema(server_url, schema)
            cpu_before = children_cpu_s()
            try:
                spans[workers], seen = await makespan(
                    url, base_url, workers, args.jobs, args.concurrency, trace
                )
                latencies += seen
            finally:
                drop_schema(server_url, schema)
            cpu_ms_per_job[workers] = (children_cpu_s() - cpu_before) * 1000.0 / args.jobs
            print(
                f"{workers} worker(s): {args.jobs} jobs in {spans[workers]:.2f} s; the workers' CPU "
                f"{cpu_ms_per_job[workers]:.0f} ms per job (start and stop included)",
                flush=True,
            )
        schema = f"lpe_bench_{uuid.uuid4().hex[:8]}"
        url = create_schema(server_url, schema)
        try:
            cancel_ms = await cancels(url, base_url, args.cancels, args.concurrency)
        finally:
            drop_schema(server_url, schema)
    figures = {
        "jobs": args.jobs, "concurrency": args.concurrency, "delay_s": args.delay_s,
        "makespan_s": {str(k): round(v, 3) for k, v in spans.items()},
        "scale_2": round(spans[1] / spans[2], 2), "scale_4": round(spans[1] / spans[4], 2),
        "worker_cpu_ms_per_job": {str(k): round(v, 1) for k, v in cpu_ms_per_job.items()},
        "events": len(latencies),
        "event_p50_ms": round(percentile(latencies, 50), 2), "event_p99_ms": round(percentile(latencies, 99), 2),
        "cancels": len(cancel_ms),
        "cancel_p50_ms": round(percentile(cancel_ms, 50), 1), "cancel_p95_ms": round(percentile(cancel_ms, 95), 1),
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
    }  # fmt: skip
    if trace is not None:
        trace.uninstall()
        print("\n".join(trace.report()))
    path = write_results("scaleout", figures)
    print(f"events relayed: {len(latencies)}, p50 {figures['event_p50_ms']} ms; cancels: p50 "
          f"{figures['cancel_p50_ms']} ms; load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}; "
          f"written to {path.relative_to(ROOT)}")  # fmt: skip
    return (
        f"scale_2={figures['scale_2']} scale_4={figures['scale_4']} "
        f"cancel_p95_ms={figures['cancel_p95_ms']} event_p99_ms={figures['event_p99_ms']}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=os.environ.get("LPE_DB_URL") or None)
    parser.add_argument("--jobs", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8, help="jobs per worker at once")
    parser.add_argument("--delay-s", type=float, default=1.0)
    parser.add_argument("--cancels", type=int, default=20)
    parser.add_argument("--stages", action="store_true", help="time each relayed event's stages")
    print(asyncio.run(main(parser.parse_args())))
