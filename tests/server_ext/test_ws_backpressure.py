"""A WebSocket client that stops reading is dropped with 1008; the job and the other clients carry on.

What the server holds for a client is bounded by bytes, events and time (see ``lpe_nb.server_ext.ws``); the
bytes count what Tornado holds and, once the kernel's buffer is full, every frame published for the client
since; each bound has its own reason in the close frame.

The slow client is a bare TCP socket with a tiny receive buffer that does the WebSocket handshake by hand
and then stops reading, so the server's writes to it really back up (in the kernel, then in Tornado). It
watches a ``burst`` job that streams ~32 KB progress frames until the test has seen the slow client
dropped, while a well-behaved Tornado client watches the same job and reads everything.

The ways to be dropped get their tests:

- a client that never reads again while its job streams is closed as soon as what was published for it
  since its socket filled passes ``ws_max_unsent_bytes``, long before the send timeout;
- a client that asks for more than it reads (pings, here) is closed as soon as its unsent bytes would pass
  ``ws_max_unsent_bytes``;
- a write that does not reach the socket within ``ws_send_timeout_s`` (a budget too large to be reached
  first): a client that never reads again is closed with 1008, Tornado tears the connection down, and the
  socket sees EOF (or a reset);
- the subscription overflowing because the client fell more than ``max_pending`` status events behind,
  with a send timeout far longer than the test and a byte budget out of reach, so that only the overflow
  can explain the close: the client
  reads again afterwards and gets the close frame, 1008;
- the same overflow while the client never reads again, so the pump is stuck in a write: it gives the write
  up as the subscription closes and closes with 1008 at once, not after the send timeout; Tornado then
  waits ``CLOSE_HANDSHAKE_S`` for the client's close frame and drops the connection.

Nothing sleeps to synchronize: the test waits for real conditions with deadlines (the handler leaving
``engine.sockets``, i.e. its ``on_close`` ran because the server closed the stream; the bus no longer
listing the slow client's subscription; frames and EOF on the sockets).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import socket
import struct
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from tornado.websocket import WebSocketClientConnection
from traitlets.config import Config

from lpe_nb.jobs import JobManager, JobStatus, StepContext, Subscription
from lpe_nb.server_ext.engine import ServerEngine
from lpe_nb.server_ext.ws import KERNEL_SEND_BUFFER_BYTES, WRITE_BATCH_BYTES, JobsWebSocket
from tests.server_ext.conftest import Api, read_frame, upgrade_request
from tests.waiting import eventually

SEND_TIMEOUT_S = 2.0  # short, so the timeout test is quick; long enough for the good client never to miss it
NEVER_S = 60.0  # a send timeout the overflow test cannot reach
DEADLINE_S = 15.0
PROMPT_S = 2.0  # "at once", with room for a loaded machine: the pump reacts within a loop iteration or two
CLOSE_HANDSHAKE_S = 5.0  # how long Tornado waits for the client's close frame before dropping the connection
CHUNK = "x" * (32 * 1024)  # streamed text per progress frame: a few hundred fill the slow socket
EMIT_EVERY_S = 0.005
BURST_MAX_S = 20.0  # the burst job's own limit, should the test never stop it
FLOOD_BATCH = 50  # held jobs per round in the overflow test: two live status events each
TOO_SLOW = 1008
BUDGET_BYTES = 1024 * 1024  # the default ws_max_unsent_bytes
SMALL_BUDGET_BYTES = 16 * 1024
FAR_BUDGET_BYTES = 1 << 30  # a budget the time test cannot reach
FRAME_BYTES = len(CHUNK) + 200  # a burst progress frame, about
# What a client that never reads can take before its socket is full: the server's kernel buffer (Linux
# doubles what is asked), the client's tiny receive window, and one write waiting in Tornado's buffer.
SOCKET_FILL_BYTES = 2 * KERNEL_SEND_BUFFER_BYTES + 16 * 1024 + WRITE_BATCH_BYTES + FRAME_BYTES
TOO_SLOW_BY_TIME = (
    f"too slow: what was sent did not leave within {SEND_TIMEOUT_S:g} s; reconnect and watch again"
)
TOO_SLOW_BY_EVENTS = "too slow: more than 256 status events waited to be sent; reconnect and watch again"
TOO_SLOW_BY_BYTES = re.compile(r"too slow: (\d+) bytes unsent, the limit is (\d+); reconnect and watch again")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_CLOSE = 0x1, 0x8

Closes = list[tuple[JobsWebSocket, int | None, str | None]]


# -- server configuration and job types ---------------------------------------------------------------


@pytest.fixture
def ws_send_timeout_s() -> float:
    return SEND_TIMEOUT_S


@pytest.fixture
def ws_max_unsent_bytes() -> int:
    return BUDGET_BYTES


@pytest.fixture
def jp_server_config(jp_server_config: Config, ws_send_timeout_s: float, ws_max_unsent_bytes: int) -> Config:
    jp_server_config.LpeExtensionApp.ws_send_timeout_s = ws_send_timeout_s
    jp_server_config.LpeExtensionApp.ws_max_unsent_bytes = ws_max_unsent_bytes
    return jp_server_config


@dataclass
class Burst:
    """The ``burst`` job type's state: once running it waits for ``go``, then streams big progress frames
    until ``stop`` is set."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    emitted: int = 0


