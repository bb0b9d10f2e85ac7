"""JobProgress and a form over a real Jupyter server with the extension (REST + WebSocket), for both the
async handle (watched on this loop, which also runs the server) and the sync client (its own thread)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import pytest_asyncio

from lpe_nb.client import AsyncClient, Client
from lpe_nb.errors import InvalidInput
from lpe_nb.jobs import JobStatus
from lpe_nb.server_ext.engine import ServerEngine
from lpe_nb.widgets import ConfigurationForm, JobProgress, ProjectionForm
from tests.server_ext.conftest import *  # noqa: F403  # the jp_* fixtures, engine, mock_latency_s...
from tests.server_ext.conftest import _running_loop  # noqa: F401  # jp_asyncio_loop depends on it
from tests.widgets.helpers import NARRATIVE, WAIT_S, texts


@pytest_asyncio.fixture
async def server(
    jp_http_port: int, jp_base_url: str, engine: ServerEngine, http_server_client: Any, jp_serverapp: Any
) -> tuple[str, str]:
    """The server's URL and token; ``http_server_client`` is what makes it listen on ``jp_http_port``."""
    return f"http://localhost:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token


@pytest.mark.parametrize("mock_latency_s", [0.05])
async def test_progress_of_an_async_job_on_a_server(server: tuple[str, str]) -> None:
    async with AsyncClient.remote(*server) as client:
        progress = JobProgress(await client.translation(NARRATIVE, "french"))
        assert await asyncio.to_thread(progress.wait_rendered, WAIT_S)
        assert progress.bar.bar_style == "success" and "drift" in texts(progress.result_box)


@pytest.mark.parametrize("mock_latency_s", [0.1])  # the ten-question session runs ~1 s: cancelled first
async def test_a_form_and_a_cancel_over_a_server_with_the_sync_client(server: tuple[str, str]) -> None:
    # The server runs on this loop, so every blocking sync call goes to a thread.
    client = await asyncio.to_thread(Client.remote, *server)
    try:
        form = await asyncio.to_thread(ProjectionForm, client)
        form.narrative.value, form.persona.value = NARRATIVE, "artist"
        progress = await asyncio.to_thread(form.run)
        assert progress is not None and await asyncio.to_thread(progress.wait_rendered, WAIT_S)
        assert progress.status is JobStatus.COMPLETED and progress.result["persona"] == "artist"

        slow = await asyncio.to_thread(client.maieutic, NARRATIVE, max_turns=10)
        watched = JobProgress(slow)
        await asyncio.to_thread(watched.cancel_button.click)
        assert await asyncio.to_thread(watched.wait_rendered, WAIT_S)
        assert watched.status is JobStatus.CANCELLED and watched.bar.bar_style == "warning"
    finally:
        await asyncio.to_thread(client.close)


@pytest.mark.parametrize("mock_latency_s", [0.0])
async def test_an_entry_generated_on_a_server_is_deleted_from_the_form(server: tuple[str, str]) -> None:
    client = await asyncio.to_thread(Client.remote, *server)
    try:
        form = await asyncio.to_thread(ConfigurationForm, client)
        form.attribute.value, form.brief.value = "style", "short sentences, like a telegram"
        progress = await asyncio.to_thread(form.run)
        assert progress is not None and await asyncio.to_thread(progress.wait_rendered, WAIT_S)
        name = progress.result["entry"]["name"]
        assert form.entries.value == ("style", name)
        assert await asyncio.to_thread(form.delete_entry)  # DELETE lpe/api/catalog/style/<name>
        catalog = await asyncio.to_thread(client.catalog)
        assert name not in [entry["name"] for entry in catalog["styles"]]
        with pytest.raises(InvalidInput):  # a built-in stays, over REST too (400, the same error)
            await asyncio.to_thread(client.delete_catalog_entry, "style", "poetic")
    finally:
        await asyncio.to_thread(client.close)
