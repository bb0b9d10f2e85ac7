"""Progress reports that nobody takes at once are built when read (issue 16), on a real SQLite file.

A report of a job that no subscription watches keeps only its numbers (step, counts, percentage, seq);
its details (the plan's numbering, the time left, the cache hits) and timestamp are built the first time
the progress is read (a read of the job, a watcher's snapshot, the throttled save), as they were at the
moment of the report, and only for the latest report: the ones it replaced are never built.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lpe_nb.jobs import JobManager, JobStatus, ManagerSettings, OperationRegistry, StepContext
from lpe_nb.jobs._timings import StepPlan
from lpe_nb.jobs.model import to_iso

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
# No throttled save while a test reads: that save would read (and build) the progress itself.
SETTINGS = ManagerSettings(concurrency=4, poll_interval_s=0.2, progress_persist_interval_s=3600)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Gate:
    """Where an operation waits for the test (by name), once it has said it is there."""

    reached: dict[str, asyncio.Event] = field(default_factory=dict)
    released: dict[str, asyncio.Event] = field(default_factory=dict)

    async def stop_at(self, name: str) -> None:
        self.reached.setdefault(name, asyncio.Event()).set()
        await self.released.setdefault(name, asyncio.Event()).wait()

    async def until(self, name: str) -> None:
        await asyncio.wait_for(self.reached.setdefault(name, asyncio.Event()).wait(), 10)

    def release(self, name: str) -> None:
        self.released.setdefault(name, asyncio.Event()).set()

    def release_all(self) -> None:
        for name in self.reached:
            self.release(name)


def registry_for(gate: Gate) -> OperationRegistry:
    registry = OperationRegistry()

    async def planned(ctx: StepContext, data: Any) -> None:
        await ctx.plan(["a", "b"])
        if data.get("gated"):
            await gate.stop_at(f"start {ctx.job_id}")
        for i in range(data["reports"]):
            ctx.report(f"report {i}", details={"i": i})
        await gate.stop_at(f"reported {ctx.job_id}")

    async def unplanned(ctx: StepContext, data: Any) -> None:
        ctx.report("three of four", completed_steps=3, total_steps=4)
        ctx.report("back to one", completed_steps=1, total_steps=4)
        await gate.stop_at("reported")

    async def cached(ctx: StepContext, data: Any) -> None:
        await ctx.plan(["a", "b"])
        ctx.report("before a")

        async def work() -> str:
            ctx.record_llm_call(cached=True)
            ctx.record_llm_call(cached=True)
            await gate.stop_at("in a")
            return "a's output"

        await ctx.run_step("a", work)
        ctx.report("after a")
        await gate.stop_at("after a")

    async def many_hits(ctx: StepContext, data: Any) -> None:
        await ctx.plan(["a"])
        ctx.report("before a")

        async def work() -> str:
            for _ in range(data["hits"]):
                ctx.record_llm_call(cached=True)
            await gate.stop_at("hit")
            return "a's output"

        await ctx.run_step("a", work)

    for name, run in (
        ("planned", planned),
        ("unplanned", unplanned),
        ("cached", cached),
        ("hits", many_hits),
    ):
        registry.register(name, run)
    return registry


@pytest.fixture
async def engine(db_path: Path) -> AsyncIterator[tuple[JobManager, Gate, Clock]]:
    gate, clock = Gate(), Clock()
    async with JobManager.open(
        db_path, registry=registry_for(gate), settings=SETTINGS, clock=clock
    ) as manager:
        yield manager, gate, clock
        gate.release_all()


@pytest.fixture
def estimates(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a planned report's time left was computed: once per report built."""
    calls: list[int] = []
    estimate = StepPlan.estimate

    def counted(self: StepPlan, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return estimate(self, *args, **kwargs)

    monkeypatch.setattr(StepPlan, "estimate", counted)
    return calls


async def test_reports_nobody_takes_are_built_once_when_read_as_they_were_when_made(
    engine: tuple[JobManager, Gate, Clock], estimates: list[int]
) -> None:
    manager, gate, clock = engine
    job_id = await manager.submit("planned", {"reports": 50})
    await gate.until(f"reported {job_id}")
    assert estimates == []  # 50 reports, none built: nobody took them
    clock.now = START + timedelta(minutes=5)  # read later: the report keeps its own time
    job = await manager.get(job_id)
    progress = job.progress
    assert (progress.current_step, progress.seq, job.seq) == ("report 49", job.seq, job.seq)
    assert progress.timestamp == to_iso(START)
    assert progress.details["i"] == 49 and (progress.details["index"], progress.details["of"]) == (1, 2)
    assert {"eta_s", "eta_rest_s", "estimated_total_s"} <= progress.details.keys()
    assert estimates == [1]  # the latest only
    assert (await manager.get(job_id)).progress is progress  # built once
    assert estimates == [1]


async def test_a_watcher_gets_each_report_built_as_a_read_builds_a_deferred_one(
    engine: tuple[JobManager, Gate, Clock],
) -> None:
    manager, gate, _clock = engine
    watched = await manager.submit("planned", {"reports": 3, "gated": True})
    await gate.until(f"start {watched}")
    with await manager.subscribe([watched]) as sub:
        gate.release(f"start {watched}")
        latest = None
        while latest is None or latest.current_step != "report 2":  # reports coalesce in a subscription
            event = await sub.get(timeout_s=10)
            if event.progress is not None and not event.snapshot:
                latest = event.progress
    unwatched = await manager.submit("planned", {"reports": 3})
    await gate.until(f"reported {unwatched}")
    read = (await manager.get(unwatched)).progress
    assert read.details == latest.details and read.details["i"] == 2
    assert (read.current_step, read.percentage, read.timestamp) == ("report 2", 0.0, latest.timestamp)


async def test_a_deferred_report_keeps_the_percentage_from_going_down(
    engine: tuple[JobManager, Gate, Clock],
) -> None:
    manager, gate, _clock = engine
    job_id = await manager.submit("unplanned")
    await gate.until("reported")
    progress = (await manager.get(job_id)).progress
    assert (progress.current_step, progress.completed_steps, progress.percentage) == ("back to one", 3, 75.0)


async def test_cache_hits_reported_while_nobody_watches_show_when_read(
    engine: tuple[JobManager, Gate, Clock],
) -> None:
    manager, gate, clock = engine
    job_id = await manager.submit("cached")
    await gate.until("in a")
    during = (await manager.get(job_id)).progress
    assert (during.current_step, during.details["cache_hits"]) == ("before a", 2)
    assert during.timestamp == to_iso(START)
    clock.now = START + timedelta(seconds=30)
    gate.release("in a")
    await gate.until("after a")
    after = (await manager.get(job_id)).progress
    assert (after.current_step, after.details["cache_hits"], after.percentage) == ("after a", 2, 50.0)
    assert after.timestamp == to_iso(clock.now)
    gate.release("after a")
    job = await manager.wait(job_id, timeout_s=10)
    assert job.status is JobStatus.COMPLETED


async def test_thousands_of_cache_hits_nobody_reads_build_in_one_step_when_read(
    engine: tuple[JobManager, Gate, Clock],
) -> None:
    manager, gate, _clock = engine
    job_id = await manager.submit("hits", {"hits": 5000})
    await gate.until("hit")
    progress = (await manager.get(job_id)).progress  # not 5000 nested builds: no RecursionError
    assert (progress.current_step, progress.details["cache_hits"]) == ("before a", 5000)
    assert progress.seq == (await manager.get(job_id)).seq
