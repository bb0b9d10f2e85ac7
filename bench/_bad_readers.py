"""``bench/server.py --bad-readers N``: WebSocket clients that never read, against a server streaming jobs.

One ``jupyter server`` (its own process) runs ``jobs`` ticker jobs that report progress at ``hz`` with
``pad_bytes`` of streamed text each, watched by ``good`` clients that read everything. Three phases, side by
side in one run, each ``phase_s`` long at least:

1. *baseline*: the server's RSS (``/proc/<pid>/status``), ``GET lpe/api/jobs`` latency (a poller at 20 Hz, in a
   process of its own: ``bench/_poller.py``)
   and the good clients' publish-to-receipt latency;
2. *during*: ``readers`` bare TCP clients do the WebSocket handshake, watch every job, and never read
   again; the phase lasts until the server holds none of them (``lpe-bench/sockets``), and records the
   peak RSS;
3. *after*: the bad clients' sockets are closed, the same figures again.

Then the tickers are stopped and every good client must see every job ``completed``. The server's log says
why it closed each bad client (``too slow: ...``); the reasons are tallied.

``--control`` runs the same with clients that read everything and close themselves after
:data:`CONTROL_HOLD_S`: what any such crowd of connections costs, slow or not. ``--bad-watches 0``: bad
clients that watch nothing (so are sent nothing, and close themselves after :data:`CONTROL_HOLD_S`): what
the 300 handshakes alone cost.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import socket
import statistics
import struct
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

if TYPE_CHECKING:
    from bench.server import Server

POLL_INTERVAL_S = 0.05
REQUEST_TIMEOUT_S = 30.0
DROP_DEADLINE_S = 120.0
PROFILE_S = 3.0  # how much of the flood's start ``profile`` records: the first second or two is what is slow
CONTROL_HOLD_S = 20.0  # about as long as the server held clients that never read, before the byte bound
_TOO_SLOW = "closing a WebSocket client: too slow: "


def rss_bytes(pid: int) -> int:
    """The resident set size of process ``pid`` (Linux ``/proc``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class RawReader:
    """A WebSocket client on a bare socket that sends its watch frames and never reads again."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def connect(cls, server: Server, job_ids: list[str]) -> RawReader:
        loop = asyncio.get_running_loop()
        host, port = server.url.split("//", 1)[1].rstrip("/").split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (host, int(port)))
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET /lpe/ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: token {server.token}\r\n\r\n"
            )
            await loop.sock_sendall(sock, request.encode())
            response = b""
            while b"\r\n\r\n" not in response:
                chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), REQUEST_TIMEOUT_S)
                if not chunk:
                    raise RuntimeError(f"the server closed the upgrade: {response!r}")
                response += chunk
            if not response.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"not upgraded: {response[:200]!r}")
            frames = b"".join(_masked(json.dumps({"type": "watch", "job_id": j}).encode()) for j in job_ids)
            await loop.sock_sendall(sock, frames)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    async def drain(self) -> tuple[int, int | None]:
        """Read what the kernel still held for us, to EOF: (bytes, the close code if a close frame came)."""
        loop = asyncio.get_running_loop()
        data = bytearray()
        try:
            while chunk := await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 16), 5.0):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return len(data), _close_code(bytes(data))

    def close(self) -> None:
        self.sock.close()


def _masked(payload: bytes) -> bytes:
    mask = os.urandom(4)
    size = len(payload)
    header = struct.pack(">BB", 0x81, 0x80 | size) if size < 126 else struct.pack(">BBH", 0x81, 0xFE, size)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _close_code(data: bytes) -> int | None:
    """The code of the close frame among ``data``'s frames (unmasked, as a server sends), if any; ``data``
    may end inside a frame (the server dropped the connection with frames still to send)."""
    pos = 0
    while pos + 2 <= len(data):
        opcode, size, start = data[pos] & 0x0F, data[pos + 1] & 0x7F, pos + 2
        if size == 126:
            if pos + 4 > len(data):
                return None
            (size,), start = struct.unpack(">H", data[pos + 2 : pos + 4]), pos + 4
        elif size == 127:
            if pos + 10 > len(data):
                return None
            (size,), start = struct.unpack(">Q", data[pos + 2 : pos + 10]), pos + 10
        if opcode == 0x8 and start + 2 <= len(data):
            code: int = struct.unpack(">H", data[start : start + 2])[0]
            return code
        pos = start + size
    return None


@dataclass
class Phase:
    """What one phase measured."""

    name: str
    get_jobs_ms: list[float] = field(default_factory=list)
    get_jobs_at_s: list[float] = field(default_factory=list)  # when each began, from the phase's start
    rss: list[int] = field(default_factory=list)
    ws_latency_ms: list[float] = field(default_factory=list)
    own_loop_lag_ms: list[float] = field(default_factory=list)  # this benchmark's loop, not the server's
    started: float = field(default_factory=time.monotonic)
    started_unix: float = field(default_factory=time.time)  # to line up with the server's own records
    ended: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "seconds": round(self.ended - self.started, 1),
            "get_jobs_requests": len(self.get_jobs_ms),
            "get_jobs_ms": {
                "p50": round(percentile(self.get_jobs_ms, 0.5), 2),
                "p99": round(percentile(self.get_jobs_ms, 0.99), 2),
                "max": round(max(self.get_jobs_ms), 2),
            },
            # which requests were slow, and when: (seconds into the phase, ms)
            "get_jobs_slowest": [
                (round(at, 2), round(ms, 1))
                for ms, at in sorted(zip(self.get_jobs_ms, self.get_jobs_at_s, strict=True), reverse=True)[:5]
            ],
            "started_unix": round(self.started_unix, 3),
            "rss_mib": {
                "median": round(statistics.median(self.rss) / 2**20, 1),
                "max": round(max(self.rss) / 2**20, 1),
            },
            # why the poller is a process of its own: what this process's loop was doing meanwhile
            "bench_loop_lag_ms": {
                "p99": round(percentile(self.own_loop_lag_ms, 0.99), 1) if self.own_loop_lag_ms else None,
                "max": round(max(self.own_loop_lag_ms), 1) if self.own_loop_lag_ms else None,
            },
            "ws_latency_ms": {
                "frames": len(self.ws_latency_ms),
                "p50": round(percentile(self.ws_latency_ms, 0.5), 2) if self.ws_latency_ms else None,
                "p99": round(percentile(self.ws_latency_ms, 0.99), 2) if self.ws_latency_ms else None,
            },
        }


class Run:
    """The shared state of the phases: which phase is current, and the background samplers."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.phase = self._setup = Phase("setup")
        self.phases: list[Phase] = []

    def begin(self, name: str) -> Phase:
        self.phase.ended = time.monotonic()
        self.phase = Phase(name)
        self.phases.append(self.phase)
        return self.phase

    async def poll_jobs(self) -> None:
        """GET lpe/api/jobs at 20 Hz, sequentially, from a process of its own (``bench/_poller.py``: not
        timed by this loop, which the attacking clients keep busy), each latency recorded in the phase the
        request began in."""
        poller = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).with_name("_poller.py")),
            self.server.url,
            self.server.token,
            str(POLL_INTERVAL_S),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert poller.stdout is not None and poller.stdin is not None
        try:
            async for line in poller.stdout:
                began, took = line.decode().split()
                if began == "error":
                    raise RuntimeError(f"GET lpe/api/jobs answered {took}")
                phase = self._phase_at(float(began))
                phase.get_jobs_ms.append(float(took))
                phase.get_jobs_at_s.append(float(began) - phase.started_unix)
        finally:
            poller.stdin.close()  # the poller's signal to stop
            await poller.wait()

    def _phase_at(self, unix: float) -> Phase:
        """The phase under way at ``unix`` (the setup before the first)."""
        for phase in reversed(self.phases):
            if phase.started_unix <= unix:
                return phase
        return self._setup

    async def sample_rss(self) -> None:
        while True:
            self.phase.rss.append(rss_bytes(self.server.pid))
            await asyncio.sleep(0.25)

    async def sample_own_loop_lag(self, period_s: float = 0.005) -> None:
        """How late this benchmark's own loop wakes from a ``period_s`` sleep: the delay a poller on this
        loop would have added to each request it timed."""
        while True:
            started = time.perf_counter()
            await asyncio.sleep(period_s)
            self.phase.own_loop_lag_ms.append((time.perf_counter() - started - period_s) * 1000)

    async def follow(self, job_ids: list[str], seen: dict[str, list[str]]) -> None:
        """A good client: watch ``job_ids``, read everything, record statuses and progress latency."""
        url = self.server.url.replace("http://", "ws://") + "lpe/ws"
        conn = await websocket_connect(HTTPRequest(url, headers=self.server.headers))
        try:
            for job_id in job_ids:
                await conn.write_message(json.dumps({"type": "watch", "job_id": job_id}))
            done: set[str] = set()
            while len(done) < len(job_ids):
                message = await conn.read_message()
                received_ns = time.time_ns()
                if message is None:
                    raise RuntimeError("the server closed a good client")
                frame = json.loads(message)
                if frame["type"] == "status":
                    seen.setdefault(frame["job_id"], []).append(frame["status"])
                    if frame["status"] in ("completed", "failed", "cancelled"):
                        done.add(frame["job_id"])
                elif frame["type"] == "progress":
                    t_ns = (frame["data"].get("details") or {}).get("t_ns")
                    if t_ns:
                        self.phase.ws_latency_ms.append((received_ns - t_ns) / 1e6)
        finally:
            conn.close()


