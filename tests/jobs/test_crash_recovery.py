"""A child process runs the engine and is killed with SIGKILL mid-job; a fresh manager takes over."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from lpe_nb.jobs import JobManager, JobStatus
from tests.jobs.conftest import FAST
from tests.jobs.ops import Probe, build_registry

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


async def run_child_until_blocked(
    db_path: Path, counter: Path, max_attempts: int, *, block_at: int = 3, job_id: str | None = None
) -> str:
    """Start the child (on a new job, or resuming ``job_id``), wait until it is blocked inside step
    ``block_at``, SIGKILL it; returns the job id."""
    env = {**os.environ, "LPE_TEST_BLOCK_AT": str(block_at), "PYTHONPATH": str(REPO)}
    args = [str(db_path), str(counter), str(max_attempts), *([job_id] if job_id else [])]
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.jobs.crash_child", *args, stdout=asyncio.subprocess.PIPE, cwd=REPO, env=env,
    )  # fmt: skip
    assert child.stdout is not None
    try:
        job_id = (await asyncio.wait_for(child.stdout.readline(), 30)).decode().strip()
        assert (await asyncio.wait_for(child.stdout.readline(), 30)).decode().strip() == "BLOCKED"
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL
    return job_id


async def test_killed_job_resumes_from_its_last_finished_step(db_path: Path) -> None:
    counter = db_path.parent / "counter.txt"
    job_id = await run_child_until_blocked(db_path, counter, max_attempts=3)
    assert counter.read_text().split() == ["step1", "step2"]

    async with JobManager.open(db_path, registry=build_registry(Probe()), settings=FAST) as manager:
        job = await manager.wait(job_id, timeout_s=20)
        steps = await manager.store.get_steps(job_id)
        transitions = await manager.store.get_transitions(job_id)

    assert job.status is JobStatus.COMPLETED
    assert counter.read_text().split() == ["step1", "step2", "step3", "step4"]  # none ran twice
    assert [(s.name, s.attempt) for s in steps] == [("step1", 1), ("step2", 1), ("step3", 2), ("step4", 2)]
    assert job.attempts == 2
    assert [t["to_status"] for t in transitions] == ["pending", "running", "pending", "running", "completed"]
    assert "interrupted" in (transitions[2]["reason"] or "")


async def test_a_job_killed_three_times_advancing_each_time_completes(db_path: Path) -> None:
    counter = db_path.parent / "counter.txt"
    job_id = await run_child_until_blocked(db_path, counter, max_attempts=1, block_at=2)
    for block_at in (3, 4):  # each run finishes one more step before it is killed
        await run_child_until_blocked(db_path, counter, max_attempts=1, block_at=block_at, job_id=job_id)

    async with JobManager.open(db_path, registry=build_registry(Probe()), settings=FAST) as manager:
        job = await manager.wait(job_id, timeout_s=20)
        transitions = await manager.store.get_transitions(job_id)

    assert (job.status, job.max_attempts, job.attempts) == (JobStatus.COMPLETED, 1, 4)
    assert counter.read_text().split() == ["step1", "step2", "step3", "step4"]
    resumed = [
        t["reason"] for t in transitions if t["to_status"] == "pending" and t["from_status"] == "running"
    ]
    assert len(resumed) == 3
    assert all("does not count against max_attempts" in (reason or "") for reason in resumed)


async def test_a_killed_job_that_made_no_progress_uses_its_attempts_and_fails(db_path: Path) -> None:
    counter = db_path.parent / "counter.txt"
    job_id = await run_child_until_blocked(db_path, counter, max_attempts=2, block_at=1)
    await run_child_until_blocked(db_path, counter, max_attempts=2, block_at=1, job_id=job_id)

    async with JobManager.open(db_path, registry=build_registry(Probe()), settings=FAST) as manager:
        job = await manager.get(job_id)
        counts = await manager.counts()
        transitions = await manager.store.get_transitions(job_id)

    assert job.status is JobStatus.FAILED
    assert job.error_message is not None and job.error_message.startswith("interrupted")
    assert "all 2 attempt(s) are used: 2 in a row finished no step" in job.error_message
    assert "attempt 1 of 2 used" in (transitions[2]["reason"] or "")
    assert counts[JobStatus.RUNNING] == 0
    assert not counter.exists()  # no step ever finished
