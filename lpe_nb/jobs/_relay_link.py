"""RelayLink: one manager's side of its store's event relay (:mod:`lpe_nb.jobs.relay`), on a shared database.

Outgoing, every event the manager publishes on its bus goes to the relay (after its write committed: the
manager publishes only then). Incoming, another process's event goes on the bus as if published here (a
status event whose result was left out of the notification is completed from the row first); a cancel
reaches the job if it runs here; a queued job wakes the dispatcher; and the jobs other processes' clients
watch are remembered for :data:`~lpe_nb.jobs.relay.WATCH_TTL_S`, so a job runs with its text streamed only
while someone, anywhere, watches it. After the relay lost its connection, the watched jobs' current
state is read again and offered to their subscribers (``seq`` makes repeats harmless).

Not thread-safe: use it on the manager's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable

from lpe_nb.errors import LpeError
from lpe_nb.jobs._dispatcher import Dispatcher
from lpe_nb.jobs.events import EventBus, JobEvent
from lpe_nb.jobs.model import JobRecord, JobStatus
from lpe_nb.jobs.relay import WATCH_TTL_S, EventRelay

__all__ = ["RelayLink"]

log = logging.getLogger("lpe_nb.jobs.manager")  # the manager's logger

_MAX_REMOTE_WATCHES = 100_000


class RelayLink:
    """The :class:`~lpe_nb.jobs.relay.RelayHandler` of one manager; ``start()`` before it dispatches."""

    def __init__(
        self,
        relay: EventRelay,
        events: EventBus,
        dispatcher: Dispatcher,
        *,
        read_job: Callable[[str], Awaitable[JobRecord]],
        snapshot: Callable[[str], Awaitable[list[JobEvent]]],
        is_dispatching: Callable[[], bool],
        claim_types: Collection[str] | None,
    ) -> None:
        self.relay = relay
        self.events = events
        self.dispatcher = dispatcher
        self._read_job = read_job
        self._snapshot = snapshot
        self._is_dispatching = is_dispatching
        self._claim_types = None if claim_types is None else frozenset(claim_types)
        self._remote_watches: dict[str, float] = {}  # job id -> monotonic time it stops counting
        self._reads: set[asyncio.Task[None]] = set()  # results being read from the row

    async def start(self) -> None:
        await self.relay.start(self)
        self.events.on_publish = self.relay.publish

    async def stop(self) -> None:
        self.events.on_publish = None
        await self.relay.stop()
        for task in self._reads:
            task.cancel()
        await asyncio.gather(*self._reads, return_exceptions=True)

    def is_watched(self, job_id: str) -> bool:
        """Whether another process's clients watched ``job_id`` lately."""
        until = self._remote_watches.get(job_id)
        return until is not None and until > time.monotonic()

    # -- RelayHandler ------------------------------------------------------------------------------------

    def event(self, event: JobEvent, *, has_result: bool) -> None:
        if event.job_id in self.dispatcher.runs:
            return  # this process runs it: what it publishes itself is the job's truth
        if event.kind == "status" and event.status is JobStatus.PENDING and self._is_dispatching():
            self.dispatcher.wake.set()  # put back in the queue by another process
        if has_result:
            task = asyncio.create_task(self._with_result(event), name=f"lpe-relay-result:{event.job_id}")
            self._reads.add(task)
            task.add_done_callback(self._reads.discard)
            return
        self.events.publish_remote(event)

    async def _with_result(self, event: JobEvent) -> None:
        try:
            job = await self._read_job(event.job_id)
        except LpeError as exc:  # deleted meanwhile, or the database failed: the status without it
            log.info("job %s: its result could not be read for its watchers: %s", event.job_id, exc)
            self.events.publish_remote(event)
            return
        self.events.publish_remote(JobEvent.status_of(job, seq=max(event.seq, job.seq)))

    def cancel(self, job_id: str) -> None:
        run = self.dispatcher.runs.get(job_id)
        if run is not None:
            self.dispatcher.deliver_cancel(run)

    def queued(self, job_type: str) -> None:
        if self._is_dispatching() and (self._claim_types is None or job_type in self._claim_types):
            self.dispatcher.wake.set()

    def watched(self, job_ids: Iterable[str]) -> None:
        until = time.monotonic() + WATCH_TTL_S
        for job_id in job_ids:
            self._remote_watches.pop(job_id, None)
            self._remote_watches[job_id] = until  # most recently refreshed last
        if len(self._remote_watches) > _MAX_REMOTE_WATCHES:
            now = time.monotonic()
            self._remote_watches = {j: t for j, t in self._remote_watches.items() if t > now}

    def local_watches(self) -> list[str]:
        return self.events.watched_job_ids()

    async def resync(self) -> None:
        for job_id in self.events.watched_job_ids():
            try:
                snapshot = await self._snapshot(job_id)
            except LpeError:
                continue  # deleted meanwhile
            for event in snapshot:
                self.events.publish_remote(event)
