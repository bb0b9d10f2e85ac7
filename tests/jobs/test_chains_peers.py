"""Chains across managers on one database: a peer sees a dependent's wait move and end through the
database, and the dispatcher claims a released dependent at once (not at its next poll)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lpe_nb.jobs import JobManager, JobStatus
from tests.jobs.conftest import FAST
from tests.jobs.ops import Probe, build_registry
from tests.jobs.test_peers import events_until


async def test_a_peer_sees_a_dependents_wait_move_then_end_with_its_parents(
    db_path: Path, probe: Probe
) -> None:
    async with (
        JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as dispatcher,
        JobManager.open(db_path, registry=build_registry(probe), dispatch=False) as peer,
    ):
        first = await peer.submit("gated", {"name": "first"}, title="the first parent")
        second = await peer.submit("noop", {}, title="the second parent", delay_s=3600)
        child = await peer.submit("noop", {}, depends_on=[first, second])
        with await peer.subscribe([child]) as sub:
            events = await events_until(sub, lambda e: e.kind == "progress", timeout_s=5)  # the snapshot
            assert events[-1].progress is not None
            assert events[-1].progress.current_step == "waiting for the first parent and 1 more"
            await probe.until(lambda: probe.in_flight == 1)
            probe.release.set()  # the dispatcher completes the first parent: the child waits for one
            # the peer hears the child's wait move, through the file
            moved = await events_until(
                sub, lambda e: e.progress is not None and "second" in e.progress.current_step, timeout_s=5
            )
            assert moved[-1].progress is not None
            assert moved[-1].progress.current_step == "waiting for the second parent"
            assert (await peer.get(child)).waiting_on == 1
            await dispatcher.cancel(second)  # in the dispatcher's process: the peer learns it from the file
            ended = await events_until(sub, lambda e: e.is_terminal, timeout_s=5)
        assert ended[-1].status is JobStatus.CANCELLED
        assert second in (ended[-1].error_message or "") and "was cancelled" in (
            ended[-1].error_message or ""
        )
        assert (await peer.get(child)).waiting_on is None


async def test_a_released_dependent_is_claimed_at_once(db_path: Path, probe: Probe) -> None:
    settings = replace(FAST, poll_interval_s=30.0)  # no poll will find it: only the release's wake-up
    async with JobManager.open(db_path, registry=build_registry(probe), settings=settings) as manager:
        parent = await manager.submit("gated", {"name": "parent"})
        child = await manager.submit("noop", {}, depends_on=[parent])
        await probe.until(lambda: probe.in_flight == 1)
        probe.release.set()
        done = await manager.wait(child, timeout_s=5)
        parent_done = await manager.get(parent)
    assert done.status is JobStatus.COMPLETED
    assert done.started_at is not None and parent_done.completed_at is not None
    assert done.started_at >= parent_done.completed_at
