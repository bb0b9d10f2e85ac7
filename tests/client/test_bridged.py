"""``aconnect()`` without a server: the client contract over the engine ``connect()`` shares, and the two
working side by side on one database in one process (one dispatcher, whoever came first)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

import lpe_nb
from lpe_nb.client import AsyncClient
from lpe_nb.jobs import JobStatus
from tests.client.contract import *  # noqa: F403  # the contract tests
from tests.client.contract import NARRATIVE, WAIT_S


@pytest.fixture
def mock_latency_s() -> float:
    return 0.0


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mock_latency_s: float) -> Path:
    monkeypatch.setenv("LPE_LLM_PROVIDER", "mock")
    monkeypatch.setenv("LPE_MOCK_LATENCY_S", str(mock_latency_s))
    return tmp_path / "bridged.db"


@pytest_asyncio.fixture
async def client(db_path: Path) -> AsyncIterator[AsyncClient]:
    async with await lpe_nb.aconnect(embedded=True, db_path=db_path) as bridged:
        yield bridged


@pytest.mark.parametrize("async_first", [True, False], ids=["aconnect-first", "connect-first"])
async def test_sync_and_async_clients_share_one_engine(db_path: Path, async_first: bool) -> None:
    if async_first:
        aclient = await lpe_nb.aconnect(embedded=True, db_path=db_path)
        sync = await asyncio.to_thread(lpe_nb.connect, embedded=True, db_path=db_path)
    else:
        sync = await asyncio.to_thread(lpe_nb.connect, embedded=True, db_path=db_path)
        aclient = await lpe_nb.aconnect(embedded=True, db_path=db_path)
    try:
        job = await aclient.projection(NARRATIVE)  # no DispatcherBusy: one engine serves both
        other = await asyncio.to_thread(sync.translation, NARRATIVE, "french")
        await job.wait(timeout=WAIT_S)
        await asyncio.to_thread(other.wait, WAIT_S)
        assert {j.id for j in await aclient.jobs()} == {job.id, other.id}
    finally:
        await aclient.aclose()  # one handle closed: the other still works
        assert (await asyncio.to_thread(sync.job, job.id)).status is JobStatus.COMPLETED
        await asyncio.to_thread(sync.close)
    assert sync.closed
