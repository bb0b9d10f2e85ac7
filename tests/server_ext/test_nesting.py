"""Hostile nesting and sizes: every parser of untrusted input refuses what is too deep or too big with a 4xx
(REST) or an error frame (WebSocket, which stays open), naming the limit; never a 500 or a dropped socket."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lpe_nb._bounded_json import MAX_JSON_DEPTH
from tests.server_ext.conftest import NARRATIVE, Api, read_frame


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("projection/create", nested(1_000).encode()),  # a 2 KB body: json.loads would recurse 1,000 deep
        ("projection/create", b'{"narrative": "x", "persona": ' + nested(5_000).encode() + b"}"),
        ("jobs", b'{"type": "projection", "input": {"narrative": ' + nested(1_000).encode() + b"}}"),
        ("jobs/abc/cancel", b'{"wait": ' + nested(1_000).encode() + b"}"),
        ("configuration/generate", ('{"a":' * 3_000 + "1" + "}" * 3_000).encode()),
    ],
    ids=["array", "in a field", "in the generic input", "cancel body", "objects"],
)
async def test_a_deeply_nested_body_is_400_naming_the_limit(api: Api, path: str, raw: bytes) -> None:
    code, error = await api("POST", path, raw=raw)
    assert code == 400, error
    assert error["error"] == "invalid_input" and list(error["fields"]) == ["(body)"]
    assert f"{MAX_JSON_DEPTH} levels" in error["fields"]["(body)"]


async def test_nesting_up_to_the_limit_is_parsed(api: Api) -> None:
    inner = nested(MAX_JSON_DEPTH - 1)  # the body object is the first level
    code, error = await api("POST", "projection/create", raw=f'{{"narrative": {inner}}}'.encode())
    assert code == 400 and "narrative" in error["fields"]  # parsed, then refused as not a string
    code, error = await api("POST", "projection/create", raw=f'{{"narrative": [{inner}]}}'.encode())
    assert code == 400 and list(error["fields"]) == ["(body)"]


async def test_brackets_inside_strings_do_not_count(api: Api) -> None:
    text = NARRATIVE + " " + "[{" * 200
    code, job = await api("POST", "projection/create", body={"narrative": text, "wait": 30})
    assert code == 200 and job["status"] == "completed"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": ",".join(["pending"] * 17)}, "status"), ({"cursor": "c" * 101}, "cursor")],
)
async def test_query_values_are_bounded_in_count_and_size(
    api: Api, params: dict[str, str], field: str
) -> None:
    code, error = await api("GET", "jobs", params=params)
    assert code == 400 and list(error["fields"]) == [field]


@pytest.mark.parametrize(
    "message",
    [
        nested(2_000),
        '{"type": "watch", "job_id": ' + nested(3_000, '"x"') + "}",
        '{"a":' * 2_000 + "1" + "}" * 2_000,
    ],
    ids=["array", "job_id", "objects"],
)
async def test_a_deeply_nested_frame_is_an_error_frame_and_the_socket_stays_open(
    jp_ws_fetch: Any, api: Api, message: str
) -> None:
    ws = await jp_ws_fetch("lpe", "ws")
    try:
        await ws.write_message(message)
        frame = await read_frame(ws)
        assert (frame["type"], frame["error"], list(frame["fields"])) == (
            "error",
            "invalid_input",
            ["(frame)"],
        )
        assert f"{MAX_JSON_DEPTH} levels" in frame["fields"]["(frame)"]
        await ws.write_message(json.dumps({"type": "ping"}))
        assert (await read_frame(ws)) == {"type": "pong"}
    finally:
        ws.close()
