"""In-process pub/sub of job events, with bounded per-subscriber queues.

Publishing never waits: each subscriber has its own queue. Progress for a job is coalesced to the latest
value while it waits to be read (a slow reader loses intermediate progress, never a status event), and a
reader that falls more than ``max_pending`` status events behind is closed as *overflowed* rather than
buffered forever. A reader that cannot pass on what it has right now (a WebSocket whose socket is full) can
also have the bytes published meanwhile metered (:meth:`Subscription.meter_bytes`), and the subscription
closed as overflowed once they pass a limit. Every event carries the job's sequence number ``seq``; a
subscription delivers each job's events in increasing ``seq`` order and skips anything older than what it
has already delivered.

Not thread-safe: publish and read on the event loop that owns the bus.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from lpe_nb._aio import wake_or_timeout
from lpe_nb.errors import SubscriptionClosed
from lpe_nb.jobs.model import JobRecord, JobStatus, Progress

__all__ = ["EventBus", "JobEvent", "Subscription", "SubscriptionClosed"]

_MAX_REMEMBERED_JOBS = 4096


@dataclass(frozen=True, slots=True)
class JobEvent:
    """A status change or a progress report of one job. ``snapshot`` marks the state sent on subscribe."""

    kind: Literal["status", "progress"]
    job_id: str
    seq: int
    status: JobStatus | None = None
    progress: Progress | None = None
    result_data: Any = None
    error_message: str | None = None
    snapshot: bool = False
    _frame: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def status_of(cls, job: JobRecord, *, seq: int | None = None, snapshot: bool = False) -> JobEvent:
        return cls(
            "status",
            job.id,
            job.seq if seq is None else seq,
            status=job.status,
            result_data=job.result_data,
            error_message=job.error_message,
            snapshot=snapshot,
        )

    @classmethod
    def progress_of(cls, job_id: str, progress: Progress, *, snapshot: bool = False) -> JobEvent:
        return cls("progress", job_id, progress.seq, progress=progress, snapshot=snapshot)

    @property
    def is_terminal(self) -> bool:
        return self.status is not None and self.status.is_terminal

    def to_frame(self) -> bytes:
        """:meth:`to_message` as compact JSON (ASCII, so UTF-8 too), encoded once however many sockets send it.

        An event reaches every subscriber as the same object, so the first caller pays for the encoding
        and the others reuse it (the bytes go to Tornado as a text frame, without another encoding).
        """
        frame = self._frame
        if frame is None:
            frame = json.dumps(self.to_message(), separators=(",", ":"), default=str).encode()
            object.__setattr__(self, "_frame", frame)  # frozen: a cache, not a change of value
        return frame

    def to_message(self) -> dict[str, Any]:
        """The seed's wire format for WebSocket frames."""
        if self.kind == "progress":
            assert self.progress is not None
            return {
                "type": "progress",
                "job_id": self.job_id,
                "seq": self.seq,
                "data": self.progress.to_dict(),
            }
        assert self.status is not None
        return {
            "type": "status",
            "job_id": self.job_id,
            "seq": self.seq,
            "status": self.status.value,
            "result_data": self.result_data,
            "error_message": self.error_message,
        }


@dataclass(slots=True)
class _ProgressSlot:
    event: JobEvent


