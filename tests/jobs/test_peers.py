"""Several managers on one SQLite file: one dispatches, the others are peers with live events, and a peer
takes the role over when the dispatcher goes (issue 14)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from lpe_nb.errors import DispatcherBusy, InvalidInput
from lpe_nb.jobs import (
    JobEvent,
    JobManager,
    JobStatus,
    ManagerSettings,
    OperationRegistry,
    StepContext,
    open_store,
)
from lpe_nb.jobs.events import Subscription
from tests.jobs.conftest import FAST
from tests.jobs.ops import Probe, build_registry

REPO = Path(__file__).resolve().parents[2]

# The dispatcher looks for work and heartbeats rarely here, so only the change feed explains a fast reaction.
SLOW_POLLS = replace(FAST, poll_interval_s=5.0, lease_s=30.0)


async def events_until(
    sub: Subscription, done: Callable[[JobEvent], bool], timeout_s: float = 10
) -> list[JobEvent]:
    """Every event ``sub`` delivers up to and including the first for which ``done`` is true."""
    seen: list[JobEvent] = []

    async def collect() -> list[JobEvent]:
        while True:
            event = await sub.get()
            seen.append(event)
            if done(event):
                return seen

    return await asyncio.wait_for(collect(), timeout_s)


def at_step(name: str) -> Callable[[JobEvent], bool]:
    return lambda event: event.progress is not None and event.progress.current_step == name


def stepwise_registry(probe: Probe, gates: list[asyncio.Event]) -> OperationRegistry:
    """The test operations plus ``stepwise``: reports step k of n, then waits for ``gates[k]``."""
    registry = build_registry(probe)

    async def stepwise(ctx: StepContext, data: dict[str, int]) -> dict[str, int]:
        total = data["steps"]
        for index in range(total):
            ctx.report(f"step {index + 1}", completed_steps=index, total_steps=total)
            await gates[index].wait()
        return {"steps": total}

    registry.register("stepwise", stepwise)
    return registry


async def test_a_peer_sees_a_job_the_dispatcher_runs_move_live_in_seq_order(db_path: Path) -> None:
    probe, gates = Probe(), [asyncio.Event() for _ in range(3)]
    registry = stepwise_registry(probe, gates)
    async with (
        JobManager.open(db_path, registry=registry, settings=FAST) as dispatcher,
        JobManager.open(db_path, registry=registry, settings=FAST, dispatch="auto") as peer,
    ):
        assert (dispatcher.is_dispatching, peer.is_dispatching) == (True, False)
        job_id = await peer.submit("stepwise", {"steps": 3})
        with await peer.subscribe([job_id]) as sub:
            seen = await events_until(sub, at_step("step 1"))
            for index in (1, 2):
                gates[index - 1].set()  # the job reports the next step only now: this event is live
                seen += await events_until(sub, at_step(f"step {index + 1}"))
            gates[2].set()
            seen += await events_until(sub, lambda e: e.is_terminal)
        assert dispatcher.running_job_ids == [] and peer.running_job_ids == []  # the dispatcher ran it

    live = [e for e in seen if not e.snapshot]
    assert [e.seq for e in live] == sorted({e.seq for e in live})  # increasing, none twice
    statuses = [e.status for e in live if e.kind == "status"]
    assert statuses[-1] is JobStatus.COMPLETED and JobStatus.COMPLETED not in statuses[:-1]
    steps = [e.progress.current_step for e in live if e.progress is not None]
    where = [steps.index(step) for step in ("step 2", "step 3", "completed")]  # each seen, in order
    assert where == sorted(where)


async def test_a_job_submitted_on_a_peer_starts_without_waiting_for_the_dispatchers_poll(
    db_path: Path, probe: Probe
) -> None:
    async with (
        JobManager.open(db_path, registry=build_registry(probe), settings=SLOW_POLLS) as dispatcher,
        JobManager.open(
            db_path, registry=build_registry(probe), settings=SLOW_POLLS, dispatch="auto"
        ) as peer,
    ):
        loop = asyncio.get_running_loop()
        submitted_at = loop.time()
        await peer.submit("gated", {"name": "from the peer"})
        await probe.until(lambda: probe.in_flight == 1, timeout_s=2)  # not poll_interval_s = 5 s
        started_after_s = loop.time() - submitted_at
        probe.release.set()
        assert dispatcher.is_dispatching
    assert started_after_s < 1.0, started_after_s


async def test_a_cancel_on_a_peer_stops_the_running_job_within_a_change_poll(
    db_path: Path, probe: Probe
) -> None:
    async with (
        JobManager.open(db_path, registry=build_registry(probe), settings=SLOW_POLLS),
        JobManager.open(
            db_path, registry=build_registry(probe), settings=SLOW_POLLS, dispatch="auto"
        ) as peer,
    ):
        job_id = await peer.submit("gated", {"name": "victim"})
        await probe.until(lambda: probe.in_flight == 1)
        loop = asyncio.get_running_loop()
        asked_at = loop.time()
        await peer.cancel(job_id)  # the heartbeat is 10 s away: only the change feed can deliver it soon
        job = await peer.wait(job_id, timeout_s=3)
        took_s = loop.time() - asked_at
    assert job.status is JobStatus.CANCELLED
    assert probe.finally_ran == ["victim"] and probe.runs["victim"] == 1
    assert took_s < 1.5, took_s


async def test_a_peer_sees_a_pending_job_cancelled_by_another_peer(db_path: Path, probe: Probe) -> None:
    settings = replace(FAST, concurrency=1)
    async with (
        JobManager.open(db_path, registry=build_registry(probe), settings=settings),
        JobManager.open(db_path, registry=build_registry(probe), dispatch=False) as canceller,
        JobManager.open(db_path, registry=build_registry(probe), dispatch=False) as watcher,
    ):
        await canceller.submit("gated", {"name": "blocker"})
        await probe.until(lambda: probe.in_flight == 1)
        queued = await canceller.submit("gated", {"name": "queued"})
        with await watcher.subscribe([queued]) as sub:
            assert (await sub.get(timeout_s=5)).status is JobStatus.PENDING  # the snapshot
            await canceller.cancel(queued)
            events = await events_until(sub, lambda e: e.is_terminal, timeout_s=5)
        probe.release.set()
    assert events[-1].status is JobStatus.CANCELLED


async def test_a_peer_takes_over_when_the_dispatcher_stops_and_runs_its_jobs(
    db_path: Path, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lpe_nb.jobs.manager")
    async with open_store(db_path) as first_store, open_store(db_path) as second_store:
        dispatcher = JobManager(first_store, build_registry(probe), settings=FAST)
        peer = JobManager(second_store, build_registry(probe), settings=FAST, dispatch="auto")
        await dispatcher.start()
        try:
            await peer.start()
            assert not peer.is_dispatching
            job_id = await peer.submit("gated", {"name": "moved"})
            await probe.until(lambda: probe.in_flight == 1)
            assert dispatcher.running_job_ids == [job_id]
            await dispatcher.stop()  # the job goes back to the queue, and the peer takes the role
            await probe.until(lambda: probe.in_flight == 1, timeout_s=5)  # the peer runs it again
            assert peer.is_dispatching and peer.running_job_ids == [job_id]
            probe.release.set()
            job = await peer.wait(job_id, timeout_s=10)
        finally:
            await peer.stop()
            await dispatcher.stop()
    assert job.status is JobStatus.COMPLETED
    assert probe.runs["moved"] == 2
    assert any("took over dispatching" in r.getMessage() for r in caplog.records)


async def test_dispatch_modes_keep_their_meaning(db_path: Path, probe: Probe) -> None:
    async with JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as dispatcher:
        async with JobManager.open(db_path, registry=build_registry(probe), dispatch=False) as never:
            with pytest.raises(DispatcherBusy):
                async with JobManager.open(db_path, registry=build_registry(probe), dispatch=True):
                    pass
            assert (never.dispatch, never.is_dispatching) == (False, False)
        assert dispatcher.dispatch is True
    with pytest.raises(InvalidInput, match="dispatch"):
        JobManager(dispatcher.store, dispatch="sometimes")  # type: ignore[arg-type]  # the point


async def test_a_dispatch_false_manager_never_takes_over(db_path: Path, probe: Probe) -> None:
    probe.release.set()
    async with JobManager.open(
        db_path, registry=build_registry(probe), settings=FAST, dispatch=False
    ) as never:
        job_id = await never.submit("gated", {"name": "waits"})
        with pytest.raises(TimeoutError):
            await never.wait(job_id, timeout_s=3 * FAST.poll_interval_s)
        assert not never.is_dispatching and probe.runs == {}


# -- a dispatching process killed with SIGKILL --------------------------------------------------------------


@pytest.mark.slow
async def test_a_peer_takes_over_the_job_of_a_killed_dispatcher_from_its_last_step(db_path: Path) -> None:
    counter = db_path.parent / "counter.txt"
    env = {**os.environ, "LPE_TEST_BLOCK_AT": "3", "PYTHONPATH": str(REPO)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.jobs.crash_child", str(db_path), str(counter), "3",
        stdout=asyncio.subprocess.PIPE, cwd=REPO, env=env,
    )  # fmt: skip
    assert child.stdout is not None
    try:
        job_id = (await asyncio.wait_for(child.stdout.readline(), 30)).decode().strip()
        settings = ManagerSettings(poll_interval_s=0.2, progress_persist_interval_s=0.2, lease_s=2.0)
        async with JobManager.open(
            db_path, registry=build_registry(Probe()), settings=settings, dispatch="auto"
        ) as peer:
            assert not peer.is_dispatching
            with await peer.subscribe([job_id]) as sub:
                # The child persists progress about once a second: the peer sees it reach step 3.
                before = await events_until(sub, at_step("step3"), 30)
                assert (await asyncio.wait_for(child.stdout.readline(), 30)).decode().strip() == "BLOCKED"
                child.send_signal(signal.SIGKILL)
                await child.wait()
                after = await events_until(sub, lambda e: e.is_terminal, 30)
            assert peer.is_dispatching
            steps = await peer.store.get_steps(job_id)
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
            await child.wait()

    assert child.returncode == -signal.SIGKILL
    assert any(e.status is JobStatus.RUNNING for e in before)
    assert after[-1].status is JobStatus.COMPLETED
    statuses = [e.status for e in after if e.kind == "status"]
    assert JobStatus.PENDING in statuses  # recovered, then claimed again by the peer
    assert counter.read_text().split() == ["step1", "step2", "step3", "step4"]  # none ran twice
    assert [(s.name, s.attempt) for s in steps] == [("step1", 1), ("step2", 1), ("step3", 2), ("step4", 2)]
