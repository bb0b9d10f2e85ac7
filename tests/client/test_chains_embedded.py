"""Dependency chains through the client of an engine in this process."""

from __future__ import annotations

import pytest_asyncio

from lpe_nb.client import AsyncClient
from tests.client.chain_contract import *  # noqa: F403  # the chain tests


@pytest_asyncio.fixture
async def client(embedded_client: AsyncClient) -> AsyncClient:
    return embedded_client