@pytest.fixture
def burst(engine: ServerEngine) -> Iterator[Burst]:
    state = Burst()

    async def run(ctx: StepContext, data: Any) -> dict[str, Any]:
        ctx.report("flooding", completed_steps=0, total_steps=1)
        state.started.set()
        await state.go.wait()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + BURST_MAX_S
        while not state.stop.is_set() and loop.time() < give_up:
            state.emitted += 1
            ctx.stream_text(f"{state.emitted} {CHUNK}", final=True)
            await asyncio.sleep(EMIT_EVERY_S)
        ctx.report("done", completed_steps=1, total_steps=1)
        return {"emitted": state.emitted, "stopped_by_test": state.stop.is_set()}

    assert engine.manager is not None
    engine.manager.registry.register("burst", run, replace=True)
    yield state
    state.go.set()  # a failed test must not leave it waiting, or running
    state.stop.set()


@pytest.fixture
def closes(monkeypatch: pytest.MonkeyPatch) -> Closes:
    """Every ``JobsWebSocket.close(code, reason)`` call: a 1008 from the pump is told from any other close."""
    calls: Closes = []
    original = JobsWebSocket.close

    def spy(self: JobsWebSocket, code: int | None = None, reason: str | None = None) -> None:
        calls.append((self, code, reason))
        original(self, code, reason)

    monkeypatch.setattr(JobsWebSocket, "close", spy)
    return calls


def closes_of(closes: Closes, handler: JobsWebSocket) -> list[tuple[int | None, str | None]]:
    return [(code, reason) for h, code, reason in closes if h is handler]


Unsent = dict[JobsWebSocket, list[int]]


@pytest.fixture
def unsent(monkeypatch: pytest.MonkeyPatch) -> Unsent:
    """Per handler, the bytes Tornado held for it after each write the server made to it (events and
    replies)."""
    seen: Unsent = defaultdict(list)
    original = JobsWebSocket._write_frames

    def spy(self: JobsWebSocket, frames: list[bytes]) -> Any:
        write = original(self, frames)
        seen[self].append(self._stream_unsent())
        return write

    monkeypatch.setattr(JobsWebSocket, "_write_frames", spy)
    return seen


def assert_within_budget(unsent: Unsent, handler: JobsWebSocket, budget: int) -> None:
    """Tornado never held more than ``budget`` unsent bytes for ``handler`` (and it did hold some)."""
    peaks = unsent[handler]
    assert peaks, "the server wrote nothing to the slow client"
    assert 0 < max(peaks) <= budget, (max(peaks), budget)


# -- a WebSocket client on a bare socket that reads only when told to -----------------------------------