@dataclass(eq=False)
class Subscription:
    """Events for some jobs (or all when ``job_ids`` is None), read with ``await get()`` or ``async for``.

    :meth:`wait_closed` lets a reader busy elsewhere (a write to a slow socket, say) learn of the end at once.
    """

    bus: EventBus
    job_ids: set[str] | None
    max_pending: int
    coalesced: int = 0
    _items: deque[JobEvent | _ProgressSlot] = field(default_factory=deque)
    _open_slots: dict[str, _ProgressSlot] = field(default_factory=dict)
    _delivered_seq: dict[str, int] = field(default_factory=dict)
    _awaiting_snapshot: set[str] = field(default_factory=set)  # watched, their state not yet queued
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed_by: Literal["events", "bytes"] | None = None  # which bound closed it, if one did
    metered_bytes: int = 0  # see meter_bytes
    _byte_limit: int | None = None  # metering when not None
    _renew_limit: Callable[[], int | None] | None = None

    # -- what the bus and the manager call -------------------------------------------------------------

    def offer(self, event: JobEvent) -> None:
        """Queue an event without ever blocking; coalesce progress, close on overflow."""
        if self._closed.is_set():
            return
        if self._byte_limit is not None and not self._meter(event):
            return
        if event.kind == "progress":
            slot = self._open_slots.get(event.job_id)
            if slot is not None:
                slot.event = event
                self.coalesced += 1
                return
            slot = _ProgressSlot(event)
            self._open_slots[event.job_id] = slot
            self._items.append(slot)
        else:
            # progress after this status must not be merged into a slot queued before it
            self._open_slots.pop(event.job_id, None)
            self._items.append(event)
        if len(self._items) > self.max_pending:
            self._overflow("events")
        self._ready.set()

    def offer_snapshot(self, events: Iterable[JobEvent]) -> None:
        """Put the current state of a job in front of anything queued for it, and release what was held
        back for it (what the snapshot already covers is then skipped by its ``seq``)."""
        for event in reversed(list(events)):
            if self._byte_limit is not None and not self._meter(event):
                return
            self._items.appendleft(event)
            self._awaiting_snapshot.discard(event.job_id)
        self._ready.set()

    def meter_bytes(self, limit: int, *, renew: Callable[[], int | None] | None = None) -> None:
        """Count the bytes of every frame offered from now on in :attr:`metered_bytes`, progress that later
        progress supersedes included; once they pass ``limit``, ``renew()`` may return a new limit to
        count against from zero (the reader passed something on meanwhile), else (None, or no ``renew``)
        the subscription closes as overflowed by ``"bytes"``.

        For a reader stuck passing on what it has (a socket that takes nothing): how much was published for
        it meanwhile says how far behind it fell, however much coalescing keeps queued. A reader that keeps
        up is never metered, so a burst it reads is never counted (see :meth:`stop_metering`)."""
        self._byte_limit, self._renew_limit = limit, renew
        self.metered_bytes = 0

    def stop_metering(self) -> None:
        """The reader passed on what it had: what it was metered for no longer counts (unless it closed
        the subscription: then :attr:`metered_bytes` stays, for the reader to say how far behind it was)."""
        if self.overflowed_by == "bytes":
            return
        self._byte_limit, self._renew_limit = None, None
        self.metered_bytes = 0

    def _meter(self, event: JobEvent) -> bool:
        """Count ``event``'s bytes; False if that passed the limit for good (the subscription is closed)."""
        assert self._byte_limit is not None
        self.metered_bytes += len(event.to_frame())  # encoded once for every subscriber (to_frame)
        if self.metered_bytes > self._byte_limit:
            limit = None if self._renew_limit is None else self._renew_limit()
            if limit is None:
                self._overflow("bytes")
                return False
            self._byte_limit, self.metered_bytes = limit, 0
        return True

    def _overflow(self, bound: Literal["events", "bytes"]) -> None:
        self.overflowed_by = bound
        self.close()

    # -- what readers call -----------------------------------------------------------------------------

    def watch(self, job_id: str, *, awaiting_snapshot: bool = False) -> None:
        """Receive ``job_id``'s events from now on. With ``awaiting_snapshot`` they are held back until
        :meth:`offer_snapshot` queues its current state, so a reader always sees that state first."""
        if self.job_ids is not None:
            self.job_ids.add(job_id)
            self.bus._index(self, job_id)
            if awaiting_snapshot:
                self._awaiting_snapshot.add(job_id)

    def unwatch(self, job_id: str) -> None:
        if self.job_ids is not None:
            self.job_ids.discard(job_id)
            self.bus._unindex(self, job_id)
            self._delivered_seq.pop(job_id, None)
            self._awaiting_snapshot.discard(job_id)

    def get_nowait(self) -> JobEvent | None:
        """The next event, or None if none is queued; raises :class:`SubscriptionClosed` once ended."""
        held: list[JobEvent | _ProgressSlot] = []
        try:
            return self._next_deliverable(held)
        finally:
            self._items.extendleft(reversed(held))  # back in front, in their order

    def _next_deliverable(self, held: list[JobEvent | _ProgressSlot]) -> JobEvent | None:
        while self._items:
            item = self._items.popleft()
            if (item.event if isinstance(item, _ProgressSlot) else item).job_id in self._awaiting_snapshot:
                held.append(item)
                continue
            if isinstance(item, _ProgressSlot):
                if self._open_slots.get(item.event.job_id) is item:
                    del self._open_slots[item.event.job_id]
                event = item.event
            else:
                event = item
            if self.job_ids is not None and event.job_id not in self.job_ids:
                continue
            last = self._delivered_seq.get(event.job_id)
            if last is not None and event.seq <= last and not event.snapshot:
                continue
            self._remember_delivered(event.job_id, event.seq)
            return event
        if self._closed.is_set():
            raise SubscriptionClosed(self.overflowed)
        return None

    def _remember_delivered(self, job_id: str, seq: int) -> None:
        # Most recently delivered last; forget the oldest jobs so an all-jobs reader stays bounded.
        self._delivered_seq.pop(job_id, None)
        self._delivered_seq[job_id] = seq
        if len(self._delivered_seq) > _MAX_REMEMBERED_JOBS:
            del self._delivered_seq[next(iter(self._delivered_seq))]

    async def get(self, timeout_s: float | None = None) -> JobEvent:
        """Wait for the next event; ``TimeoutError`` after ``timeout_s``, :class:`SubscriptionClosed` at the end."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"no job event within {timeout_s} s")
            self._ready.clear()
            await wake_or_timeout(self._ready, remaining)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> JobEvent:
        try:
            return await self.get()
        except SubscriptionClosed as closed:
            if closed.overflowed:
                raise
            raise StopAsyncIteration from None

    @property
    def pending(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def overflowed(self) -> bool:
        return self.overflowed_by is not None

    async def wait_closed(self) -> None:
        """Return once the subscription is closed, by its owner or by an overflow (see :attr:`overflowed`)."""
        await self._closed.wait()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self.overflowed:
            self._items.clear()  # free the backlog now; the reader learns it was dropped
            self._open_slots.clear()
        self.bus._remove(self)
        self._ready.set()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventBus:
    """Fans job events out to subscriptions; ``publish`` is synchronous and O(interested subscribers)."""

    def __init__(self, *, max_pending: int = 256) -> None:
        self.max_pending = max_pending
        self._by_job: dict[str, set[Subscription]] = {}
        self._all_jobs: set[Subscription] = set()
        self._all_statuses: set[Subscription] = set()  # every job's status events, no progress
        # Called with each event this process publishes (not with those it relays from others): how the
        # events of a shared database reach the other processes (lpe_nb.jobs.relay).
        self.on_publish: Callable[[JobEvent], None] | None = None

    def subscribe(
        self,
        job_ids: Iterable[str] | None = None,
        *,
        max_pending: int | None = None,
        statuses_only: bool = False,
    ) -> Subscription:
        """A subscription to ``job_ids``' events, or to every job's when None; with ``statuses_only``
        (every job's only), their status events without the progress, which is then not even built for
        a job nobody else watches (:meth:`wants_progress`)."""
        sub = Subscription(self, None if job_ids is None else set(job_ids), max_pending or self.max_pending)
        if sub.job_ids is None:
            (self._all_statuses if statuses_only else self._all_jobs).add(sub)
        else:
            for job_id in sub.job_ids:
                self._index(sub, job_id)
        return sub

    def publish(self, event: JobEvent) -> None:
        """Deliver an event of this process to its subscribers (and to :attr:`on_publish`)."""
        self.publish_remote(event)
        if self.on_publish is not None:
            self.on_publish(event)

    def publish_remote(self, event: JobEvent) -> None:
        """Deliver an event another process published; it is not passed to :attr:`on_publish` again."""
        statuses = self._all_statuses if event.kind == "status" else ()
        for sub in (*self._by_job.get(event.job_id, ()), *self._all_jobs, *statuses):
            sub.offer(event)

    def wants_progress(self, job_id: str) -> bool:
        """Whether a progress event of ``job_id`` would reach anyone: a subscription that names it or
        takes every job's progress, or :attr:`on_publish`. When not, the publisher need not build it."""
        return bool(self._all_jobs) or self.on_publish is not None or bool(self._by_job.get(job_id))

    def watched_job_ids(self) -> list[str]:
        """The jobs a subscription names (subscriptions to all jobs do not count)."""
        return list(self._by_job)

    def has_watchers(self, job_id: str) -> bool:
        """Whether a subscription names this job (subscriptions to all jobs do not count)."""
        return bool(self._by_job.get(job_id))

    @property
    def subscriber_count(self) -> int:
        named = {s for subs in self._by_job.values() for s in subs}
        return len(self._all_jobs) + len(self._all_statuses) + len(named)

    def _index(self, sub: Subscription, job_id: str) -> None:
        self._by_job.setdefault(job_id, set()).add(sub)

    def _unindex(self, sub: Subscription, job_id: str) -> None:
        subs = self._by_job.get(job_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_job[job_id]

    def _remove(self, sub: Subscription) -> None:
        self._all_jobs.discard(sub)
        self._all_statuses.discard(sub)
        for job_id in list(sub.job_ids or ()):
            self._unindex(sub, job_id)
