from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lpe_nb.jobs import JobManager, JobStore, ManagerSettings, SqliteJobStore, open_store
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


# Every store backend the contract suite (test_store_contract.py) proves. A new backend adds its name here
# and, in `store_url`, where a fresh empty database of it is.
STORE_BACKENDS = ("sqlite", "postgres")


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What ``open_store`` takes to reach a fresh, empty database of one backend."""
    backend: str = request.param
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"  # a real file, opened through the URL parser
    if backend == "postgres":
        url: str = request.getfixturevalue("postgres_url")  # a new schema, real server (tests/conftest.py)
        return url
    raise AssertionError(f"no database for the store backend {backend!r}")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[JobStore]:
    """An open store of each backend in turn."""
    async with open_store(store_url) as store:
        yield store


@pytest.fixture
async def sqlite_store(db_path: Path) -> AsyncIterator[SqliteJobStore]:
    """An open SQLite store on ``db_path``, for what only SQLite has (file, pragmas, group commit)."""
    async with open_store(db_path) as store:
        assert isinstance(store, SqliteJobStore)
        yield store


@pytest.fixture
async def manager(db_path: Path, probe: Probe) -> AsyncIterator[JobManager]:
    probe.release.set()  # tests that need a gate clear it themselves
    async with JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as manager:
        yield manager
