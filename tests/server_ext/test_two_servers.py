"""Acceptance (issue 14): two ``jupyter server`` processes and the CLI on one SQLite file.

Every route answers on both servers, a WebSocket client on the server that does not dispatch sees live
progress of the jobs the other runs, the CLI lists, runs and cancels, and when the dispatching server is
killed (SIGKILL) the other takes the role over and finishes its jobs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from lpe_nb.server_ext.handlers import rest_routes
from lpe_nb.server_ext.openapi import handler_methods
from tests.jupyter_process import JupyterProcess
from tests.server_ext.conftest import INPUTS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LATENCY_ARGS = ["--LpeExtensionApp.mock_latency_s=0.4"]  # a projection runs a few seconds: watchable
TERMINAL = ("completed", "failed", "cancelled")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[JupyterProcess, JupyterProcess]]:
    """Server A, started first, dispatches; server B, on A's database, is a peer."""
    env = {"LPE_LLM_PROVIDER": "mock"}
    first = JupyterProcess(tmp_path / "a", env=env, args=LATENCY_ARGS)
    second = JupyterProcess(tmp_path / "b", env=env, args=LATENCY_ARGS)
    second.db_path = first.db_path
    with first:
        first.request("GET", "lpe/api/status")  # its engine has started, and holds the role
        with second:
            yield first, second


async def call(server: JupyterProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, JSON body) of a request to ``server``, errors included."""

    def blocking() -> tuple[int, Any]:
        request = urllib.request.Request(
            server.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                status, raw = reply.status, reply.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return status, json.loads(raw) if raw else None

    return await asyncio.to_thread(blocking)


async def wait_for(
    server: JupyterProcess, job_id: str, statuses: tuple[str, ...], timeout_s: float = 60
) -> Any:
    async def poll() -> Any:
        while True:
            code, job = await call(server, "GET", f"lpe/api/jobs/{job_id}")
            assert code == 200, job
            if job["status"] in statuses:
                return job
            await asyncio.sleep(0.2)  # polling another process's job with a deadline

    return await asyncio.wait_for(poll(), timeout_s)


async def cli(server: JupyterProcess | None, *args: str, timeout_s: float = 120) -> tuple[int, str, str]:
    """``python -m lpe_nb`` with ``server``'s URL and token (none: as ``args`` say), in a clean env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LPE_SERVER_", "LPE_DB_"))}
    where = [] if server is None else ["--url", server.url, "--token", server.token]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lpe_nb", *where, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_every_route_answers_on_both_servers(servers: tuple[JupyterProcess, JupyterProcess]) -> None:
    first, second = servers
    assert (await call(first, "GET", "lpe/api/status"))[1]["dispatching"] is True
    assert (await call(second, "GET", "lpe/api/status"))[1]["dispatching"] is False
    for server in servers:
        code, created = await call(server, "POST", "lpe/api/projection/create", INPUTS["projection/create"])
        assert code == 202, created
        job_id = created["job_id"]
        bodies: dict[str, Any] = {
            "lpe/api/jobs": {"type": "translation", "input": INPUTS["translation/round-trip"]},
            "lpe/api/maieutic/answer": {"session_id": job_id, "answers": ["a"]},
            "lpe/api/jobs/{job_id}/cancel": {"wait": 0},
        }
        answered = []
        for route in rest_routes():
            path = route.path.replace("{job_id}", job_id).replace("{kind}/{name}", "persona/nobody")
            for method in sorted(handler_methods(route.handler)):
                body = bodies.get(route.path, INPUTS.get(route.path.removeprefix("lpe/api/")))
                code, reply = await call(server, method.upper(), path, body if method == "post" else None)
                assert code < 500, (server.url, method, path, code, reply)  # no 503 on either server
                answered.append((method, route.path, code))
        assert len(answered) >= 15


async def test_a_websocket_on_the_peer_server_sees_live_progress_of_the_other_servers_job(
    servers: tuple[JupyterProcess, JupyterProcess],
) -> None:
    first, second = servers
    code, created = await call(first, "POST", "lpe/api/projection/create", INPUTS["projection/create"])
    assert code == 202
    job_id = created["job_id"]
    url = f"ws://127.0.0.1:{second.port}/lpe/ws"
    ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {second.token}"}))
    frames: list[dict[str, Any]] = []
    try:
        await ws.write_message(json.dumps({"type": "watch", "job_id": job_id}))

        async def until_terminal() -> None:
            while True:
                message = await ws.read_message()
                assert message is not None, "the peer server closed the WebSocket"
                frame = json.loads(message)
                if frame.get("job_id") == job_id:
                    frames.append(frame)
                    if frame["type"] == "status" and frame["status"] in TERMINAL:
                        return

        await asyncio.wait_for(until_terminal(), 60)
    finally:
        ws.close()
    assert frames[-1]["status"] == "completed"
    live = frames[2:]  # after the snapshot (status, progress)
    assert [f["seq"] for f in live] == sorted({f["seq"] for f in live})
    assert any(f["type"] == "progress" and 0 < f["data"]["percentage"] < 100 for f in live), frames


async def test_the_cli_lists_runs_and_cancels_through_the_peer_server(
    servers: tuple[JupyterProcess, JupyterProcess],
) -> None:
    first, second = servers
    code, out, err = await cli(
        second, "run", "projection", "--narrative", "Ada wrote the first program.", "--json"
    )
    assert code == 0, err
    finished = json.loads(out)
    assert finished["status"] == "completed"

    code, out, err = await cli(second, "run", "projection", "--narrative", "A long story.", "--no-wait")
    assert code == 0, err
    to_cancel = out.strip().split()[-1]
    await wait_for(first, to_cancel, ("running",))
    code, out, err = await cli(second, "cancel", to_cancel)
    assert code == 0, err
    assert (await wait_for(first, to_cancel, TERMINAL, timeout_s=10))["status"] == "cancelled"

    code, out, err = await cli(second, "jobs", "--json")
    assert code == 0, err
    listed = {json.loads(line)["id"]: json.loads(line)["status"] for line in out.splitlines() if line.strip()}
    assert listed[finished["id"]] == "completed" and listed[to_cancel] == "cancelled"

    # Without --url: through the note a server leaves beside the database, and in-process as a peer.
    for how in ([], ["--embedded"]):
        code, out, err = await cli(None, "--db-path", str(first.db_path), *how, "jobs", "--json")
        assert code == 0, (how, err)
        assert finished["id"] in out, how


async def test_killing_the_dispatching_server_hands_the_role_over_and_its_jobs_finish(
    servers: tuple[JupyterProcess, JupyterProcess],
) -> None:
    first, second = servers
    ids = []
    for _ in range(2):
        code, created = await call(first, "POST", "lpe/api/projection/create", INPUTS["projection/create"])
        assert code == 202
        ids.append(created["job_id"])
    for job_id in ids:
        await wait_for(second, job_id, ("running",))  # seen through the database by the peer
    os.kill(first.pid, signal.SIGKILL)
    first.stop()  # reaps it

    for job_id in ids:
        job = await wait_for(second, job_id, TERMINAL, timeout_s=90)
        assert job["status"] == "completed", job
        assert job["attempts"] >= 2  # resumed by the survivor
    code, status = await call(second, "GET", "lpe/api/status")
    assert (code, status["dispatching"]) == (200, True)
    assert "took over dispatching" in second.log()
