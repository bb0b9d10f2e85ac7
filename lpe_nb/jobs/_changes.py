"""ChangeFeed: what other processes commit to the database, turned into this manager's events and wake-ups.

Several processes may open one database; one dispatches (runs the jobs), the others are peers. A peer's
subscribers still get live events of the jobs the dispatching process runs: every ``change_poll_interval_s``
the feed asks the store what changed since its cursor (:meth:`JobStore.changed_since`; on SQLite one
``PRAGMA data_version`` when nothing did) and publishes each moved job's new status and progress on this
manager's bus, in ``seq`` order, skipping what it already published. A peer sees progress as often as the
dispatcher persists it (``progress_persist_interval_s``, about once a second), not every report.

In the dispatching manager the same feed notices, within one interval, a job a peer submitted (the
dispatcher looks for work at once instead of at its next ``poll_interval_s``) and a cancel a peer asked
for one of its running jobs (delivered at once instead of at the next heartbeat). It reads only while it
has a reason to: subscribers, or dispatching. Not thread-safe: use it on the manager's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from lpe_nb.errors import LpeError
from lpe_nb.jobs._dispatcher import Dispatcher
from lpe_nb.jobs.events import EventBus, JobEvent
from lpe_nb.jobs.model import JobRecord, JobStatus
from lpe_nb.jobs.store import JobStore

__all__ = ["ChangeFeed"]

log = logging.getLogger("lpe_nb.jobs.manager")  # the manager's logger

_MAX_REMEMBERED_JOBS = 10_000


@dataclass(frozen=True, slots=True)
class _Published:
    """What this feed last published of a job."""

    status: JobStatus
    attempts: int
    progress_seq: int


class ChangeFeed:
    """Follows the database's changes for one manager; ``start()`` on its loop, ``stop()`` at shutdown."""

    def __init__(
        self,
        store: JobStore,
        events: EventBus,
        dispatcher: Dispatcher,
        *,
        interval_s: float,
        is_dispatching: Callable[[], bool],
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.events = events
        self.dispatcher = dispatcher
        self.interval_s = interval_s
        self._on_commit = on_commit  # told when another store committed anything
        self._is_dispatching = is_dispatching
        self._cursor: object | None = None
        self._lock = asyncio.Lock()  # one read at a time: the cursor moves with each
        self._published: OrderedDict[str, _Published] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="lpe-change-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._cursor = None

    @property
    def needed(self) -> bool:
        """Whether anyone here needs the database's changes now."""
        return self._is_dispatching() or self.events.subscriber_count > 0

    async def follow(self) -> None:
        """Follow changes from now on, if not already: call it before reading a snapshot, so nothing that
        commits after the snapshot is missed."""
        async with self._lock:
            if self._cursor is None:
                self._cursor = (await self.store.changed_since(None)).cursor

    async def poll(self) -> None:
        """Read what changed since the last poll and act on it (publish, wake, deliver a cancel)."""
        async with self._lock:
            if self._cursor is None:
                self._cursor = (await self.store.changed_since(None)).cursor
                return
            changes = await self.store.changed_since(self._cursor)
            committed = changes.cursor != self._cursor  # the same cursor back: nothing committed
            self._cursor = changes.cursor
        if committed:
            self._on_commit()
        for job in changes.jobs:
            self._apply(job)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)  # a timer: there is nothing to await across processes
            if not self.needed:
                # Nobody listens: stop following, so the next start does not read an hour of history.
                self._cursor = None
                continue
            try:
                await self.poll()
                self._failing = False
            except LpeError as exc:
                if not self._failing:  # once per outage, not every interval
                    log.warning("reading the job database's changes failed (%s); retrying", exc)
                self._failing = True

    def _apply(self, job: JobRecord) -> None:
        run = self.dispatcher.runs.get(job.id)
        if run is not None:  # this manager runs it and has published all of it already
            if job.cancel_requested:
                self.dispatcher.deliver_cancel(run)  # asked from another process
            return
        if job.status is JobStatus.PENDING and self._is_dispatching():
            self.dispatcher.wake.set()  # submitted (or put back) by another process
        for event in self._news(job):
            self.events.publish_remote(event)  # another process's: not relayed again

    def _news(self, job: JobRecord) -> list[JobEvent]:
        """The events ``job`` brings that this feed has not published, in ``seq`` order."""
        last = self._published.get(job.id)
        candidates: list[tuple[int, int, JobEvent]] = []
        if last is None or (last.status, last.attempts) != (job.status, job.attempts):
            status = JobEvent.status_of(job)
            # On a tie the subscriber keeps the first: for a running job the progress says more.
            candidates.append((status.seq, 1 if job.status is JobStatus.RUNNING else 0, status))
        if job.progress.seq > (0 if last is None else last.progress_seq):
            progress = JobEvent.progress_of(job.id, job.progress)
            candidates.append((progress.seq, 0 if job.status is JobStatus.RUNNING else 1, progress))
        candidates.sort(key=lambda c: (c[0], c[1]))
        news: list[JobEvent] = []
        for seq, _, event in candidates:
            if not news or seq > news[-1].seq:
                news.append(event)
        self._published.pop(job.id, None)
        if not job.is_terminal:  # a finished job moves no more; forget it
            self._published[job.id] = _Published(job.status, job.attempts, job.progress.seq)
            if len(self._published) > _MAX_REMEMBERED_JOBS:
                self._published.popitem(last=False)
        return news
