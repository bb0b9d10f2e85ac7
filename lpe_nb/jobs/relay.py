"""Events across processes: what a store's relay carries between managers on one shared database.

A backend shared by many processes (PostgreSQL) gives each manager an :class:`EventRelay`
(:meth:`JobStore.event_relay`); SQLite, on one machine, has none (its peers follow the file,
:mod:`lpe_nb.jobs._changes`). Through the relay a manager:

- publishes every event of its own bus (status changes and progress, each sent once its write committed:
  the manager publishes on its bus only after the store call returned), and receives the other
  processes' events on its bus, so ``seq`` ordering, coalescing and snapshots work as in one process;
- asks the process that runs a job to cancel it, at once (the heartbeat stays the fallback);
- wakes the dispatchers when a job is queued (a submit, a requeue);
- says which jobs its clients watch, so the process that runs one streams its text only while someone,
  anywhere, watches it.

Notifications are at most once: a relay that lost its connection says so (:meth:`RelayHandler.resync`)
once it listens again, and the manager re-reads the jobs it watches. This module holds the payloads
(pure functions, bounded in size); the backend holds the I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from lpe_nb.jobs.events import JobEvent
from lpe_nb.jobs.model import JobStatus, Progress

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "STREAM_TAIL_CHARS",
    "WATCH_REFRESH_S",
    "WATCH_TTL_S",
    "EventRelay",
    "RelayHandler",
    "RelayTrace",
    "decode_event",
    "encode_event",
    "encode_watch",
]

MAX_PAYLOAD_BYTES = 7900  # PostgreSQL refuses a NOTIFY payload of 8000 bytes or more
STREAM_TAIL_CHARS = 3000  # streamed text crosses processes as its tail: what a live view shows anyway
WATCH_REFRESH_S = 5.0  # a process says again which jobs it watches this often...
WATCH_TTL_S = 3 * WATCH_REFRESH_S  # ...and a job counts as watched elsewhere until this long after


RelayTrace = Callable[[str, str], None]
"""``(stage, payload)``: called as an event's payload passes each stage of a relay (``queued``, ``sending``,
``sent`` in the publishing process; ``received``, ``delivered`` in a listening one), for a benchmark to
time the stages (``bench/scaleout.py --stages``, set by ``trace_stages`` of the backend). Unset in
production: each stage then costs one ``is None`` test."""


class RelayHandler(Protocol):
    """What a relay calls in its manager, on the manager's event loop."""

    def event(self, event: JobEvent, *, has_result: bool) -> None:
        """Another process published ``event``; ``has_result``: a status event whose ``result_data`` was
        left out (read it from the row)."""

    def cancel(self, job_id: str) -> None:
        """Another process asked to cancel ``job_id`` (its cancel is committed)."""

    def queued(self, job_type: str) -> None:
        """A job of ``job_type`` was queued by another process: look for work now."""

    def watched(self, job_ids: Iterable[str]) -> None:
        """Another process's clients watch these jobs (for :data:`WATCH_TTL_S`)."""

    def local_watches(self) -> list[str]:
        """The jobs this process's clients watch (said again every :data:`WATCH_REFRESH_S`)."""
        ...

    async def resync(self) -> None:
        """The relay listens again after losing its connection: notifications may have been lost."""


class EventRelay(Protocol):
    """One manager's link to the other processes on its database; start it before dispatching."""

    async def start(self, handler: RelayHandler) -> None:
        """Connect and listen; returns once listening (:class:`~lpe_nb.errors.StoreError` if it cannot)."""
        ...

    async def stop(self) -> None:
        """Send what is queued, then disconnect. Idempotent."""
        ...

    def publish(self, event: JobEvent) -> None:
        """Queue an event of this process for the others (never blocks; sent in order, batched)."""
        ...

    def cancel(self, job_id: str) -> None:
        """Queue a cancel request for the process that runs ``job_id``."""
        ...

    def queued(self, job_type: str) -> None:
        """Queue a wake-up for the dispatchers: a job of ``job_type`` was submitted."""
        ...

    def watch(self, job_ids: Iterable[str]) -> None:
        """Queue a note that this process's clients watch these jobs."""
        ...


def encode_event(event: JobEvent, origin: str) -> str:
    """``event`` as a payload under :data:`MAX_PAYLOAD_BYTES`: a status event without its result (``r``:
    there is one in the row), streamed text as its last :data:`STREAM_TAIL_CHARS` characters, and if still
    too long, progress without its details."""
    message: dict[str, Any] = {"o": origin, "k": event.kind, "j": event.job_id, "s": event.seq}
    if event.kind == "status":
        assert event.status is not None
        message["st"] = event.status.value
        if event.error_message is not None:
            message["e"] = event.error_message[:2000]
        if event.result_data is not None:
            message["r"] = 1
        return _dumps(message)
    assert event.progress is not None
    progress = event.progress.to_dict()
    details = progress.get("details")
    if isinstance(details, dict) and isinstance(details.get("partial_text"), str):
        text: str = details["partial_text"]
        if len(text) > STREAM_TAIL_CHARS:
            progress["details"] = {**details, "partial_text": text[-STREAM_TAIL_CHARS:], "truncated": True}
    message["p"] = progress
    payload = _dumps(message)
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        message["p"] = {**progress, "details": None}
        payload = _dumps(message)
    return payload


def decode_event(payload: str) -> tuple[str, JobEvent, bool] | None:
    """``(origin, event, has_result)`` from :func:`encode_event`'s payload; None for one it did not write."""
    try:
        message = json.loads(payload)
        origin, kind, job_id, seq = message["o"], message["k"], message["j"], int(message["s"])
        if kind == "status":
            event = JobEvent(
                "status", job_id, seq, status=JobStatus(message["st"]), error_message=message.get("e")
            )
            return origin, event, bool(message.get("r"))
        if kind == "progress":
            return origin, JobEvent.progress_of(job_id, Progress.from_dict(message["p"])), False
    except (ValueError, KeyError, TypeError):
        pass
    return None


def encode_watch(origin: str, job_ids: Iterable[str]) -> list[str]:
    """Watch notes for ``job_ids``, as few payloads as fit under :data:`MAX_PAYLOAD_BYTES`."""
    payloads: list[str] = []
    batch: list[str] = []
    size = 0
    for job_id in job_ids:
        if batch and size + len(job_id) + 3 > MAX_PAYLOAD_BYTES - 200:
            payloads.append(_dumps({"o": origin, "w": batch}))
            batch, size = [], 0
        batch.append(job_id)
        size += len(job_id) + 3
    if batch:
        payloads.append(_dumps({"o": origin, "w": batch}))
    return payloads


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)
