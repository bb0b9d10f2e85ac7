"""PgEventRelay: a manager's events, cancels, wake-ups and watches across processes, by LISTEN/NOTIFY.

Two dedicated connections per process, outside the store's pool:

- the *publisher* sends everything queued since its last send in one statement
  (``SELECT pg_notify(c, p) FROM unnest(...)``), in order, with ``synchronous_commit = off``, from a thread
  of its own (:mod:`lpe_nb.jobs.postgres._publisher`: a busy loop does not hold a notification back). It is never
  called inside a state change's transaction: a NOTIFY there takes a cluster-wide lock until the commit
  and serialises every committer (measured in ``SCALEOUT.md``); the manager publishes only after the
  store call returned, so every notification follows its commit;
- the *listener* LISTENs on the four channels and runs nothing else, ever (a session that LISTENs and
  holds a transaction open stops PostgreSQL from trimming its notification queue, for the whole
  cluster). It reads continuously; when its connection drops it connects again (every
  ``reconnect_s``) and asks its manager to resync, since notifications sent meanwhile are lost.

Channels: ``lpe_events`` (a job's status change or progress, :func:`~lpe_nb.jobs.relay.encode_event`),
``lpe_cancel`` (a job id whose cancel was committed), ``lpe_jobs`` (the type of a job just queued) and
``lpe_watch`` (job ids some process's clients watch). A process ignores its own events and watches by
their origin. Not thread-safe: use it on the manager's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable

import psycopg

from lpe_nb.errors import StoreError
from lpe_nb.jobs.events import JobEvent
from lpe_nb.jobs.postgres._connection import Connection, connect, redact
from lpe_nb.jobs.postgres._publisher import Notification, NotifyPublisher
from lpe_nb.jobs.relay import (
    WATCH_REFRESH_S,
    RelayHandler,
    RelayTrace,
    decode_event,
    encode_event,
    encode_watch,
)

__all__ = ["CHANNELS", "PgEventRelay", "trace_stages"]

log = logging.getLogger("lpe_nb.jobs.manager")  # the manager's logger

EVENTS, CANCEL, JOBS, WATCH = "lpe_events", "lpe_cancel", "lpe_jobs", "lpe_watch"
CHANNELS = (EVENTS, CANCEL, JOBS, WATCH)
_trace: RelayTrace | None = None


def trace_stages(hook: RelayTrace | None) -> None:
    """Have every relay of this process call ``hook`` at each stage of its event payloads (a benchmark's
    timing, :data:`~lpe_nb.jobs.relay.RelayTrace`); None: stop."""
    global _trace
    _trace = hook


class PgEventRelay:
    """The relay of one manager (``origin``: its owner name) on the database at ``url``."""

    def __init__(self, url: str, origin: str, *, reconnect_s: float = 1.0) -> None:
        self.url = url
        self.origin = origin
        self.reconnect_s = reconnect_s
        self._handler: RelayHandler | None = None
        self._listener: Connection | None = None
        self._publisher = NotifyPublisher(url, reconnect_s=reconnect_s, on_batch=_trace_batch)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def sent(self) -> int:
        """Notifications sent, for tests and benchmarks."""
        return self._publisher.sent

    @property
    def batches(self) -> int:
        return self._publisher.batches

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self, handler: RelayHandler) -> None:
        """Connect both connections and LISTEN; :class:`StoreError` naming the database if it cannot."""
        self._handler = handler
        try:
            self._listener = await self._listen()
            await self._publisher.start()
        except BaseException:
            await self._close_listener()
            raise
        self._tasks = [
            asyncio.create_task(self._listen_loop(), name="lpe-relay-listen"),
            asyncio.create_task(self._watch_loop(), name="lpe-relay-watch"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._publisher.stop()  # what this process said last (its requeues) still goes out
        await self._close_listener()

    async def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(psycopg.Error):
                await self._listener.close()
        self._listener = None

    async def _listen(self) -> Connection:
        try:
            conn = await connect(self.url)
            for channel in CHANNELS:
                await conn.execute(f"LISTEN {channel}")  # our own constant names, not input
        except psycopg.Error as exc:
            raise StoreError(f"cannot listen for job events on {redact(self.url)}: {exc}") from exc
        return conn

    # -- outgoing --------------------------------------------------------------------------------------

    def publish(self, event: JobEvent) -> None:
        if event.snapshot:
            return  # a snapshot is one reader's view, not news
        payload = encode_event(event, self.origin)
        self._queue(EVENTS, payload)
        if _trace is not None:
            _trace("queued", payload)

    def cancel(self, job_id: str) -> None:
        self._queue(CANCEL, job_id)

    def queued(self, job_type: str) -> None:
        self._queue(JOBS, job_type)

    def watch(self, job_ids: Iterable[str]) -> None:
        for payload in encode_watch(self.origin, job_ids):
            self._queue(WATCH, payload)

    def _queue(self, channel: str, payload: str) -> None:
        self._publisher.put(channel, payload)

    async def _watch_loop(self) -> None:
        assert self._handler is not None
        while True:
            await asyncio.sleep(WATCH_REFRESH_S)  # a refresh timer: the watches expire unless said again
            watched = self._handler.local_watches()
            if watched:
                self.watch(watched)

    # -- incoming --------------------------------------------------------------------------------------

    async def _listen_loop(self) -> None:
        assert self._handler is not None
        while True:
            conn = self._listener
            try:
                if conn is None:
                    conn = self._listener = await self._listen()
                    log.info(
                        "listening for job events on %s again; re-reading the watched jobs", redact(self.url)
                    )
                    await self._handler.resync()
                async for note in conn.notifies():
                    self._receive(note.channel, note.payload)
            except (psycopg.Error, StoreError) as exc:
                if conn is not None:
                    log.warning(
                        "the job events connection to %s dropped (%s); reconnecting", redact(self.url), exc
                    )
                    with contextlib.suppress(psycopg.Error):
                        await conn.close()
                self._listener = None
                await asyncio.sleep(self.reconnect_s)  # a reconnect backoff, not a synchronization

    def _receive(self, channel: str, payload: str) -> None:
        handler = self._handler
        assert handler is not None
        if channel == EVENTS:
            trace = _trace
            if trace is not None:
                trace("received", payload)
            decoded = decode_event(payload)
            if decoded is not None and decoded[0] != self.origin:
                handler.event(decoded[1], has_result=decoded[2])
                if trace is not None:
                    trace("delivered", payload)  # on this process's bus, offered to its subscribers
        elif channel == CANCEL:
            handler.cancel(payload)
        elif channel == JOBS:
            handler.queued(payload)
        elif channel == WATCH:
            try:
                message = json.loads(payload)
            except ValueError:
                return
            if isinstance(message, dict) and message.get("o") != self.origin:
                handler.watched(str(job_id) for job_id in message.get("w", ()))


def _trace_batch(stage: str, batch: list[Notification]) -> None:
    trace = _trace
    if trace is not None:
        for channel, payload in batch:
            if channel == EVENTS:
                trace(stage, payload)
