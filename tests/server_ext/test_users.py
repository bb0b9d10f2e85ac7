"""Acceptance (issue 13, users): on a server with ``jobs_per_user``, user A cannot list, read, re-prioritise,
cancel, delete or watch user B's jobs, nor see or delete B's catalog entries; an admin can.

A real ``jupyter server`` with a test identity provider that gives each of alice, bob, carol and root a
token of their own (``tests/server_ext/identities.py``): root is in ``admin_users``; carol may ``read`` the
``lpe_admin`` resource by the server's (granular) authorizer, so she reads everyone's jobs but changes
only her own. The single-user default is the rest of the suite, unchanged.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from lpe_nb.jobs.model import new_job_id
from tests.jupyter_process import JupyterProcess
from tests.server_ext.conftest import NARRATIVE
from tests.server_ext.identities import ADMIN_READERS_ENV, SHARED_TOKEN_USER_ENV, USER_TOKENS_ENV

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
USERS = ("alice", "bob", "carol", "root")
LATER = 3600  # delay_s: the job waits, pending, for the whole test (cancellable and re-prioritisable)


class Server:
    """The server and one token per user; ``call`` and ``watch`` as a given user."""

    def __init__(self, process: JupyterProcess, tokens: dict[str, str]) -> None:
        self.process = process
        self.tokens = tokens

    def token(self, user: str) -> str:
        return self.process.token if user == "shared" else self.tokens[user]

    async def call(self, user: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, JSON body) of a request as ``user`` ("shared": the server's own token)."""

        def blocking() -> tuple[int, Any]:
            request = urllib.request.Request(
                self.process.url + path,
                data=None if body is None else json.dumps(body).encode(),
                method=method,
                headers={"Authorization": f"token {self.token(user)}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as reply:
                    status, raw = reply.status, reply.read()
            except urllib.error.HTTPError as error:
                status, raw = error.code, error.read()
            return status, json.loads(raw) if raw else None

        return await asyncio.to_thread(blocking)

    async def submit(self, user: str, **options: Any) -> str:
        body = {"narrative": NARRATIVE, "persona": "critic", **options}
        code, reply = await self.call(user, "POST", "lpe/api/projection/create", body)
        assert code == 202, reply
        job_id: str = reply["job_id"]
        return job_id

    async def websocket(self, user: str) -> WebSocketClientConnection:
        url = self.process.url.replace("http://", "ws://") + "lpe/ws"
        headers = {"Authorization": f"token {self.token(user)}"}
        return await websocket_connect(HTTPRequest(url, headers=headers))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tokens = {user: secrets.token_hex(16) for user in USERS}
    env = {
        "LPE_LLM_PROVIDER": "mock",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        USER_TOKENS_ENV: json.dumps({token: user for user, token in tokens.items()}),
        ADMIN_READERS_ENV: "carol",
    }
    args = [
        "--ServerApp.identity_provider_class=tests.server_ext.identities.TokenUsers",
        "--ServerApp.authorizer_class=tests.server_ext.identities.AdminReaders",
        "--LpeExtensionApp.jobs_per_user=True",
        "--LpeExtensionApp.admin_users=root",
        "--LpeExtensionApp.authorizer_admins=True",
        "--LpeExtensionApp.mock_latency_s=0.5",  # a job runs a few seconds: long enough to watch
    ]
    with JupyterProcess(tmp_path_factory.mktemp("users"), env=env, args=args) as process:
        yield Server(process, tokens)


def without_id(body: dict[str, Any], job_id: str) -> str:
    return json.dumps(body).replace(job_id, "<id>")


async def test_each_job_records_who_submitted_it(server: Server) -> None:
    job_id = await server.submit("alice", delay_s=LATER)
    code, job = await server.call("alice", "GET", f"lpe/api/jobs/{job_id}")
    assert code == 200 and job["username"] == "alice"
    shared = await server.submit("shared", delay_s=LATER)
    code, job = await server.call("root", "GET", f"lpe/api/jobs/{shared}")
    assert code == 200 and job["username"] == "server-token"


async def test_a_user_lists_and_counts_only_their_own_jobs(server: Server) -> None:
    alices = {await server.submit("alice", delay_s=LATER) for _ in range(3)}
    bobs = {await server.submit("bob", delay_s=LATER)}
    pages: dict[str, set[str]] = {}
    for user in ("alice", "bob", "root", "carol"):
        code, page = await server.call(user, "GET", "lpe/api/jobs?limit=500")
        assert code == 200, page
        pages[user] = {job["id"] for job in page["jobs"]}
        owners = {job["username"] for job in page["jobs"]}
        assert owners == {user} or user in ("root", "carol"), (user, owners)
    assert alices <= pages["alice"] and not bobs & pages["alice"]
    assert bobs <= pages["bob"] and not alices & pages["bob"]
    assert alices | bobs <= pages["root"] and alices | bobs <= pages["carol"]  # admins see everyone's
    # the pages of a status filter, and a cursor, stay within the user's jobs
    code, first = await server.call("bob", "GET", "lpe/api/jobs?status=pending&limit=1")
    assert code == 200 and [job["username"] for job in first["jobs"]] == ["bob"]
    assert first["next_cursor"] is None  # bob has one pending job, however many alice has
    code, status = await server.call("bob", "GET", "lpe/api/status")
    assert code == 200 and status["user"] == {"username": "bob", "sees_all_jobs": False}
    assert status["counts"]["pending"] == len(pages["bob"])
    code, status = await server.call("root", "GET", "lpe/api/status")
    assert status["user"] == {"username": "root", "sees_all_jobs": True}
    assert status["counts"]["pending"] >= len(alices | bobs)


async def test_another_users_job_is_not_found_whatever_the_route(server: Server) -> None:
    bobs = await server.submit("bob", delay_s=LATER, priority=5)
    nobody = new_job_id()
    for method, path, body in [
        ("GET", "lpe/api/jobs/{}", None),
        ("PATCH", "lpe/api/jobs/{}", {"priority": 9}),
        ("POST", "lpe/api/jobs/{}/cancel", {"wait": 0}),
        ("DELETE", "lpe/api/jobs/{}", None),
    ]:
        code, reply = await server.call("alice", method, path.format(bobs), body)
        missing_code, missing = await server.call("alice", method, path.format(nobody), body)
        assert (code, missing_code) == (404, 404), (method, reply)
        # word for word what an id that does not exist gets: nothing says the job is there
        assert without_id(reply, bobs) == without_id(missing, nobody)
        assert reply["error"] == "job_not_found"
    code, job = await server.call("bob", "GET", f"lpe/api/jobs/{bobs}")
    assert code == 200 and (job["status"], job["priority"]) == ("pending", 5)  # untouched
    # carol reads everyone's jobs (read on lpe_admin) but changes only hers: write is not hers
    code, job = await server.call("carol", "GET", f"lpe/api/jobs/{bobs}")
    assert code == 200 and job["username"] == "bob"
    code, reply = await server.call("carol", "POST", f"lpe/api/jobs/{bobs}/cancel", {"wait": 0})
    assert code == 404 and reply["error"] == "job_not_found"
    # root (admin_users) changes anyone's
    code, job = await server.call("root", "PATCH", f"lpe/api/jobs/{bobs}", {"priority": 7})
    assert code == 200 and job["priority"] == 7
    code, job = await server.call("root", "POST", f"lpe/api/jobs/{bobs}/cancel", {"wait": 0})
    assert code == 200 and job["status"] == "cancelled"
    code, _ = await server.call("root", "DELETE", f"lpe/api/jobs/{bobs}")
    assert code == 204
    # and the owner changes their own
    alices = await server.submit("alice", delay_s=LATER)
    code, job = await server.call("alice", "POST", f"lpe/api/jobs/{alices}/cancel", {"wait": 0})
    assert code == 200 and job["status"] == "cancelled"


async def next_frame(ws: WebSocketClientConnection, timeout_s: float = 30) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.read_message(), timeout_s)
    assert isinstance(message, str), message
    frame: dict[str, Any] = json.loads(message)
    return frame


async def test_a_user_watches_only_their_own_jobs(server: Server) -> None:
    bobs = await server.submit("bob")  # runs now: a few seconds of progress
    alices = await server.submit("alice", delay_s=LATER)
    nobody = new_job_id()
    ws = await server.websocket("alice")
    try:
        await ws.write_message(json.dumps({"type": "watch", "job_id": bobs}))
        refused = await next_frame(ws)
        await ws.write_message(json.dumps({"type": "watch", "job_id": nobody}))
        missing = await next_frame(ws)
        assert refused["type"] == "error" and refused["error"] == "job_not_found"
        assert without_id(refused, bobs) == without_id(missing, nobody)
        await ws.write_message(json.dumps({"type": "watch", "job_id": alices}))
        own = await next_frame(ws)
        assert (own["type"], own["job_id"]) == ("status", alices)
        # nothing of bob's job ever reaches alice while it runs: her next frames are her own job's only
        await ws.write_message(json.dumps({"type": "ping"}))
        frames = [await next_frame(ws)]
        while frames[-1]["type"] != "pong":
            frames.append(await next_frame(ws))
        assert {frame.get("job_id") for frame in frames[:-1]} <= {alices}
    finally:
        ws.close()
    # root watches bob's job to its end
    ws = await server.websocket("root")
    try:
        await ws.write_message(json.dumps({"type": "watch", "job_id": bobs}))
        statuses = []
        while not statuses or statuses[-1] not in ("completed", "failed", "cancelled"):
            frame = await next_frame(ws)
            assert frame["type"] != "error", frame
            if frame["type"] == "status":
                statuses.append(frame["status"])
        assert statuses[-1] == "completed"
    finally:
        ws.close()


async def test_a_user_sees_and_deletes_only_their_own_catalog_entries(server: Server) -> None:
    brief = {"attribute": "persona", "brief": "a lighthouse keeper who counts ships", "wait": 30}
    code, job = await server.call("alice", "POST", "lpe/api/configuration/generate", brief)
    assert code == 200 and job["status"] == "completed", job
    name = job["result_data"]["entry"]["name"]

    async def user_personas(user: str) -> dict[str, str | None]:
        code, catalog = await server.call(user, "GET", "lpe/api/catalog")
        assert code == 200, catalog
        return {entry["name"]: entry["username"] for entry in catalog["personas"] if not entry["builtin"]}

    assert (await user_personas("alice")).get(name) == "alice"
    assert name not in await user_personas("bob")
    assert (await user_personas("root")).get(name) == "alice"
    # bob's delete of alice's entry is refused word for word as for a name that does not exist
    code, theirs = await server.call("bob", "DELETE", f"lpe/api/catalog/persona/{name}")
    missing_code, missing = await server.call("bob", "DELETE", "lpe/api/catalog/persona/nobody-here")
    assert (code, missing_code) == (400, 400)
    assert json.dumps(theirs).replace(name, "?") == json.dumps(missing).replace("nobody-here", "?")
    assert (await user_personas("alice")).get(name) == "alice"
    code, _ = await server.call("alice", "DELETE", f"lpe/api/catalog/persona/{name}")
    assert code == 204
    assert name not in await user_personas("root")


async def test_another_users_job_is_no_parent_of_ones_own(server: Server) -> None:
    bobs = await server.submit("bob", delay_s=LATER)
    nobody = new_job_id()
    replies = []
    for parent in (bobs, nobody):
        body = {
            "type": "translation",
            "input": {"intermediate_language": "french"},
            "inputs_from": {"text": f"{parent}.final_projection"},
        }
        code, reply = await server.call("alice", "POST", "lpe/api/jobs", body)
        assert code == 400 and reply["error"] == "invalid_input", reply
        replies.append(without_id(reply, parent))
    assert replies[0] == replies[1]  # bob's job is refused word for word as one that does not exist
    code, reply = await server.call(
        "root",
        "POST",
        "lpe/api/jobs",
        {"type": "projection", "input": {"narrative": NARRATIVE}, "depends_on": [bobs]},
    )
    assert code == 202, reply  # an admin's job may wait for anyone's


async def test_routes_over_everyones_jobs_are_for_admins(server: Server) -> None:
    for path in ("lpe/api/cache", "lpe/api/metrics"):
        code, reply = await server.call("alice", "GET", path)
        assert (code, reply["error"]) == (403, "admin_only"), (path, reply)
        assert path in reply["message"]
        code, reply = await server.call("root", "GET", path)
        assert code == 200, (path, reply)


async def test_a_user_sees_and_manages_only_their_own_schedules(server: Server) -> None:
    made: dict[str, str] = {}
    for user in ("alice", "bob"):
        body = {"job_type": "projection", "input": {"narrative": NARRATIVE}, "interval_s": 3600}
        code, reply = await server.call(user, "POST", "lpe/api/schedules", body)
        assert (code, reply["username"]) == (201, user), reply
        made[user] = reply["id"]

    async def listed(user: str) -> set[str]:
        code, reply = await server.call(user, "GET", "lpe/api/schedules")
        assert code == 200, reply
        return {schedule["id"] for schedule in reply["schedules"]}

    assert await listed("alice") == {made["alice"]}
    assert await listed("bob") == {made["bob"]}
    assert set(made.values()) <= await listed("root")  # an admin: everyone's
    assert set(made.values()) <= await listed("carol")  # may read everyone's, by the authorizer

    alices = f"lpe/api/schedules/{made['alice']}"
    missing = "lpe/api/schedules/" + made["alice"][:-4] + "0000"
    for user, method, body in [
        ("bob", "GET", None),
        ("bob", "PATCH", {"paused": True}),
        ("bob", "DELETE", None),
        ("carol", "PATCH", {"paused": True}),  # reading everyone's is not changing them
    ]:
        code, reply = await server.call(user, method, alices, body)
        nothing_code, nothing = await server.call(user, method, missing, body)
        assert (code, reply["error"]) == (nothing_code, nothing["error"]) == (404, "schedule_not_found")
        assert reply["message"].replace(made["alice"], "?") == nothing["message"].replace(
            missing.rsplit("/", 1)[1], "?"
        )  # word for word what an id that does not exist gets
    code, reply = await server.call("alice", "GET", alices)
    assert (code, reply["paused"]) == (200, False), reply  # untouched by the refused changes
    code, reply = await server.call("carol", "GET", alices)
    assert code == 200, reply

    code, reply = await server.call("alice", "PATCH", alices, {"paused": True})
    assert (code, reply["paused"]) == (200, True), reply
    assert (await server.call("alice", "DELETE", alices))[0] == 204
    assert (await server.call("root", "DELETE", f"lpe/api/schedules/{made['bob']}"))[0] == 204
    assert await listed("bob") == set()


def test_a_server_token_that_names_a_user_is_that_users(tmp_path: Path) -> None:
    """JupyterHub's provider resolves the server's token (the user's API token, what a kernel's client
    sends) to the user: their jobs are theirs, not the anonymous ``server-token``'s."""
    env = {
        "LPE_LLM_PROVIDER": "mock",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        SHARED_TOKEN_USER_ENV: "hubuser",
    }
    args = [
        "--ServerApp.identity_provider_class=tests.server_ext.identities.TokenUsers",
        "--LpeExtensionApp.jobs_per_user=True",
    ]
    with JupyterProcess(tmp_path, env=env, args=args) as process:
        reply = process.request(
            "POST", "lpe/api/jobs", {"type": "projection", "input": {"narrative": NARRATIVE}}
        )
        job = process.request("GET", f"lpe/api/jobs/{reply['job_id']}")
        assert job["username"] == "hubuser"
        status = process.request("GET", "lpe/api/status")
        assert status["user"] == {"username": "hubuser", "sees_all_jobs": False}
        assert reply["job_id"] in {j["id"] for j in process.request("GET", "lpe/api/jobs")["jobs"]}
