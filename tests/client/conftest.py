"""Clients under test: an AsyncClient of a real Jupyter server (pytest-jupyter, the fixtures of
tests/server_ext/conftest.py, same loop as the test) and one of an embedded engine on a temporary file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from lpe_nb.client import AsyncClient
from lpe_nb.llm.mock import MockLLM
from lpe_nb.server_ext.engine import ServerEngine
from tests.server_ext.conftest import *  # noqa: F403  # the jp_* fixtures, engine, mock_latency_s...
from tests.server_ext.conftest import _running_loop  # noqa: F401  # jp_asyncio_loop depends on it


@pytest_asyncio.fixture
async def server_url(
    jp_http_port: int, jp_base_url: str, engine: ServerEngine, http_server_client: Any
) -> str:
    """The server's URL with its base_url (pytest-jupyter's is ``/a%40b/``, not ``/``); the
    ``http_server_client`` fixture is what makes the server listen on ``jp_http_port``."""
    return f"http://localhost:{jp_http_port}{jp_base_url}"


@pytest_asyncio.fixture
async def server_token(jp_serverapp: Any) -> str:
    token: str = jp_serverapp.identity_provider.token
    return token


@pytest_asyncio.fixture
async def remote_client(server_url: str, server_token: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient.remote(server_url, server_token) as client:
        yield client


@pytest_asyncio.fixture
async def embedded_client(tmp_path: Path, mock_latency_s: float) -> AsyncIterator[AsyncClient]:
    async with await AsyncClient.embedded(tmp_path / "embedded.db", llm=MockLLM(mock_latency_s)) as client:
        yield client
