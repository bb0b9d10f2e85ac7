"""Kernels started by the server inherit LPE_SERVER_URL/TOKEN, so `lpe_nb.aconnect()` there finds it."""

from __future__ import annotations

import os
from typing import Any

import lpe_nb
from lpe_nb.client import AsyncClient
from lpe_nb.server_ext.app import SERVER_TOKEN_ENV, SERVER_URL_ENV
from lpe_nb.server_ext.engine import ServerEngine


async def test_the_server_exports_its_url_and_token_and_connect_finds_it(
    jp_serverapp: Any, engine: ServerEngine, http_server_client: Any
) -> None:
    # http_server_client is what makes pytest-jupyter's server listen on its port.
    assert os.environ[SERVER_URL_ENV] == jp_serverapp.connection_url
    assert os.environ[SERVER_TOKEN_ENV] == jp_serverapp.identity_provider.token
    client: AsyncClient = await lpe_nb.aconnect()  # no arguments: what a kernel of this server does
    try:
        catalog = await client.catalog()
        job = await client.projection("The lighthouse keeper counted ships that never came.")
        await job.wait(timeout=30)
    finally:
        await client.aclose()
    # the server's catalog, as JSON: the built-in entries of each kind and the defaults
    assert sorted(catalog) == ["defaults", "languages", "namespaces", "personas", "styles"]
    personas = {entry["name"]: entry for entry in catalog["personas"]}
    assert {"neutral", "critic", "storyteller"} <= set(personas)
    assert personas["critic"]["kind"] == "persona" and personas["critic"]["builtin"] is True
    assert catalog["defaults"] == {"persona": "neutral", "namespace": "lamish-galaxy", "style": "standard"}
    assert (await (await engine.ready()).manager.get(job.id)).status.value == "completed"


async def test_stopping_the_extension_restores_the_environment(
    jp_serverapp: Any, engine: ServerEngine
) -> None:
    await jp_serverapp.extension_manager.stop_all_extensions()
    assert SERVER_URL_ENV not in os.environ
    assert SERVER_TOKEN_ENV not in os.environ
