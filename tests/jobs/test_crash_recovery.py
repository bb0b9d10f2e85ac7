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


async def run_child_until_blocked(db_path: Path, counter: Path, max_attempts: int) -> str:
    """Start the child, wait until it is blocked inside step 3, SIGKILL it; returns the job id."""
    env = {**os.environ, "LPE_TEST_BLOCK_AT": "3", "PYTHONPATH": str(REPO)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.jobs.crash_child", str(db_path), str(counter), str(max_attempts),
        stdout=asyncio.subprocess.PIPE, cwd=REPO, env=env,
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


async def test_killed_job_with_no_attempts_left_fails_as_interrupted(db_path: Path) -> None:
    counter = db_path.parent / "counter.txt"
    job_id = await run_child_until_blocked(db_path, counter, max_attempts=1)

    async with JobManager.open(db_path, registry=build_registry(Probe()), settings=FAST) as manager:
        job = await manager.get(job_id)
        counts = await manager.counts()

    assert job.status is JobStatus.FAILED
    assert job.error_message is not None and job.error_message.startswith("interrupted")
    assert counts[JobStatus.RUNNING] == 0
    assert counter.read_text().split() == ["step1", "step2"]
