"""Dependency chains through the REST API of a real ``jupyter server`` subprocess with the extension,
one fresh server per test (its own database, the offline mock LLM)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from lpe_nb.client import AsyncClient
from tests.client.chain_contract import *  # noqa: F403  # the chain tests
from tests.jupyter_process import JupyterProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def mock_latency_s() -> float:
    return 0.0


@pytest_asyncio.fixture
async def client(tmp_path: Path, mock_latency_s: float) -> AsyncIterator[AsyncClient]:
    env = {"LPE_MOCK_LATENCY_S": str(mock_latency_s)}
    server = JupyterProcess(tmp_path / "server", env=env)
    await asyncio.to_thread(server.start)  # the test's loop keeps running while the server boots
    try:
        async with AsyncClient.remote(server.url, server.token) as remote:
            yield remote
    finally:
        await asyncio.to_thread(server.stop)
