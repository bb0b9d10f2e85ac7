"""The relay's publisher: NOTIFYs sent from a thread of its own, not from the manager's event loop.

A worker's loop handles bursts (eight LLM replies landing together, each parsed, checkpointed and
reported); a notification queued during one waited for the burst to end before its statement was even
sent (``bench/scaleout.py --stages``: "queued -> NOTIFY starts" was most of the relayed event's p99). A
thread takes the interpreter within its switch interval (5 ms) whatever the loop is doing, and releases
it during the round trip, so the loop pays only for the queueing.

Everything queued since the last send goes in one statement (``SELECT pg_notify(c, p) FROM unnest(...)``),
in order, on one autocommit connection with ``synchronous_commit = off``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable

import psycopg

from lpe_nb.errors import StoreError
from lpe_nb.jobs.postgres._connection import libpq_url, redact

__all__ = ["BATCH", "NotifyPublisher"]

log = logging.getLogger("lpe_nb.jobs.manager")  # the manager's logger

BATCH = 500  # notifications per statement at most
_SEND_SQL = "SELECT pg_notify(c, p) FROM unnest(%s::text[], %s::text[]) AS t (c, p)"
_STOP = ("", "")  # the queue's end marker (no channel is empty)

Notification = tuple[str, str]  # (channel, payload)


class NotifyPublisher:
    """Sends what :meth:`put` is given, in order, from its own thread; :meth:`start` connects first."""

    def __init__(
        self, url: str, *, reconnect_s: float, on_batch: Callable[[str, list[Notification]], None]
    ) -> None:
        self.url = url
        self.reconnect_s = reconnect_s
        self.sent = 0  # notifications sent, for tests and benchmarks
        self.batches = 0
        self._on_batch = on_batch  # ("sending" | "sent", batch), called on the publisher's thread
        self._queue: queue.SimpleQueue[Notification] = queue.SimpleQueue()
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """Connect (:class:`StoreError` naming the database if it cannot), then start the thread."""
        self._conn = await asyncio.to_thread(self._connect)
        self._thread = threading.Thread(target=self._run, name="lpe-relay-publish", daemon=True)
        self._thread.start()

    def put(self, channel: str, payload: str) -> None:
        """Queue one notification (thread-safe, never blocks)."""
        self._queue.put((channel, payload))

    async def stop(self, timeout_s: float = 2.0) -> None:
        """Send what is queued (for up to ``timeout_s``), then disconnect. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(thread.join, timeout_s)
        if thread.is_alive():  # the database does not answer: leave the daemon thread to its fate
            log.warning("job events still queued for other processes were not sent within %g s", timeout_s)

    # -- on the publisher's thread ---------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        try:
            conn = psycopg.connect(libpq_url(self.url), autocommit=True)
            # A lost notification is repaired by the listeners' resync; a commit need not wait for the disk.
            conn.execute("SET synchronous_commit = off")
        except psycopg.Error as exc:
            raise StoreError(f"cannot publish job events on {redact(self.url)}: {exc}") from exc
        return conn

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                batch = [self._queue.get()]
                while len(batch) < BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if _STOP in batch:
                    stopping = True
                    batch = [item for item in batch if item != _STOP]
                if batch:
                    self._send(batch)
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _send(self, batch: list[Notification]) -> None:
        channels, payloads = [c for c, _ in batch], [p for _, p in batch]
        self._on_batch("sending", batch)
        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                self._conn.execute(_SEND_SQL, (channels, payloads))
                self.sent += len(batch)
                self.batches += 1
                self._on_batch("sent", batch)
                return
            except (psycopg.Error, StoreError) as exc:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                if attempt == 2:  # at most once: the listeners' resync and the change feed repair it
                    log.warning("job events not relayed to other processes (%d lost): %s", len(batch), exc)
                    time.sleep(self.reconnect_s)  # a reconnect backoff, on this thread only