async def _post(client: AsyncHTTPClient, server: Server, path: str, body: dict[str, Any]) -> Any:
    response = await client.fetch(
        server.url + path,
        method="POST",
        headers={**server.headers, "Content-Type": "application/json"},
        body=json.dumps(body),
        request_timeout=REQUEST_TIMEOUT_S,
    )
    return json.loads(response.body) if response.body else None


async def _open_sockets(client: AsyncHTTPClient, server: Server) -> int:
    response = await client.fetch(
        server.url + "lpe-bench/sockets", headers=server.headers, request_timeout=REQUEST_TIMEOUT_S
    )
    held: int = json.loads(response.body)["open"]
    return held


async def _reads_from_memory(client: AsyncHTTPClient, server: Server) -> int | None:
    response = await client.fetch(
        server.url + "lpe-bench/reads-from-memory", headers=server.headers, request_timeout=REQUEST_TIMEOUT_S
    )
    reads: int | None = json.loads(response.body)["reads"]
    return reads


async def _open_all(
    connect: Callable[[], Awaitable[RawReader]], count: int, concurrency: int = 50
) -> list[RawReader]:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> RawReader:
        async with gate:
            return await connect()

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _reading_flood(server: Server, job_ids: list[str], readers: int, *, hold_s: float) -> None:
    """``readers`` clients that watch every job and read everything for ``hold_s``, then close."""
    url = server.url.replace("http://", "ws://") + "lpe/ws"

    reading: list[asyncio.Task[None]] = []

    async def read(conn: Any) -> None:
        while await conn.read_message() is not None:
            pass

    async def connect() -> Any:
        conn = await websocket_connect(HTTPRequest(url, headers=server.headers))
        reading.append(asyncio.create_task(read(conn)))  # at once: a client that waited would be a bad one
        for job_id in job_ids:
            await conn.write_message(json.dumps({"type": "watch", "job_id": job_id}))
        return conn

    gate = asyncio.Semaphore(50)

    async def one() -> Any:
        async with gate:
            return await connect()

    conns = await asyncio.gather(*(one() for _ in range(readers)))
    await asyncio.sleep(hold_s)
    for conn in conns:
        conn.close()
    await asyncio.gather(*reading, return_exceptions=True)


