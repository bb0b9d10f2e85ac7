"""Acceptance (issue 13, items 2 and 3): two Jupyter servers and two workers on one PostgreSQL database.

The servers run with ``dispatch = "never"`` (they submit and watch); the workers (``python -m lpe_nb
worker --db-url``) run the jobs; the LLM is the loopback OpenAI-compatible server, whose request log says
which calls were made and how often. A job submitted on server A runs on a worker and its events reach a
WebSocket client on server B in ``seq`` order; a worker killed with SIGKILL mid-job leaves its job to the
other, which takes it within one lease and resumes it from its last finished step; a cancel sent to server
B stops the job on its worker at once (the workers' heartbeat here is every 10 s).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.jupyter_process import JupyterProcess
from tests.llm.fake_openai_server import FakeOpenAIServer
from tests.server_ext.conftest import INPUTS
from tests.test_worker import Worker, llm_env, until

pytestmark = pytest.mark.slow

LEASE_S = 3.0  # the workers' lease in the SIGKILL test: a dead worker's job moves within about that


@pytest.fixture
def llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(delay_s=0.5) as server:
        yield server


@pytest.fixture
def servers(
    tmp_path: Path, postgres_url: str, llm: FakeOpenAIServer
) -> Iterator[tuple[JupyterProcess, JupyterProcess]]:
    env = {**llm_env(llm.base_url), "LPE_DB_URL": postgres_url}
    args = ["--LpeExtensionApp.dispatch=never"]
    with (
        JupyterProcess(tmp_path / "a", env=env, args=args) as a,
        JupyterProcess(tmp_path / "b", env=env, args=args) as b,
    ):
        yield a, b


def start_workers(tmp_path: Path, url: str, llm: FakeOpenAIServer, *options: str) -> list[Worker]:
    return [
        Worker(None, llm.base_url, tmp_path / f"worker-{i}.log", "--db-url", url, *options) for i in range(2)
    ]


def stop(workers: list[Worker]) -> None:
    for worker in workers:
        worker.stop(signal.SIGKILL if worker.process.poll() is None else signal.SIGTERM)


def rows(server: JupyterProcess) -> list[dict[str, Any]]:
    workers: list[dict[str, Any]] = server.request("GET", "lpe/api/status")["workers"]
    return workers


def job(server: JupyterProcess, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = server.request("GET", f"lpe/api/jobs/{job_id}")
    return found


def test_a_job_submitted_on_one_server_runs_on_a_worker_and_streams_to_another_servers_websocket(
    tmp_path: Path, postgres_url: str, servers: tuple[JupyterProcess, JupyterProcess], llm: FakeOpenAIServer
) -> None:
    a, b = servers
    workers = start_workers(tmp_path, postgres_url, llm)
    try:
        until(lambda: len(rows(a)) == 2, "both workers' heartbeat rows")
        assert {row["pid"] for row in rows(b)} == {w.pid for w in workers}
        assert a.request("GET", "lpe/api/status")["dispatching"] is False
        job_id = a.request("POST", "lpe/api/translation/round-trip", INPUTS["translation/round-trip"])[
            "job_id"
        ]
        frames = asyncio.run(watch_until_terminal(b, job_id))
    finally:
        stop(workers)
    assert frames[-1]["status"] == "completed" and frames[-1]["result_data"]["back_translation"]
    live = frames[2:]  # after the snapshot (status and progress)
    seqs = [f["seq"] for f in live]
    assert seqs == sorted(set(seqs)), seqs  # in seq order, no repeats
    steps = {f["data"]["current_step"] for f in live if f["type"] == "progress"}
    assert len(steps) >= 4, steps  # progress while it ran, not only the end
    assert job(a, job_id)["lease_owner"] is None


async def watch_until_terminal(
    server: JupyterProcess, job_id: str, timeout_s: float = 60
) -> list[dict[str, Any]]:
    url = f"ws://127.0.0.1:{server.port}/lpe/ws"
    ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {server.token}"}))
    frames: list[dict[str, Any]] = []
    try:
        await ws.write_message(json.dumps({"type": "watch", "job_id": job_id}))

        async def read() -> None:
            while True:
                message = await ws.read_message()
                assert message is not None, "the server closed the WebSocket"
                frame = json.loads(message)
                if frame.get("job_id") != job_id:
                    continue
                frames.append(frame)
                if frame["type"] == "status" and frame["status"] in ("completed", "failed", "cancelled"):
                    return

        await asyncio.wait_for(read(), timeout_s)
    finally:
        ws.close()
    return frames


def test_a_worker_killed_mid_job_leaves_it_to_the_other_within_a_lease_from_its_last_finished_step(
    tmp_path: Path, postgres_url: str, servers: tuple[JupyterProcess, JupyterProcess], llm: FakeOpenAIServer
) -> None:
    a, b = servers
    workers = start_workers(tmp_path, postgres_url, llm, "--lease", str(LEASE_S))
    try:
        until(lambda: len(rows(a)) == 2, "both workers' heartbeat rows")
        job_id = a.request("POST", "lpe/api/translation/round-trip", INPUTS["translation/round-trip"])[
            "job_id"
        ]
        until(lambda: len(job(b, job_id)["steps"]) == 2, "two finished steps")
        owner = job(b, job_id)["lease_owner"]
        [victim] = [w for w in workers if f":{w.pid}:" in owner]
        [survivor] = [w for w in workers if w is not victim]
        asked_before = [request.text for request in llm.requests]
        victim.stop(signal.SIGKILL)
        killed = time.monotonic()
        taken = until(
            lambda: (j := job(b, job_id))["lease_owner"] not in (None, owner) and j,
            "the other worker to take the job",
        )
        taken_after_s = time.monotonic() - killed
        done = until(lambda: (j := job(a, job_id))["status"] == "completed" and j, "the job to complete")
        assert f":{survivor.pid}:" in taken["lease_owner"]
        assert victim.pid in [row["pid"] for row in rows(a)]  # its row stays (stale after a server's lease)
    finally:
        stop(workers)
    assert taken_after_s < LEASE_S + LEASE_S / 3 + 1.5  # a lease, a heartbeat's sweep, and some slack
    asked = Counter(request.text for request in llm.requests)
    finished_before_kill = asked_before[:2]
    assert all(asked[prompt] == 1 for prompt in finished_before_kill)  # never asked again
    assert len(done["steps"]) == 4


def test_a_cancel_sent_to_the_other_server_stops_the_job_on_its_worker_at_once(
    tmp_path: Path, postgres_url: str, servers: tuple[JupyterProcess, JupyterProcess], llm: FakeOpenAIServer
) -> None:
    a, b = servers
    workers = start_workers(tmp_path, postgres_url, llm)  # a 30 s lease: a heartbeat every 10 s
    try:
        until(lambda: len(rows(a)) == 2, "both workers' heartbeat rows")
        job_id = a.request("POST", "lpe/api/translation/round-trip", INPUTS["translation/round-trip"])[
            "job_id"
        ]
        until(lambda: job(a, job_id)["status"] == "running", "a worker to run the job")
        asked = time.monotonic()
        b.request("POST", f"lpe/api/jobs/{job_id}/cancel", {})
        done = until(lambda: (j := job(a, job_id))["status"] == "cancelled" and j, "the job to stop", 15)
        stopped_after_s = time.monotonic() - asked
        calls = len(llm.requests)
    finally:
        stop(workers)
    assert done["status"] == "cancelled"
    assert stopped_after_s < 2.0  # not the 10 s heartbeat
    assert calls <= 2  # it stopped in its first or second call, not after the four
