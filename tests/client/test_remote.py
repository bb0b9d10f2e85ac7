"""The client contract on a real Jupyter server, plus what only a server has: tokens and dropped sockets."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

from lpe_nb.client import AsyncClient, RemoteBackend, TokenRefused
from lpe_nb.jobs import JobEvent, JobStatus
from tests.client.contract import *  # noqa: F403  # the contract tests
from tests.client.contract import NARRATIVE, WAIT_S


@pytest_asyncio.fixture
async def client(remote_client: AsyncClient) -> AsyncClient:
    return remote_client


async def test_a_wrong_token_is_refused_with_a_clear_error(server_url: str) -> None:
    async with AsyncClient.remote(server_url, "not-the-token") as client:
        with pytest.raises(TokenRefused, match="refused the token"):
            await client.catalog()
        with pytest.raises(TokenRefused):
            await client.events("any-id").__anext__()


@pytest.mark.parametrize("mock_latency_s", [0.1])
async def test_a_dropped_websocket_resumes_without_duplicates(client: AsyncClient) -> None:
    backend = client.backend
    assert isinstance(backend, RemoteBackend)
    job = await client.projection(NARRATIVE)
    events: list[JobEvent] = []
    dropped = 0

    async def collect() -> None:
        nonlocal dropped
        async for event in job.events():
            events.append(event)
            if len(events) in (3, 6) and not event.is_terminal:
                for ws in list(backend._sockets):
                    ws.close()  # the client's socket drops; the next read sees it closed
                dropped += 1

    await asyncio.wait_for(collect(), WAIT_S)
    assert dropped == 2
    keys = [(e.seq, e.kind) for e in events]
    assert len(set(keys)) == len(keys), keys
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert events[-1].status is JobStatus.COMPLETED
