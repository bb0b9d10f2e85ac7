"""A server on a database another process dispatches serves it as a peer; one whose database cannot be
opened says so once and answers 503 everywhere (issue 14, items 1 and 6). The acceptance test with two
real servers and the CLI is ``test_two_servers.py``."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tornado.httpclient import HTTPClientError

from lpe_nb.embedded import Engine, open_engine
from lpe_nb.llm.mock import MockLLM
from lpe_nb.server_ext.engine import ServerEngine
from lpe_nb.server_ext.openapi import handler_methods
from lpe_nb.server_ext.ws import JobsWebSocket
from tests.server_ext.conftest import INPUTS, Api, frames_until_terminal
from tests.server_ext.routes import served_routes

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_status_says_whether_this_server_dispatches(api: Api) -> None:
    code, status = await api("GET", "status")
    assert (code, status["dispatching"]) == (200, True)


@pytest_asyncio.fixture
async def other_process_engine(lpe_db: Path) -> AsyncIterator[Engine]:
    """An engine that dispatches the server's database before the server starts: the server is a peer."""
    async with open_engine(lpe_db, llm=MockLLM(0.3), dispatch=True) as engine:
        yield engine


async def test_a_peer_server_answers_and_its_websocket_sees_the_other_engines_progress_live(
    other_process_engine: Engine, api: Api, engine: ServerEngine, jp_ws_fetch: Any
) -> None:
    code, status = await api("GET", "status")
    assert (code, status["dispatching"]) == (200, False)
    assert not engine.dispatching
    code, body = await api("POST", "projection/create", body=INPUTS["projection/create"])
    assert code == 202
    ws = await jp_ws_fetch("lpe", "ws")
    try:
        await ws.write_message(json.dumps({"type": "watch", "job_id": body["job_id"]}))
        frames = await frames_until_terminal(ws, body["job_id"], timeout_s=60)
    finally:
        ws.close()
    assert other_process_engine.manager.running_job_ids == []  # it ran there, not here
    assert frames[-1]["status"] == "completed" and frames[-1]["result_data"]
    live = frames[2:]  # after the snapshot
    assert any(f["type"] == "status" and f["status"] == "running" for f in live + frames[:2])
    percentages = [f["data"]["percentage"] for f in live if f["type"] == "progress"]
    assert any(0 < p < 100 for p in percentages), frames  # progress while it ran, not only the end
    seqs = [f["seq"] for f in live]
    assert seqs == sorted(set(seqs))


@pytest.fixture
def lpe_db(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    if "unusable" in request.node.name:
        blocker = tmp_path / "home"
        blocker.write_text("a file where the database's directory should be")
        return blocker / ".lpe" / "jobs.db"
    return tmp_path / "lpe" / "jobs.db"


async def test_an_unusable_database_is_said_once_and_every_route_answers_503_with_it(
    capfd: pytest.CaptureFixture[str],  # first: the server logs to stderr, from the setup on
    jp_serverapp: Any,
    http_server_client: Any,
    jp_auth_header: dict[str, str],
    engine: ServerEngine,
    lpe_db: Path,
    jp_ws_fetch: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    answers: dict[tuple[str, str], tuple[int, Any]] = {}
    for path, handler in served_routes(jp_serverapp.web_app):
        if handler is JobsWebSocket:
            continue
        for method in sorted(handler_methods(handler)):
            response = await http_server_client.fetch(
                path, method=method.upper(), headers=jp_auth_header, raise_error=False,
                body=json.dumps(INPUTS["projection/create"]) if method in ("post", "patch") else None,
            )  # fmt: skip
            answers[method, path] = response.code, json.loads(response.body)
    assert len(answers) >= 12
    for (method, path), (code, body) in answers.items():
        if code != 503:  # a request refused before the database is needed (an id that names no job)
            assert code in (400, 404), (method, path, code, body)
            continue
        assert body["error"] == "store_error", (method, path, body)
        assert str(lpe_db.parent) in body["message"] and "LPE_DB_PATH" in body["message"]
    assert sum(code == 503 for code, _ in answers.values()) >= 10
    with pytest.raises(HTTPClientError) as refused:
        await jp_ws_fetch("lpe", "ws")
    assert refused.value.code == 503
    records = caplog.get_records("setup") + caplog.get_records("call")  # the server starts in setup
    tracebacks = [r for r in records if r.exc_info is not None]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]
    log = capfd.readouterr().err
    assert "Traceback" not in log
    said = [line for line in log.splitlines() if "cannot create the directory" in line]
    assert len(said) == 1, said  # once, at start; not once per request
    assert said[0].startswith("[E ") and "the job engine cannot start" in said[0]
