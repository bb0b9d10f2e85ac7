"""What an error looks like on the wire: REST bodies and WebSocket error frames are ``LpeError.to_dict()``."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from lpe_nb.errors import JobNotFound
from lpe_nb.server_ext.engine import ServerEngine
from tests.server_ext.conftest import INPUTS, Api, read_frame


async def test_an_error_body_is_the_errors_to_dict(api: Api) -> None:
    code, body = await api("GET", "jobs/no-such-job")
    assert code == 404
    assert body == JobNotFound("no-such-job").to_dict()


async def test_an_invalid_transition_body_carries_what_rebuilds_it(api: Api) -> None:
    _code, job = await api("POST", "projection/create", body={**INPUTS["projection/create"], "wait": 30})
    code, body = await api("POST", f"jobs/{job['id']}/cancel")
    assert code == 409
    assert body["details"] == {"job_id": job["id"], "current": "completed", "requested": "cancelled"}


async def test_a_body_too_large_names_its_size_and_the_limit(api: Api) -> None:
    raw = json.dumps({"narrative": "x" * 200_000}).encode()
    code, body = await api("POST", "projection/create", raw=raw)
    assert code == 413
    assert body["error"] == "body_too_large"
    assert body["details"] == {"size": len(raw), "limit": 100_000}


async def test_tornados_own_errors_have_the_same_keys(api: Api) -> None:
    code, body = await api("PUT", "projection/create", raw=b"{}")
    assert code == 405
    assert set(body) == {"error", "message", "fields", "details"}
    assert (body["error"], body["fields"], body["details"]) == ("method_not_allowed", {}, {})


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("not json", "(frame)"),
        ("[]", "(frame)"),
        (b"\x00binary", "(frame)"),
        ('{"type": "bogus"}', "type"),
        ('{"type": "watch"}', "job_id"),
        ('{"type": "watch", "job_id": 7}', "job_id"),
        ('{"type": "watch", "job_id": "x", "since": -1}', "since"),
    ],
)
async def test_a_bad_frame_is_invalid_input_naming_the_field(
    jp_ws_fetch: Any, api: Api, message: str | bytes, field: str
) -> None:
    ws = await jp_ws_fetch("lpe", "ws")
    try:
        await ws.write_message(message, binary=isinstance(message, bytes))
        frame = await read_frame(ws)
    finally:
        ws.close()
    assert frame["type"] == "error" and frame["job_id"] is None
    assert frame["error"] == "invalid_input"
    assert list(frame["fields"]) == [field]
    assert frame["details"] == {}


async def test_an_unknown_job_frame_is_the_errors_to_dict_with_the_job(jp_ws_fetch: Any, api: Api) -> None:
    ws = await jp_ws_fetch("lpe", "ws")
    try:
        await ws.write_message(json.dumps({"type": "watch", "job_id": "no-such-job"}))
        frame = await read_frame(ws)
    finally:
        ws.close()
    assert frame == {"type": "error", "job_id": "no-such-job", **JobNotFound("no-such-job").to_dict()}


async def test_watching_more_jobs_than_allowed_is_invalid_input_on_job_id(
    jp_ws_fetch: Any, api: Api, engine: ServerEngine
) -> None:
    engine.config = dataclasses.replace(engine.config, ws_max_watches=1)
    _code, first = await api("POST", "projection/create", body={**INPUTS["projection/create"], "wait": 30})
    ws = await jp_ws_fetch("lpe", "ws")
    try:
        await ws.write_message(json.dumps({"type": "watch", "job_id": first["id"]}))
        await ws.write_message(json.dumps({"type": "watch", "job_id": "second"}))
        frame = await read_frame(ws)
        while frame["type"] != "error":
            frame = await read_frame(ws)
    finally:
        ws.close()
    assert (frame["job_id"], frame["error"], list(frame["fields"])) == ("second", "invalid_input", ["job_id"])
