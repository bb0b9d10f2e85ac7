"""A real Jupyter server (pytest-jupyter) with the lpe_nb extension on a temporary database and the mock LLM.

pytest-jupyter's fixtures run the server on ``jp_asyncio_loop``, while pytest-asyncio (``asyncio_mode =
auto``) runs each test on its own loop; ``jp_asyncio_loop`` is overridden below to be that loop, so the
server, the job manager and the test share one loop. The fixtures are imported rather than listed in
``pytest_plugins``, which pytest only allows in the rootdir's conftest.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pytest_jupyter.jupyter_server import *  # noqa: F403  # the jp_* fixtures
from tornado.httpclient import HTTPResponse
from tornado.websocket import WebSocketClientConnection
from traitlets.config import Config

from lpe_nb.server_ext.engine import ServerEngine
from lpe_nb.server_ext.handlers import ENGINE_SETTING

Api = Callable[..., Awaitable[tuple[int, Any]]]

NARRATIVE = "Mara left the harbour town of Velden at dawn, carrying her father's compass and a debt."
INPUTS: dict[str, dict[str, Any]] = {
    "projection/create": {"narrative": NARRATIVE, "persona": "critic"},
    "translation/round-trip": {"text": NARRATIVE, "intermediate_language": "french"},
    "translation/multi": {"text": NARRATIVE, "intermediate_languages": ["french", "polish"]},
    "maieutic/start": {"narrative": NARRATIVE, "max_turns": 2},
    "configuration/generate": {
        "attribute": "persona",
        "brief": "a patient gardener who notices small things",
    },
}


@pytest_asyncio.fixture
async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


@pytest.fixture
def jp_asyncio_loop(_running_loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
    return _running_loop


@pytest.fixture
def mock_latency_s() -> float:
    """Seconds per mock LLM call; parametrize it to make jobs slow enough to watch or cancel."""
    return 0.0


@pytest.fixture
def lpe_db(tmp_path: Path) -> Path:
    return tmp_path / "lpe" / "jobs.db"


@pytest.fixture
def lpe_dispatch() -> str:
    """The server's ``dispatch`` setting; parametrize it (``always``, ``never``) where it matters."""
    return "auto"


@pytest.fixture
def jp_server_config(lpe_db: Path, mock_latency_s: float, lpe_dispatch: str) -> Config:
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"lpe_nb.server_ext": True}},
            "LpeExtensionApp": {
                "db_path": str(lpe_db),
                "llm_provider": "mock",
                "mock_latency_s": mock_latency_s,
                "retention_days": 1.0,
                "max_body_bytes": 100_000,
                "shutdown_grace_s": 0.1,
                "dispatch": lpe_dispatch,
            },
        }
    )


@pytest_asyncio.fixture
async def engine(jp_serverapp: Any) -> AsyncIterator[ServerEngine]:
    """The extension's engine, started the way the server starts extensions (pytest-jupyter does not)."""
    await jp_serverapp.extension_manager.start_all_extensions()
    yield jp_serverapp.web_app.settings[ENGINE_SETTING]


@pytest.fixture
def api(jp_fetch: Any, engine: ServerEngine) -> Api:
    """``await api("POST", "projection/create", body={...})`` -> (status, parsed JSON or None)."""

    async def call(
        method: str, path: str, *, body: Any = None, raw: bytes | None = None, params: Any = None
    ) -> tuple[int, Any]:
        payload = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if payload is None and method in ("POST", "PUT", "PATCH"):
            payload = b""
        response: HTTPResponse = await jp_fetch(
            "lpe", "api", *path.split("/"), method=method, body=payload, params=params, raise_error=False
        )
        text = response.body.decode() if response.body else ""
        return response.code, (json.loads(text) if text else None)

    return call


async def read_frame(ws: WebSocketClientConnection, timeout_s: float = 10) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.read_message(), timeout_s)
    assert message is not None, "the server closed the WebSocket"
    frame: dict[str, Any] = json.loads(message)
    return frame


def upgrade_request(port: int, path: str, headers: dict[str, str], key: str | None = None) -> bytes:
    """A WebSocket upgrade request for a raw socket (a client whose reading the test controls)."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    request = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(request) + "\r\n\r\n").encode()


async def frames_until_terminal(
    ws: WebSocketClientConnection, job_id: str, timeout_s: float = 20
) -> list[dict[str, Any]]:
    """Every frame for ``job_id`` up to and including its terminal status."""
    frames: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        frame = await read_frame(ws, max(0.1, deadline - loop.time()))
        if frame.get("job_id") != job_id:
            continue
        frames.append(frame)
        if frame["type"] == "status" and frame["status"] in ("completed", "failed", "cancelled"):
            return frames
