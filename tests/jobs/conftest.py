from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lpe_nb.jobs import JobManager, JobStore, ManagerSettings
from tests.jobs.ops import Probe, build_registry

FAST = ManagerSettings(
    concurrency=4,
    lease_s=1.5,
    poll_interval_s=0.2,
    progress_persist_interval_s=0.2,
    shutdown_grace_s=0.5,
)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[JobStore]:
    async with JobStore(db_path) as store:
        yield store


@pytest.fixture
async def manager(db_path: Path, probe: Probe) -> AsyncIterator[JobManager]:
    probe.release.set()  # tests that need a gate clear it themselves
    async with JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as manager:
        yield manager
