"""A crowd of WebSocket clients connecting and watching at once is let in a few per loop iteration.

Issue 15: 300 clients connecting together, each watching 50 jobs, made iterations of 40-100 ms of their
handshakes, watch commands and writes, and a ``GET lpe/api/jobs`` meanwhile waited for several of them.
Here a crowd connects at once (what it sends is sent from the loop's own thread, so the requests, then
the watch commands, reach the server together, as a real crowd's do), with the server's turnstiles made
small; upgrades (``open``), watch commands (``_watch``) and writes (``_write_frames``) are counted per loop
iteration by a callback that re-schedules itself. Nothing is timed: the bounds are counts, each twice the
turnstile's (work let in during one iteration may end in the next), where without the turnstiles the whole
crowd's upgrades land in one iteration and one watch and one write per client in each.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from lpe_nb.server_ext._turns import WebSocketTurns
from lpe_nb.server_ext.engine import ServerEngine
from lpe_nb.server_ext.ws import JobsWebSocket
from tests.server_ext.conftest import INPUTS, Api, upgrade_request
from tests.server_ext.test_turns import IterationClock

CLIENTS = 24
JOBS = 6
TURNS = {"upgrades": 2, "watches": 4, "writes": 4}
DEADLINE_S = 30.0


def _masked(payload: bytes) -> bytes:
    mask = os.urandom(4)
    header = struct.pack(">BB", 0x81, 0x80 | len(payload))  # payloads under 126 bytes here
    return header + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


class Crowd:
    """``CLIENTS`` raw WebSocket clients. What they send is sent synchronously, from the loop's own thread,
    so all of it is waiting in the server's sockets before the server runs again: the requests (then the
    watch commands) reach it as one crowd, whatever the machine's load."""

    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        self.socks: list[socket.socket] = []
        self.buffers = [bytearray() for _ in range(CLIENTS)]
        for _ in range(CLIENTS):  # connected in the kernel's backlog: the server accepts them later
            sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
            self.socks.append(sock)
            sock.sendall(upgrade_request(port, path, headers))
        for sock in self.socks:
            sock.setblocking(False)

    async def _fill(self, index: int, done: Callable[[bytearray], bool]) -> None:
        loop = asyncio.get_running_loop()
        while not done(self.buffers[index]):
            chunk = await loop.sock_recv(self.socks[index], 1 << 16)
            assert chunk, "the server closed the connection"
            self.buffers[index] += chunk

    async def upgraded(self) -> None:
        for index in range(CLIENTS):
            await self._fill(index, lambda buffer: b"\r\n\r\n" in buffer)
            head, _, rest = bytes(self.buffers[index]).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101"), head
            self.buffers[index] = bytearray(rest)

    def watch(self, job_ids: list[str]) -> None:
        commands = b"".join(_masked(json.dumps({"type": "watch", "job_id": j}).encode()) for j in job_ids)
        for sock in self.socks:
            sock.setblocking(True)
            sock.sendall(commands)
            sock.setblocking(False)

    async def frames(self, index: int, count: int) -> list[dict[str, Any]]:
        """The next ``count`` server frames of client ``index`` (unmasked, unfragmented), parsed."""
        frames = []
        for _ in range(count):
            buffer = self.buffers[index]
            await self._fill(index, lambda b: len(b) >= 2 and len(b) >= _frame_end(b))
            start, end = _frame_start(buffer), _frame_end(buffer)
            frames.append(json.loads(bytes(buffer[start:end])))
            del buffer[:end]
        return frames

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


def _frame_start(buffer: bytearray) -> int:
    size = buffer[1] & 0x7F
    return 2 if size < 126 else 4 if size == 126 else 10


def _frame_end(buffer: bytearray) -> int:
    """Where the frame at the start of ``buffer`` ends (past the buffer while its header is incomplete)."""
    size, start = buffer[1] & 0x7F, _frame_start(buffer)
    if len(buffer) < start:
        return start + 1
    if size == 126:
        (size,) = struct.unpack(">H", buffer[2:4])
    elif size == 127:
        (size,) = struct.unpack(">Q", buffer[2:10])
    return start + size


