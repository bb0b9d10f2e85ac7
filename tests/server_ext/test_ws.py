"""The WebSocket protocol: snapshot then live events, ``since``, bad frames, unknown jobs, cancel."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.server_ext.conftest import INPUTS, Api, frames_until_terminal, read_frame

SLOW = 0.05  # seconds per mock LLM call: a projection takes a few tenths of a second


def assert_ordered(frames: list[dict[str, Any]]) -> None:
    seqs = [frame["seq"] for frame in frames]
    assert seqs == sorted(seqs), seqs
    # only the snapshot (first two frames) shares a seq
    assert len(set(seqs[2:])) == len(seqs[2:]), seqs


@pytest.mark.parametrize("mock_latency_s", [SLOW])
async def test_watch_gets_snapshot_then_ordered_progress_to_100_and_completed(
    api: Api, jp_ws_fetch: Any
) -> None:
    _code, body = await api("POST", "projection/create", body=INPUTS["projection/create"])
    ws = await jp_ws_fetch("lpe", "ws")
    try:
        await ws.write_message(json.dumps({"type": "watch", "job_id": body["job_id"]}))
        frames = await frames_until_terminal(ws, body["job_id"])
    finally:
        ws.close()
    assert frames[0]["type"] == "status"  # the current state comes first
    assert frames[1]["type"] == "progress"
    assert_ordered(frames)
    progress = [f["data"]["percentage"] for f in frames if f["type"] == "progress"]
    assert progress == sorted(progress) and progress[-1] == 100
    assert frames[-1]["status"] == "completed"
    assert frames[-1]["result_data"]
    assert frames[-2]["type"] == "progress"  # no progress after the terminal status


async def test_watching_a_finished_job_gives_its_final_state(api: Api, jp_ws_fetch: Any) -> None:
    _code, job = await api("POST", "projection/create", body={**INPUTS["projection/create"], "wait": 30})
    ws = await jp_ws_fetch("lpe", "ws")
    try:
        await ws.write_message(json.dumps({"type": "watch", "job_id": job["id"]}))
        first, second = await read_frame(ws), await read_frame(ws)
    finally:
        ws.close()
    assert first["type"] == "progress" and first["data"]["percentage"] == 100
    assert second["type"] == "status" and second["status"] == "completed"


@pytest.mark.parametrize("mock_latency_s", [0.1])
async def test_since_resumes_without_duplicates(api: Api, jp_ws_fetch: Any) -> None:
    _code, body = await api("POST", "projection/create", body=INPUTS["projection/create"])
    job_id = body["job_id"]
    first = await jp_ws_fetch("lpe", "ws")
    seen: list[dict[str, Any]] = []
    try:
        await first.write_message(json.dumps({"type": "watch", "job_id": job_id}))
        while len(seen) < 4:
            seen.append(await read_frame(first))
    finally:
        first.close()  # the client drops off mid-job
    since = seen[-1]["seq"]
    second = await jp_ws_fetch("lpe", "ws")
    try:
        await second.write_message(json.dumps({"type": "watch", "job_id": job_id, "since": since}))
        resumed = await frames_until_terminal(second, job_id)
    finally:
        second.close()
    assert all(frame["seq"] > since for frame in resumed), (since, resumed)
    assert resumed[-1]["status"] == "completed"
    assert_ordered(seen + resumed[2:] if resumed[0]["seq"] == resumed[1]["seq"] else seen + resumed)


async def test_since_at_the_end_sends_nothing_for_that_job(api: Api, jp_ws_fetch: Any) -> None:
    _code, done = await api("POST", "projection/create", body={**INPUTS["projection/create"], "wait": 30})
    _code, other = await api("POST", "projection/create", body={**INPUTS["projection/create"], "wait": 30})
    ws = await jp_ws_fetch("lpe", "ws")
    try:
        await ws.write_message(json.dumps({"type": "watch", "job_id": done["id"], "since": done["seq"]}))
        await ws.write_message(json.dumps({"type": "watch", "job_id": other["id"]}))
        frame = await read_frame(ws)
    finally:
        ws.close()
    assert frame["job_id"] == other["id"]  # nothing was queued for the first job


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[]",
        '"watch"',
        '{"type": "bogus"}',
        '{"no": "type"}',
        '{"type": "watch"}',
        '{"type": "watch", "job_id": 7}',
        '{"type": "watch", "job_id": "x", "since": -1}',
        '{"type": "watch", "job_id": "x", "since": "5"}',
        '{"type": "unwatch"}',
        b"\x00binary",
    ],
)
async def test_bad_frame_gets_an_error_frame_and_the_connection_survives(
    jp_ws_fetch: Any, api: Api, message: str | bytes
) -> None:
    ws = await jp_ws_fetch("lpe", "ws")
    try:
        await ws.write_message(message, binary=isinstance(message, bytes))
        error = await read_frame(ws)
        assert error["type"] == "error" and error["message"]
        await ws.write_message(json.dumps({"type": "ping"}))
        assert await read_frame(ws) == {"type": "pong"}
    finally:
        ws.close()


async def test_unknown_job_gets_an_error_frame(jp_ws_fetch: Any, api: Api) -> None:
    ws = await jp_ws_fetch("lpe", "ws")
    try:
        await ws.write_message(json.dumps({"type": "watch", "job_id": "no-such-job"}))
        error = await read_frame(ws)
        assert error["type"] == "error"
        assert error["job_id"] == "no-such-job"
        assert "no-such-job" in error["message"]
        await ws.write_message(json.dumps({"type": "ping"}))
        assert await read_frame(ws) == {"type": "pong"}
    finally:
        ws.close()


@pytest.mark.parametrize("mock_latency_s", [0.5])
async def test_cancel_through_rest_stops_a_running_job_and_the_socket_says_so(
    api: Api, jp_ws_fetch: Any
) -> None:
    code, body = await api("POST", "projection/create", body=INPUTS["projection/create"])
    job_id = body["job_id"]
    ws = await jp_ws_fetch("lpe", "ws")
    try:
        await ws.write_message(json.dumps({"type": "watch", "job_id": job_id}))
        while True:
            frame = await read_frame(ws)
            if frame["type"] == "status" and frame["status"] == "running":
                break
        code, job = await api("POST", f"jobs/{job_id}/cancel")
        assert code == 200
        frames = await frames_until_terminal(ws, job_id, timeout_s=10)
    finally:
        ws.close()
    assert frames[-1]["status"] == "cancelled"
    code, job = await api("GET", f"jobs/{job_id}")
    assert job["status"] == "cancelled"