async def bad_readers(
    server: Server,
    *,
    readers: int,
    jobs: int,
    hz: float,
    pad_bytes: int,
    good: int,
    phase_s: float,
    reading: bool = False,
    watches: int | None = None,
    profile: Callable[[], AbstractContextManager[None]] | None = None,
) -> dict[str, Any]:
    """The three phases (module doc); ``profile`` (a py-spy recording, say) is entered just before the
    bad clients come and left :data:`PROFILE_S` after."""
    run = Run(server)
    watches = jobs if watches is None else watches
    client = AsyncHTTPClient()
    setup = {
        "jobs": jobs,
        "hz": hz,
        "duration_s": 3600,  # until lpe-bench/stop
        "start_at_ns": time.time_ns() + 2_000_000_000,
        "staggered": True,
        "pad_bytes": pad_bytes,
    }
    job_ids: list[str] = (await _post(client, server, "lpe-bench/setup", setup))["job_ids"]
    seen: dict[str, list[str]] = {}
    followers = [
        asyncio.create_task(run.follow(job_ids[i::good], seen), name=f"good-{i}") for i in range(good)
    ]
    samplers = [
        asyncio.create_task(run.poll_jobs()),
        asyncio.create_task(run.sample_rss()),
        asyncio.create_task(run.sample_own_loop_lag()),
    ]
    bad: list[RawReader] = []
    try:
        await asyncio.sleep(3.0 + phase_s / 2)  # warm up: tickers running, followers reading
        run.begin("baseline")
        await asyncio.sleep(phase_s)

        profiling = contextlib.ExitStack()
        if profile is not None:
            profiling.enter_context(profile())
            await asyncio.sleep(0.3)  # py-spy attaching
        from_memory_before = await _reads_from_memory(client, server)
        during = run.begin("during")
        with profiling:
            if reading:  # the control: as many clients, reading everything, closed by themselves
                await _reading_flood(server, job_ids, readers, hold_s=CONTROL_HOLD_S)
            else:
                bad = await _open_all(lambda: RawReader.connect(server, job_ids[:watches]), readers)
            connected_s = time.monotonic() - during.started
            await asyncio.sleep(max(0.0, PROFILE_S - connected_s) if profile is not None else 0.0)
        if bad and not watches:  # nothing is sent to them, so nothing drops them: the handshakes alone
            await asyncio.sleep(CONTROL_HOLD_S)
            for reader in bad:
                reader.close()
            bad = []
        deadline = time.monotonic() + DROP_DEADLINE_S
        while (held := await _open_sockets(client, server)) > good:
            if time.monotonic() > deadline:
                tail = server.log.read_text(errors="replace")[-2000:]
                raise TimeoutError(
                    f"{held - good} bad clients still held after {DROP_DEADLINE_S:g} s:\n{tail}"
                )
            await asyncio.sleep(0.25)
        dropped_s = time.monotonic() - during.started
        drained = [await reader.drain() for reader in bad]
        for reader in bad:
            reader.close()
        bad = []
        await asyncio.sleep(max(0.0, phase_s - (time.monotonic() - during.started)))

        run.begin("after")
        from_memory_after = await _reads_from_memory(client, server)
        await asyncio.sleep(phase_s)
        run.begin("stopping")
        await _post(client, server, "lpe-bench/stop", {})
        await asyncio.wait_for(asyncio.gather(*followers), REQUEST_TIMEOUT_S)
    finally:
        for reader in bad:
            reader.close()
        for task in (*samplers, *followers):
            task.cancel()
        await asyncio.gather(*samplers, *followers, return_exceptions=True)

    reasons = Counter(
        # "262913 bytes unsent, the limit is 262144": one reason, whatever the count
        re.sub(r"^\d+ bytes unsent", "N bytes unsent", line.split(_TOO_SLOW, 1)[1].split(";", 1)[0])
        for line in server.log.read_text(errors="replace").splitlines()
        if _TOO_SLOW in line
    )
    every_status = all(seen.get(job_id, [])[-1:] == ["completed"] for job_id in job_ids)
    phases = {phase.name: phase.summary() for phase in run.phases if phase.name != "stopping"}
    baseline_rss = phases["baseline"]["rss_mib"]["median"]
    after_rss = phases["after"]["rss_mib"]["median"]
    return {
        "readers": readers,
        "readers_read": reading,
        "watches": watches,
        "jobs": jobs,
        "hz": hz,
        "pad_bytes": pad_bytes,
        "good_clients": good,
        "phases": phases,
        "bad_connected_s": round(connected_s, 1),
        "bad_dropped_after_s": round(dropped_s, 1),
        "bad_bytes_received": sum(size for size, _ in drained),
        "bad_close_frames": dict(Counter(str(code) for _, code in drained)),
        "server_close_reasons": dict(reasons),
        "good_clients_saw_every_job_completed": every_status,
        "rss_after_vs_baseline": round(after_rss / baseline_rss, 3),
        # the poller's pages answered without a read of the database (nothing committed since the last)
        "get_jobs_during_from_memory": (
            None
            if from_memory_before is None or from_memory_after is None
            else from_memory_after - from_memory_before
        ),
        "get_jobs_p99_during_ms": phases["during"]["get_jobs_ms"]["p99"],
        "get_jobs_p99_ratio_during_vs_baseline": round(
            phases["during"]["get_jobs_ms"]["p99"] / phases["baseline"]["get_jobs_ms"]["p99"], 2
        ),
    }