def count_calls(monkeypatch: pytest.MonkeyPatch, name: str, clock: IterationClock) -> Counter[int]:
    """How many calls of ``JobsWebSocket.<name>`` each loop iteration made."""
    per_iteration: Counter[int] = Counter()
    original: Callable[..., Any] = getattr(JobsWebSocket, name)

    def spy(self: JobsWebSocket, *args: Any, **kwargs: Any) -> Any:
        per_iteration[clock.now] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(JobsWebSocket, name, spy)
    return per_iteration


async def test_a_crowd_connecting_and_watching_at_once_is_let_in_a_few_per_loop_iteration(
    api: Api,
    engine: ServerEngine,
    monkeypatch: pytest.MonkeyPatch,
    http_server_client: Any,  # makes the server listen on jp_http_port
    jp_http_port: int,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
) -> None:
    job_ids = []
    for _ in range(JOBS):
        code, job = await api("POST", "projection/create", body={**INPUTS["projection/create"], "wait": 30})
        assert code == 200, job
        job_ids.append(job["id"])
    engine.ws_turns = WebSocketTurns(**TURNS)
    clock = IterationClock()
    upgrades = count_calls(monkeypatch, "open", clock)
    watches = count_calls(monkeypatch, "_watch", clock)
    writes = count_calls(monkeypatch, "_write_frames", clock)
    clock.start()
    crowd = Crowd(jp_http_port, f"{jp_base_url}lpe/ws", jp_auth_header)
    try:
        await asyncio.wait_for(crowd.upgraded(), DEADLINE_S)
        crowd.watch(job_ids)
        received = [
            await asyncio.wait_for(crowd.frames(index, 2 * JOBS), DEADLINE_S) for index in range(CLIENTS)
        ]
    finally:
        crowd.close()
        clock.stop()
    for frames in received:  # every client got every job's final state
        assert sorted((f["job_id"], f["type"]) for f in frames) == sorted(
            (job_id, kind) for job_id in job_ids for kind in ("progress", "status")
        )
        assert {f["status"] for f in frames if f["type"] == "status"} == {"completed"}
    assert sum(upgrades.values()) == CLIENTS
    assert sum(watches.values()) == CLIENTS * JOBS
    assert max(upgrades.values()) <= 2 * TURNS["upgrades"], upgrades
    assert max(watches.values()) <= 2 * TURNS["watches"], watches
    assert max(writes.values()) <= 2 * TURNS["writes"], writes
    assert engine.ws_turns.upgrades.delayed and engine.ws_turns.watches.delayed  # the crowd did wait


async def test_clients_that_leave_while_waiting_for_their_turn_leave_nothing_behind(
    engine: ServerEngine,
    http_server_client: Any,
    jp_http_port: int,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
) -> None:
    """Tornado calls ``on_close`` once, when the client leaves, even while the handler waits for its turn;
    an upgrade after that would keep a subscription and a pump for nobody."""
    engine.ws_turns = WebSocketTurns(upgrades=1)
    turns = engine.ws_turns.upgrades
    crowd = Crowd(jp_http_port, f"{jp_base_url}lpe/ws", jp_auth_header)
    crowd.close()  # every request sent, then gone before the server read any
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while turns.passed < CLIENTS:  # each waits for its turn, one per loop iteration
        assert loop.time() < deadline, f"{turns.passed} of {CLIENTS} had their turn"
        await asyncio.sleep(0)
    await iterations(10)  # the last one's upgrade, had it gone on, is done well within that
    assert not engine.sockets


async def iterations(count: int) -> None:
    """Return after ``count`` more loop iterations."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def tick(left: int) -> None:
        if left:
            loop.call_soon(tick, left - 1)
        else:
            done.set_result(None)

    loop.call_soon(tick, count)
    await done