class RawWebSocket:
    """RFC 6455 by hand over a non-blocking socket whose receive buffer is as small as the kernel allows."""

    def __init__(self, sock: socket.socket, buffered: bytes) -> None:
        self.sock = sock
        self.buffer = bytearray(buffered)

    @classmethod
    async def connect(cls, port: int, path: str, headers: dict[str, str]) -> RawWebSocket:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", port))
            key = base64.b64encode(os.urandom(16)).decode()
            await loop.sock_sendall(sock, upgrade_request(port, path, headers, key))
            response = b""
            while b"\r\n\r\n" not in response:
                chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), DEADLINE_S)
                assert chunk, f"the server closed the connection during the handshake: {response!r}"
                response += chunk
        except BaseException:
            sock.close()
            raise
        head, _, rest = response.partition(b"\r\n\r\n")
        status, *lines = head.decode().split("\r\n")
        fields = {name.strip().lower(): value.strip() for name, _, value in (x.partition(":") for x in lines)}
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if not status.startswith("HTTP/1.1 101") or fields.get("sec-websocket-accept") != accept:
            sock.close()
            raise AssertionError(f"not a WebSocket upgrade: {head!r}")
        return cls(sock, rest)

    async def send(self, payload: bytes, opcode: int = OP_TEXT) -> None:
        """One masked frame, as a client must send it."""
        await asyncio.get_running_loop().sock_sendall(self.sock, self.frame(payload, opcode))

    async def send_many(self, payloads: list[bytes]) -> None:
        """Text frames in one write."""
        await asyncio.get_running_loop().sock_sendall(self.sock, b"".join(map(self.frame, payloads)))

    @staticmethod
    def frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack(">BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        return header + mask + masked

    async def send_json(self, frame: dict[str, Any]) -> None:
        await self.send(json.dumps(frame).encode())

    async def _recv(self, deadline: float) -> bytes:
        """The next bytes from the socket; b"" at EOF (a reset counts as EOF)."""
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.sock_recv(self.sock, 1 << 16), max(0.01, deadline - loop.time())
            )
        except ConnectionResetError:
            return b""
        except asyncio.TimeoutError:
            raise AssertionError("the server sent nothing more, and did not close the connection") from None

    async def read_frame(self, deadline: float) -> tuple[int, bytes]:
        """``(opcode, payload)`` of the next server frame (unmasked and unfragmented, as Tornado sends)."""

        async def fill(size: int) -> None:
            while len(self.buffer) < size:
                chunk = await self._recv(deadline)
                assert chunk, "the connection ended without a close frame"
                self.buffer += chunk

        await fill(2)
        opcode, size, start = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
        if size == 126:
            await fill(4)
            (size,), start = struct.unpack(">H", self.buffer[2:4]), 4
        elif size == 127:
            await fill(10)
            (size,), start = struct.unpack(">Q", self.buffer[2:10]), 10
        await fill(start + size)
        payload = bytes(self.buffer[start : start + size])
        del self.buffer[: start + size]
        return opcode, payload

    async def read_to_eof(self, deadline: float) -> int:
        """Read and discard until the server's end is closed; how many bytes were still on their way."""
        received = len(self.buffer)
        self.buffer.clear()
        while chunk := await self._recv(deadline):
            received += len(chunk)
        return received

    def close(self) -> None:
        self.sock.close()


RawConnect = Callable[[], Awaitable[RawWebSocket]]


