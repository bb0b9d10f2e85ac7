"""The WebSocket at ``{base_url}lpe/ws``: watch jobs and receive their progress and status live.

Client frames: ``{"type": "watch", "job_id": ..., "since": N?}``, ``{"type": "unwatch", "job_id": ...}``,
``{"type": "ping"}``. Server frames: the job events of :meth:`JobEvent.to_message` (``progress`` and
``status``), ``{"type": "pong"}`` and ``{"type": "error", "job_id": ... or null, **LpeError.to_dict()}``
(``error`` code, ``message``, ``fields``, ``details``, as in a REST error body); a bad frame gets an
``invalid_input`` error frame naming the field, and the connection stays open.

Each connection has one subscription and one task that pumps it to the socket, and what the server holds
for a client is bounded three ways; past any bound the client is closed with 1008 and a reason saying
which, at once:

- *bytes*: the kernel's send buffer is capped at :data:`KERNEL_SEND_BUFFER_BYTES` (an autotuned one grows
  to megabytes: 300 clients that never read held 189.5 MiB that way, issue 15). Once it is full, a
  client's *unsent bytes* are what waits in Tornado's stream buffer plus every frame published for the
  client since, whether still queued in its subscription or already superseded there by later progress
  (:meth:`Subscription.meter_bytes`); past ``ws_max_unsent_bytes`` the client is dropped as the event that
  passes it is published, unless its socket took some bytes meanwhile (the client's end acknowledged
  some: ``SIOCOUTQ`` on Linux), which starts the count again. So a
  reader that stopped is dropped after about ``ws_max_unsent_bytes`` of its jobs' output (1.5 s of 50
  jobs streaming 512 B at 20 Hz), where the time bound below takes 10 s, while a slow reader is not as long as
  it takes something before that much more is published, and gets coalesced progress (the default of
  1 MiB rather than 256 KiB so that a reader that pauses for a second, a browser tab or a busy kernel, is
  not dropped: what is superseded is counted, not held, so a bigger budget costs no memory). Replies count
  too, checked at every write (a client can ask for pongs and errors without reading them);
- *events*: frames are written only once the previous ones have left, so the stream buffer holds at most
  one write; meanwhile the subscription coalesces progress, and a reader more than
  ``ws_max_queued_events`` status events behind overflows it;
- *time*: that wait for the socket ends after ``ws_send_timeout_s`` in which it took no byte (a quiet
  stream's bytes would take long to pass the budget).

Why not let event frames pile up in the stream buffer up to the byte budget: each write Tornado has not
flushed holds a future, so 300 readers that stopped kept ~100 each, +85 MiB that the allocator did not
give back after they were dropped (``bench/server.py --bad-readers 300``), where waiting keeps them at
one, and lets a slow reader get the latest progress instead of a stale backlog. What is ready when the
socket can take it goes out in one write of up to :data:`WRITE_BATCH_BYTES`: one syscall and one future
for a watch's snapshot, not one per frame (300 new sockets take ~200 KB each before they are full).

A crowd is let in a few at a time: at most so many upgrades (Jupyter's authentication included), watch
commands and writes run in one loop iteration (:class:`~lpe_nb.server_ext._turns.WebSocketTurns`), the
rest in the next ones in their order of arrival. 300 clients connecting together otherwise made iterations
of 40-100 ms, and a ``GET lpe/api/jobs`` meanwhile, which needs about five iterations, waited for each.

Each event is encoded once for all its subscribers (:meth:`JobEvent.to_frame`). Like the kernel socket,
authentication happens in ``get`` and the server's pings keep the connection alive; unlike it, the Origin
header is checked even for token-authenticated requests, since a browser page on another origin has no
business watching jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import Iterator
from typing import Any

try:  # Linux: what the kernel still holds for a client (JobsWebSocket._kernel_queued)
    import fcntl
    import termios

    _SIOCOUTQ: int | None = termios.TIOCOUTQ  # the same request number for a TCP socket
except (ImportError, AttributeError):  # not Linux: Tornado's buffer alone tells
    _SIOCOUTQ = None

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from lpe_nb._bounded_json import loads_bounded
from lpe_nb.errors import InvalidInput, LpeError
from lpe_nb.jobs import JobEvent, Subscription, SubscriptionClosed
from lpe_nb.server_ext.engine import ServerEngine
from lpe_nb.server_ext.handlers import AUTH_RESOURCE, ENGINE_SETTING
from lpe_nb.server_ext.users import Viewer, viewer_of

__all__ = ["KERNEL_SEND_BUFFER_BYTES", "TOO_SLOW", "WRITE_BATCH_BYTES", "WS_PATH", "JobsWebSocket"]

WS_PATH = "lpe/ws"
TOO_SLOW = 1008  # policy violation: the client does not read what it asked for
# Linux doubles what is asked for: 64 KiB in flight, ~640 KB/s at 100 ms of round trip, plenty for job
# events (a slower link gets coalesced progress); a client that stops reading fills it at once.
KERNEL_SEND_BUFFER_BYTES = 32 * 1024
# Frames ready together go out in one write of about this much (a frame is never split): a watch's
# snapshot in one syscall, and less than the kernel's buffer, so a batch rarely waits in Tornado's.
WRITE_BATCH_BYTES = 16 * 1024
_FIN_TEXT = 0x81  # FIN bit and the text opcode
_MAX_FRAME_BYTES = 64 * 1024
_MAX_JOB_ID_CHARS = 64
_RECONNECT = "reconnect and watch again"


class JobsWebSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """One client connection; see the module docstring for the protocol."""

    auth_resource = AUTH_RESOURCE

    _sub: Subscription | None = None
    _pump: asyncio.Task[None] | None = None
    _since: dict[str, int]
    _dropped: str | None = None  # why the server closed the connection for being too slow
    _viewer: Viewer | None = None  # whose jobs this connection may watch, fixed at the upgrade
    _stuck_bytes = 0  # what Tornado held when the pump began to wait for the socket, or last saw it take
    _stuck_queued = 0  # the same for the kernel's send queue

    @property
    def engine(self) -> ServerEngine:
        engine: ServerEngine = self.settings[ENGINE_SETTING]
        return engine

    def set_default_headers(self) -> None:
        """JupyterHandler's page headers make no sense on a WebSocket upgrade."""

    @property
    def max_message_size(self) -> int:
        return _MAX_FRAME_BYTES

    def skip_check_origin(self) -> bool:
        return False

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        """Jupyter's authentication, in turn: a crowd connecting at once is let in a few per loop iteration
        (:class:`~lpe_nb.server_ext._turns.WebSocketTurns`), so the requests of others are not queued
        behind all their handshakes."""
        await self.engine.ws_turns.upgrades.turn()
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None and stream.closed():
            # It left while it waited: Tornado has called on_close already and would not again, so an
            # upgrade now would leave its subscription and pump behind.
            raise web.Finish()
        await super().prepare(*args, **kwargs)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Authorize, then upgrade (Tornado checks the origin during the upgrade)."""
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403)
        # another user's job is "not found" here too (jobs_per_user), the same frame as for no such job
        self._viewer = await viewer_of(self, self.engine.config.users, action="read")
        try:
            await self.engine.ready()
        except LpeError as exc:  # the database cannot be used: the routes' JSON answer, not a traceback
            self.set_status(exc.http_status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(exc.to_dict(), default=str))
            return
        await super().get(*args, **kwargs)

    async def open(self, *args: Any, **kwargs: Any) -> None:
        super().open()  # starts the keep-alive pings
        self._cap_kernel_send_buffer()
        manager = (await self.engine.ready()).manager
        self._since = {}
        self._sub = manager.events.subscribe((), max_pending=self.engine.config.ws_max_queued_events)
        self._pump = asyncio.create_task(self._pump_events(self._sub), name="lpe-ws-pump")
        self.engine.sockets.add(self)

    def on_close(self) -> None:
        self.engine.sockets.discard(self)
        self.engine.trim_after_closing.closed()  # after a crowd, what it held goes back to the system
        # jupyter_server stops its keep-alive pings only at the next one, up to 30 s later, and until then
        # they keep this handler alive with what it holds: 15 s after 300 clients watching 50 jobs were
        # dropped, 76 handlers still held 3,800 queued events (bench/server.py --bad-readers). Stop them now.
        if self.ping_callback is not None:
            self.ping_callback.stop()
            self.ping_callback = None
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    async def on_message(self, message: str | bytes) -> None:
        """Handle one client frame; Tornado waits for this before reading the next, so order is kept."""
        try:
            frame = _parse_frame(message)
        except InvalidInput as exc:
            self._send_error(None, exc)
            return
        kind, job_id = frame["type"], str(frame.get("job_id", ""))
        if kind == "ping":
            self._send_nowait({"type": "pong"})
        elif kind == "watch":
            await self.engine.ws_turns.watches.turn()
            await self._watch(job_id, frame.get("since"))
        else:  # unwatch
            if self._sub is not None:
                self._sub.unwatch(job_id)
            self._since.pop(job_id, None)

    async def _watch(self, job_id: str, since: int | None) -> None:
        sub = self._sub
        if sub is None or sub.closed:
            return
        if job_id not in self._since and len(self._since) >= self.engine.config.ws_max_watches:
            limit = self.engine.config.ws_max_watches
            problem = f"cannot be watched: this connection already watches {limit} jobs; unwatch one first"
            self._send_error(job_id, InvalidInput.field("job_id", problem))
            return
        self._since[job_id] = since if since is not None else 0
        try:
            only = None if self._viewer is None else self._viewer.only
            await (await self.engine.ready()).manager.watch(sub, job_id, username=only)
        except LpeError as exc:
            self._since.pop(job_id, None)
            self._send_error(job_id, exc)

    # -- the send path ---------------------------------------------------------------------------------

    @property
    def unsent_bytes(self) -> int:
        """What this client has not taken (see the module doc): the bytes Tornado holds because the kernel
        has not taken them, plus, while the pump waits for the socket, those published for it since."""
        sub = self._sub
        return self._stream_unsent() + (0 if sub is None else sub.metered_bytes)

    def _stream_unsent(self) -> int:
        stream = getattr(self.ws_connection, "stream", None)
        # Tornado has no public measure of its write buffer; its own bound (max_write_buffer_size) raises
        # from inside write(), for pings and the close frame too, so the budget is checked here instead.
        return 0 if stream is None else len(stream._write_buffer)

    def _cap_kernel_send_buffer(self) -> None:
        stream = getattr(self.ws_connection, "stream", None)
        sock = getattr(stream, "socket", None)
        if isinstance(sock, socket.socket):
            # OSError: a socket whose buffer cannot be set (not TCP, say) keeps the kernel's default
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_SEND_BUFFER_BYTES)

    def _send(self, frames: list[bytes]) -> asyncio.Future[None] | None:
        """Queue ``frames`` (UTF-8 JSON each) for the client; None if it is gone or was just closed for
        being over its byte budget."""
        if self._dropped is not None:
            return None
        unsent, limit = self.unsent_bytes, self.engine.config.ws_max_unsent_bytes
        if unsent and unsent + sum(map(len, frames)) > limit:
            self._drop(f"{unsent} bytes unsent, the limit is {limit}")
            return None
        try:
            write = self._write_frames(frames)
        except (WebSocketClosedError, StreamClosedError):
            return None
        write.add_done_callback(_ignore_closed)
        return write

    def _write_frames(self, frames: list[bytes]) -> asyncio.Future[None]:
        """Write ``frames`` as text frames in one stream write; its future is done once the kernel has
        taken them all.

        Tornado writes one frame per ``write_message``, each wrapped in a task only to turn
        ``StreamClosedError`` into ``WebSocketClosedError``, and each a syscall and a future of the stream:
        a tenth of the server's CPU with 300 clients that stopped reading, most of it with 300 that connect
        at once (``bench/server.py --bad-readers``). So the frames are framed here (RFC 6455: a server's
        text frame is 0x81, the length, the payload unmasked) and go to the protocol's stream together; the
        callers take either error as "gone". A connection Tornado compresses or masks (never here: no
        extension is negotiated, and a server does not mask) keeps Tornado's path, a frame at a time.
        """
        protocol = self.ws_connection
        if protocol is None or protocol.is_closing():
            raise WebSocketClosedError()
        stream = getattr(protocol, "stream", None)
        if (
            stream is None
            or getattr(protocol, "_compressor", None) is not None
            or getattr(protocol, "mask_outgoing", True)
        ):
            writes = [self.write_message(frame) for frame in frames]  # bytes: not encoded again
            for write in writes[:-1]:
                write.add_done_callback(_ignore_closed)
            return writes[-1]
        future: asyncio.Future[None] = stream.write(b"".join(_framed(frames)))
        return future

    def _drop(self, why: str) -> None:
        """Close the connection with 1008 now (once), saying why; Tornado then waits a few seconds for the
        client's close frame before it drops the TCP connection."""
        if self._dropped is None:
            self._dropped = f"too slow: {why}; {_RECONNECT}"
            self.log.info("lpe_nb: closing a WebSocket client: %s", self._dropped)
            self.close(TOO_SLOW, self._dropped)

    async def _pump_events(self, sub: Subscription) -> None:
        """Move events from the subscription to the socket, in order, within the bounds of the module doc."""
        config = self.engine.config
        budget = config.ws_max_unsent_bytes
        ended = asyncio.create_task(sub.wait_closed(), name="lpe-ws-sub-ended")
        try:
            while True:
                first = await sub.get()
                await self.engine.ws_turns.writes.turn()  # what comes meanwhile goes in the same write
                frames = self._frames_ready(first, sub)
                if not frames:
                    continue  # the client has them already (``since``)
                write = self._send(frames)
                if write is None:
                    return
                self._stuck_bytes = self._stream_unsent()
                if self._stuck_bytes:  # the kernel's buffer is full: coalesce, meter what comes meanwhile
                    self._stuck_queued = self._kernel_queued() or 0
                    sub.meter_bytes(budget - self._stuck_bytes, renew=self._renewed_byte_limit)
                    await self._drained_or_stuck(write, sub, ended, config.ws_send_timeout_s)
                    sub.stop_metering()
        except SubscriptionClosed as closed:
            if closed.overflowed and sub.overflowed_by == "bytes":
                unsent = self._stuck_bytes + sub.metered_bytes
                self._drop(f"{unsent} bytes unsent, the limit is {budget}")
            elif closed.overflowed:
                self._drop(f"more than {sub.max_pending} status events waited to be sent")
        except TimeoutError:
            self._drop(f"what was sent did not leave within {config.ws_send_timeout_s:g} s")
        except (WebSocketClosedError, StreamClosedError):
            pass
        finally:
            ended.cancel()

    def _frames_ready(self, first: JobEvent, sub: Subscription) -> list[bytes]:
        """``first`` and the events queued behind it, up to :data:`WRITE_BATCH_BYTES`, as frames; without
        those the client has already (``since``)."""
        frames: list[bytes] = []
        size = 0
        event: JobEvent | None = first
        while event is not None:
            if event.seq > self._since.get(event.job_id, 0):
                frame = event.to_frame()
                frames.append(frame)
                size += len(frame)
                if size >= WRITE_BATCH_BYTES:
                    break
            event = sub.get_nowait()
        return frames

    def _took_some(self) -> bool:
        """Whether the socket took bytes since the pump began to wait (or since last asked): the client's
        end acknowledged some (it read, or its kernel had room), or Tornado's buffer shrank."""
        held, queued = self._stream_unsent(), self._kernel_queued()
        took = held < self._stuck_bytes or (queued is not None and queued < self._stuck_queued)
        self._stuck_bytes, self._stuck_queued = held, queued or 0
        return took

    def _kernel_queued(self) -> int | None:
        """Bytes in the kernel's send queue that the client has not acknowledged (Linux ``SIOCOUTQ``),
        None where that cannot be asked. It falls as soon as the client reads a little, where Tornado's
        buffer moves only once the kernel's is a third empty (too coarse for a slow reader)."""
        stream = getattr(self.ws_connection, "stream", None)
        sock = getattr(stream, "socket", None)
        if _SIOCOUTQ is None or not isinstance(sock, socket.socket):
            return None
        try:
            queued: int = struct.unpack("i", fcntl.ioctl(sock.fileno(), _SIOCOUTQ, b"\0" * 4))[0]
        except OSError:  # closed meanwhile
            return None
        return queued

    def _renewed_byte_limit(self) -> int | None:
        """The subscription's bytes passed the budget: a new limit if the socket took some meanwhile (a slow
        reader, not a stopped one: count afresh from what Tornado still holds), None to drop the client."""
        return self.engine.config.ws_max_unsent_bytes - self._stuck_bytes if self._took_some() else None

    async def _drained_or_stuck(
        self, write: asyncio.Future[None], sub: Subscription, ended: asyncio.Task[None], timeout_s: float
    ) -> None:
        """:meth:`_drained`, the timeout counted afresh while the socket takes some bytes in each
        ``timeout_s``: a slow link needs more than one period for a batch, a stopped reader takes nothing."""
        while True:
            try:
                await self._drained(write, sub, ended, timeout_s)
                return
            except TimeoutError:
                if not self._took_some():
                    raise

    async def _drained(
        self, write: asyncio.Future[None], sub: Subscription, ended: asyncio.Task[None], timeout_s: float
    ) -> None:
        """Wait until ``write`` (and so all before it) reached the kernel: ``TimeoutError`` after
        ``timeout_s``, :class:`SubscriptionClosed` as soon as ``ended`` (``sub`` closed, by an overflow say).

        Not ``asyncio.wait_for``, which can swallow a cancellation before Python 3.12 (see ``lpe_nb._aio``).
        A write given up is left to Tornado, not cancelled (a cancelled stream write logs an error): the
        connection is closed next, which ends it, and its error is retrieved by ``_ignore_closed``.
        """
        done, _ = await asyncio.wait((write, ended), timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if write in done:
            write.result()  # StreamClosedError (or WebSocketClosedError) once the client is gone
        elif ended in done:
            raise SubscriptionClosed(sub.overflowed)
        else:
            raise TimeoutError(f"unsent frames did not reach the socket within {timeout_s} s")

    def _send_error(self, job_id: str | None, error: LpeError) -> None:
        """An error frame: the REST error body, plus the job it is about (None for a frame not understood)."""
        self._send_nowait({"type": "error", "job_id": job_id, **error.to_dict()})

    def _send_nowait(self, frame: dict[str, Any]) -> None:
        # Replies are small, but a client can ask for many without reading them: the byte budget holds.
        self._send([json.dumps(frame, default=str).encode()])


def _framed(payloads: list[bytes]) -> Iterator[bytes]:
    """Each payload as an unmasked, unfragmented text frame (RFC 6455 5.2): header, then payload."""
    for payload in payloads:
        size = len(payload)
        if size < 126:
            yield bytes((_FIN_TEXT, size))
        elif size <= 0xFFFF:
            yield struct.pack("!BBH", _FIN_TEXT, 126, size)
        else:
            yield struct.pack("!BBQ", _FIN_TEXT, 127, size)
        yield payload


def _ignore_closed(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # retrieve it, so a closed socket does not log "exception never retrieved"


def _parse_frame(message: str | bytes) -> dict[str, Any]:
    """A checked client frame; :class:`InvalidInput` naming the field (``(frame)`` for the whole) otherwise."""
    if isinstance(message, bytes):
        raise InvalidInput.field("(frame)", "is binary; send JSON text")
    frame = loads_bounded(message, field="(frame)")  # a deep frame would raise RecursionError in json
    if not isinstance(frame, dict):
        raise InvalidInput.field("(frame)", "must be a JSON object with a 'type'")
    kind = frame.get("type")
    if kind == "ping":
        return frame
    if kind not in ("watch", "unwatch"):
        raise InvalidInput.field(
            "type", f"{str(kind)[:40]!r} is not a frame type; send watch, unwatch or ping"
        )
    job_id = frame.get("job_id")
    if not isinstance(job_id, str) or not job_id or len(job_id) > _MAX_JOB_ID_CHARS:
        raise InvalidInput.field("job_id", f"must be a job id string of 1 to {_MAX_JOB_ID_CHARS} characters")
    since = frame.get("since")
    if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
        raise InvalidInput.field("since", "must be a whole number of 0 or more")
    return frame