@pytest.fixture
def raw_ws(
    http_server_client: Any, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> RawConnect:
    """``await raw_ws()``: a :class:`RawWebSocket` on ``{base_url}lpe/ws`` with the server's token.

    ``http_server_client`` is what makes the server listen on ``jp_http_port``.
    """

    def connect() -> Awaitable[RawWebSocket]:
        return RawWebSocket.connect(jp_http_port, f"{jp_base_url}lpe/ws", jp_auth_header)

    return connect


@dataclass
class Stalled:
    """The scene of every test: a ``burst`` job streaming since ``stalled_at``, a good client following it
    (``following`` ends with its frames through the terminal status), and the slow client watching it."""

    manager: JobManager
    job_id: str
    following: asyncio.Task[list[dict[str, Any]]]
    slow: RawWebSocket
    handler: JobsWebSocket
    stalled_at: float
    emitted_at_stall: int


@pytest_asyncio.fixture
async def stalled(
    engine: ServerEngine, burst: Burst, jp_ws_fetch: Any, raw_ws: RawConnect
) -> AsyncIterator[Stalled]:
    manager = (await engine.ready()).manager
    loop = asyncio.get_running_loop()
    good: WebSocketClientConnection = await jp_ws_fetch("lpe", "ws")
    following = None
    try:
        job_id, following = await start_burst(manager, burst, good)
        slow, handler = await connect_slow_client(raw_ws, engine, job_id)
        try:
            burst.go.set()
            yield Stalled(manager, job_id, following, slow, handler, loop.time(), burst.emitted)
        finally:
            slow.close()
    finally:
        await stop_following(good, following)


@pytest_asyncio.fixture
async def overflowed_at(
    stalled: Stalled, closes: Closes, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[float]:
    """Floods the slow client (:func:`flood_until_overflow`) until its subscription overflows; when it did,
    by the loop's clock. (``closes`` is listed so that it spies from before the flood, which can close.)"""
    loop = asyncio.get_running_loop()
    gates: list[asyncio.Event] = []  # a ``held`` job submitted with {"round": i} ends once gates[i] is set

    async def held(ctx: StepContext, data: Any) -> dict[str, Any]:
        await gates[data["round"]].wait()
        return {}

    overflows: list[float] = []
    close = Subscription.close

    def spy(sub: Subscription) -> None:
        if sub.overflowed and not sub.closed:
            overflows.append(loop.time())
        close(sub)

    stalled.manager.registry.register("held", held, replace=True)
    monkeypatch.setattr(Subscription, "close", spy)
    try:
        await flood_until_overflow(stalled.manager, stalled.slow, gates)
        (at,) = overflows  # the slow client's subscription, the only one that overflows
        yield at
    finally:
        for gate in gates:
            gate.set()


# -- helpers ------------------------------------------------------------------------------------------


async def follow(
    ws: WebSocketClientConnection, job_id: str, frames: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``frames`` and every later frame for ``job_id`` through its terminal status; streamed text is kept
    as its tick number only (it is big)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BURST_MAX_S + DEADLINE_S
    while True:
        frame = await read_frame(ws, max(0.1, deadline - loop.time()))
        if frame.get("job_id") != job_id:
            continue
        details = frame["data"].get("details") if frame["type"] == "progress" else None
        if isinstance(details, dict) and "partial_text" in details:
            details["tick"] = int(details.pop("partial_text").split(" ", 1)[0])
        frames.append(frame)
        if frame["type"] == "status" and JobStatus(frame["status"]).is_terminal:
            return frames


async def start_burst(
    manager: JobManager, burst: Burst, good: WebSocketClientConnection
) -> tuple[str, asyncio.Task[list[dict[str, Any]]]]:
    """A running burst job, still waiting for ``go``, and a task following it on the good client.

    The good client watches while the job is quiet, so that the snapshot (status, then progress, with one
    seq) is what it gets first: a watch that races with live events can get some of them before the
    snapshot, which is not what these tests are about.
    """
    job_id = await manager.submit("burst", {})
    await asyncio.wait_for(burst.started.wait(), DEADLINE_S)
    await good.write_message(json.dumps({"type": "watch", "job_id": job_id}))
    snapshot = [await read_frame(good), await read_frame(good)]
    assert [frame["type"] for frame in snapshot] == ["status", "progress"], snapshot
    return job_id, asyncio.create_task(follow(good, job_id, snapshot))


async def connect_slow_client(
    raw_ws: RawConnect, engine: ServerEngine, job_id: str
) -> tuple[RawWebSocket, JobsWebSocket]:
    """The non-reading client, watching ``job_id``, and its handler on the server."""
    before = set(engine.sockets)
    slow = await raw_ws()
    try:
        await eventually(
            lambda: len(engine.sockets - before) == 1, "the slow client's handler to open", DEADLINE_S
        )
        (handler,) = engine.sockets - before
        assert isinstance(handler, JobsWebSocket)
        await slow.send_json({"type": "watch", "job_id": job_id})
    except BaseException:
        slow.close()
        raise
    return slow, handler


async def assert_the_rest_carried_on(api: Api, stalled: Stalled) -> list[dict[str, Any]]:
    """The good client got the snapshot (running), then every later event in order, ending with
    ``completed``; the job is completed and REST still answers. The good client's frames."""
    frames = await stalled.following
    assert frames[0]["seq"] == frames[1]["seq"], frames[:2]  # the snapshot
    assert [frame["status"] for frame in frames if frame["type"] == "status"] == ["running", "completed"]
    seqs = [frame["seq"] for frame in frames[1:]]
    assert seqs == sorted(set(seqs)), seqs
    assert frames[-2]["type"] == "progress" and frames[-2]["data"]["percentage"] == 100
    assert frames[-1]["status"] == "completed"
    assert frames[-1]["result_data"]["stopped_by_test"] is True  # it ran until the slow client was gone
    code, job = await api("GET", f"jobs/{stalled.job_id}")
    assert code == 200 and job["status"] == "completed", job
    code, status = await api("GET", "status")
    assert code == 200 and status["version"], status
    return frames


async def stop_following(good: WebSocketClientConnection, following: asyncio.Task[Any] | None) -> None:
    if following is not None and not following.done():
        following.cancel()  # only when the test failed early
    good.close()


# -- the tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ws_send_timeout_s", [NEVER_S])
async def test_a_client_that_never_reads_again_is_closed_once_its_unsent_bytes_pass_the_budget(
    api: Api, engine: ServerEngine, burst: Burst, closes: Closes, unsent: Unsent, stalled: Stalled
) -> None:
    """The byte bound of issue 15: what was published for the client since its socket filled counts, so a
    reader that stopped is closed about ``ws_max_unsent_bytes`` of output later, not after the send timeout
    (out of reach here); the good client gets every status meanwhile."""
    loop = asyncio.get_running_loop()
    handler = stalled.handler
    await eventually(
        lambda: bool(closes_of(closes, handler)), "the server to close the slow client", DEADLINE_S
    )
    closed_after_s, emitted_at_close = loop.time() - stalled.stalled_at, burst.emitted
    [(code, reason)] = closes_of(closes, handler)
    assert code == TOO_SLOW
    match = TOO_SLOW_BY_BYTES.fullmatch(reason or "")
    assert match is not None, reason
    held, limit = int(match.group(1)), int(match.group(2))
    assert limit == BUDGET_BYTES < held <= BUDGET_BYTES + FRAME_BYTES  # closed by the frame that passed it
    # Closed soon after its end stopped taking bytes: the job's output since the stall is what fills
    # the sockets, then the budget, counted afresh while the client's kernel still acknowledged some (a
    # few times at most), where the send timeout would have let it stream for 60 s.
    streamed = (emitted_at_close - stalled.emitted_at_stall) * FRAME_BYTES
    assert streamed <= SOCKET_FILL_BYTES + 4 * BUDGET_BYTES, (streamed, held)
    assert closed_after_s < NEVER_S / 4
    # Tornado held one write at most: the rest was metered, not buffered.
    assert_within_budget(unsent, handler, WRITE_BATCH_BYTES + FRAME_BYTES)
    await eventually(
        lambda: handler not in engine.sockets, "the handler to close", CLOSE_HANDSHAKE_S + DEADLINE_S
    )
    burst.stop.set()
    assert not stalled.following.done() or stalled.following.exception() is None
    await stalled.slow.read_to_eof(loop.time() + DEADLINE_S)
    await assert_the_rest_carried_on(api, stalled)
    print(f"stall -> close(1008): {closed_after_s:.3f} s, {streamed} bytes streamed, {held} unsent")


@pytest.mark.parametrize("ws_max_unsent_bytes", [FAR_BUDGET_BYTES])
async def test_a_client_that_never_reads_again_is_dropped_after_the_send_timeout(
    api: Api, engine: ServerEngine, burst: Burst, closes: Closes, unsent: Unsent, stalled: Stalled
) -> None:
    loop = asyncio.get_running_loop()
    handler = stalled.handler
    sock = handler.ws_connection.stream.socket  # type: ignore[union-attr]  # open: it has a stream
    # Linux doubles what is asked (and reports the doubled size); elsewhere it may be taken as is.
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) <= 2 * KERNEL_SEND_BUFFER_BYTES
    await eventually(lambda: handler not in engine.sockets, "the server to drop the slow client", DEADLINE_S)
    dropped_after_s, emitted_at_drop = loop.time() - stalled.stalled_at, burst.emitted
    burst.stop.set()
    # Closed by its pump with 1008, once: not by a ping timeout, not by the client.
    assert closes_of(closes, handler) == [(TOO_SLOW, TOO_SLOW_BY_TIME)]
    # Meanwhile Tornado held one write at most, however much the job streamed (32 KB a frame).
    assert_within_budget(unsent, handler, WRITE_BATCH_BYTES + FRAME_BYTES)
    assert not stalled.following.done()  # the good client is still there
    # The server's end is really closed: what was still in the kernel arrives, then EOF.
    backlog = await stalled.slow.read_to_eof(loop.time() + DEADLINE_S)
    frames = await assert_the_rest_carried_on(api, stalled)
    assert backlog > 0  # the slow client really had frames it did not read
    assert SEND_TIMEOUT_S < dropped_after_s < DEADLINE_S
    # The job kept streaming while the slow client was stuck, and the good client got it as it came.
    emitted_at_stall = stalled.emitted_at_stall
    assert emitted_at_drop - emitted_at_stall > 100, (emitted_at_stall, emitted_at_drop)
    ticks = {
        tick for f in frames if f["type"] == "progress" if (tick := (f["data"]["details"] or {}).get("tick"))
    }
    assert len([tick for tick in ticks if emitted_at_stall < tick <= emitted_at_drop]) > 50, sorted(ticks)


@pytest.mark.parametrize("ws_max_unsent_bytes", [FAR_BUDGET_BYTES])
@pytest.mark.parametrize("ws_send_timeout_s", [NEVER_S])
@pytest.mark.usefixtures("overflowed_at")
async def test_a_client_that_falls_too_many_status_events_behind_is_closed_with_1008(
    api: Api, engine: ServerEngine, burst: Burst, closes: Closes, stalled: Stalled
) -> None:
    loop = asyncio.get_running_loop()
    slow, handler = stalled.slow, stalled.handler
    burst.stop.set()
    # It reads again: behind what was already queued comes the close frame.
    frames_read = 0
    while True:
        opcode, payload = await slow.read_frame(loop.time() + DEADLINE_S)
        if opcode == OP_CLOSE:
            break
        frames_read += 1
    (code,), reason = struct.unpack(">H", payload[:2]), payload[2:].decode()
    await slow.send(payload[:2], opcode=OP_CLOSE)  # complete the closing handshake
    await slow.read_to_eof(loop.time() + DEADLINE_S)
    await eventually(lambda: handler not in engine.sockets, "the handler to close", DEADLINE_S)
    closed_after_s = loop.time() - stalled.stalled_at
    await assert_the_rest_carried_on(api, stalled)
    assert (code, reason) == (TOO_SLOW, TOO_SLOW_BY_EVENTS)
    assert closes_of(closes, handler) == [(TOO_SLOW, TOO_SLOW_BY_EVENTS)]
    assert frames_read > 0
    assert closed_after_s < NEVER_S / 2  # so the overflow closed it, not the send timeout


@pytest.mark.parametrize("ws_max_unsent_bytes", [FAR_BUDGET_BYTES])
@pytest.mark.parametrize("ws_send_timeout_s", [NEVER_S])
async def test_an_overflow_closes_a_client_stuck_in_a_write_at_once_not_after_the_send_timeout(
    api: Api, engine: ServerEngine, burst: Burst, closes: Closes, stalled: Stalled, overflowed_at: float
) -> None:
    loop = asyncio.get_running_loop()
    handler = stalled.handler  # the slow client never reads again: its pump is stuck in a write
    await eventually(lambda: bool(closes_of(closes, handler)), "the pump to close the connection", PROMPT_S)
    close_after_s = loop.time() - overflowed_at
    await eventually(lambda: handler not in engine.sockets, "the handler to close", DEADLINE_S)
    gone_after_s = loop.time() - overflowed_at
    assert not stalled.following.done()  # the good client is still there
    burst.stop.set()
    assert closes_of(closes, handler) == [(TOO_SLOW, TOO_SLOW_BY_EVENTS)]
    # Only now, with the server's end gone, does it read: the queued frames, then EOF (or a reset).
    await stalled.slow.read_to_eof(loop.time() + DEADLINE_S)
    await assert_the_rest_carried_on(api, stalled)
    print(f"overflow -> close(1008): {close_after_s:.3f} s; -> handler closed: {gone_after_s:.3f} s")
    assert close_after_s < PROMPT_S  # not the send timeout, NEVER_S
    assert gone_after_s < CLOSE_HANDSHAKE_S + PROMPT_S


@pytest.mark.parametrize("ws_max_unsent_bytes", [SMALL_BUDGET_BYTES])
@pytest.mark.parametrize("ws_send_timeout_s", [NEVER_S])
async def test_a_client_that_asks_for_more_than_it_reads_is_closed_at_its_byte_budget(
    api: Api, engine: ServerEngine, closes: Closes, unsent: Unsent, raw_ws: RawConnect
) -> None:
    """Pings answered with pongs it never reads: the replies pile up until the next one would pass
    ``ws_max_unsent_bytes``, and the connection is closed then, not after the send timeout."""
    loop = asyncio.get_running_loop()
    before = set(engine.sockets)
    slow = await raw_ws()
    try:
        await eventually(
            lambda: len(engine.sockets - before) == 1, "the slow client's handler to open", DEADLINE_S
        )
        (handler,) = engine.sockets - before
        assert isinstance(handler, JobsWebSocket)
        ping = json.dumps({"type": "ping"}).encode()
        deadline = loop.time() + DEADLINE_S
        pings = 0
        while not closes_of(closes, handler):
            assert loop.time() < deadline, f"still open after {pings} unread pongs"
            await slow.send_many([ping] * 500)
            pings += 500
            await asyncio.sleep(0.01)  # let the server read them
        closed_at = loop.time()
        [(code, reason)] = closes_of(closes, handler)
        assert code == TOO_SLOW
        match = TOO_SLOW_BY_BYTES.fullmatch(reason or "")
        assert match is not None, reason
        held, limit = int(match.group(1)), int(match.group(2))
        assert limit == SMALL_BUDGET_BYTES and held <= limit
        assert_within_budget(unsent, handler, SMALL_BUDGET_BYTES)
        # The close frame waits behind what the client never read: Tornado drops the connection after
        # its closing handshake times out, and the bytes go with it.
        await eventually(
            lambda: handler not in engine.sockets, "the handler to close", CLOSE_HANDSHAKE_S + PROMPT_S
        )
        assert loop.time() - closed_at < CLOSE_HANDSHAKE_S + PROMPT_S
        await slow.read_to_eof(loop.time() + DEADLINE_S)
    finally:
        slow.close()
    code, status = await api("GET", "status")
    assert code == 200, status


async def flood_until_overflow(manager: JobManager, slow: RawWebSocket, gates: list[asyncio.Event]) -> None:
    """Have the slow client watch a batch of held jobs, then let them finish (running and completed: two live
    status events each), until its subscription overflows and the bus drops it. Every flood job completes."""
    submitted: list[str] = []

    def overflowed() -> bool:  # only the slow client watches the flood's jobs
        return bool(submitted) and not manager.events.has_watchers(submitted[0])

    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not overflowed():
        assert loop.time() < deadline, f"no overflow after {len(submitted)} watched jobs"
        gates.append(asyncio.Event())
        batch = [await manager.submit("held", {"round": len(gates) - 1}) for _ in range(FLOOD_BATCH)]
        for flood_job in batch:
            await slow.send_json({"type": "watch", "job_id": flood_job})
        first_round = not submitted
        submitted += batch

        def handled(last: str = batch[-1], first_round: bool = first_round) -> bool:
            # frames are handled in order; once overflowed, later watches are ignored
            return manager.events.has_watchers(last) or (not first_round and overflowed())

        await eventually(handled, "the slow client's watch frames to be handled", DEADLINE_S)
        gates[-1].set()
        done = await asyncio.gather(*(manager.wait(flood_job, timeout_s=DEADLINE_S) for flood_job in batch))
        assert {job.status for job in done} == {JobStatus.COMPLETED}
