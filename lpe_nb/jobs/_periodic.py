"""The dispatching manager's periodic work, besides claiming: leases, recovery, retention and progress.

A heartbeat renews the leases of the jobs this manager runs (and relays cancels asked from other
processes) and its process's heartbeat row (``lpe_workers``, shown in ``api/status``), sweeps the expired
leases of dead owners (so a dead process's job is taken back within a lease and a heartbeat of its last
renewal, whichever process sweeps), and purges old jobs (and long-dead processes' rows) once per
retention check; a second loop persists the jobs' latest progress once per throttle period.
Not thread-safe: use it on the event loop of the manager that owns it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from lpe_nb.errors import LpeError
from lpe_nb.jobs._dispatcher import Dispatcher
from lpe_nb.jobs.events import EventBus, JobEvent
from lpe_nb.jobs.model import to_iso
from lpe_nb.jobs.settings import ManagerSettings
from lpe_nb.jobs.store import JobStore, WorkerRecord

__all__ = ["FORGET_WORKERS_AFTER_S", "PeriodicWork"]

# A process's heartbeat row is shown as stale once it misses a lease period, and deleted after this long:
# long enough for an admin to see that a worker died, short enough that rows do not pile up.
FORGET_WORKERS_AFTER_S = 86_400.0

log = logging.getLogger("lpe_nb.jobs.manager")  # the manager's logger: where these messages always went


class PeriodicWork:
    """The heartbeat and progress-flush loops of one dispatching manager, and the recovery they share."""

    def __init__(
        self,
        store: JobStore,
        settings: ManagerSettings,
        events: EventBus,
        dispatcher: Dispatcher,
        *,
        owner: str,
        clock: Callable[[], datetime],
        purge: Callable[[], Awaitable[int]],
        worker: Callable[[], WorkerRecord],
    ) -> None:
        self.store = store
        self.settings = settings
        self.events = events
        self.dispatcher = dispatcher
        self.owner = owner
        self._clock = clock
        self._purge = purge  # the manager's retention: deletes finished jobs past it
        self._worker = worker  # this process's heartbeat row, as of now
        self._loops: list[asyncio.Task[None]] = []  # heartbeat and progress flush

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._heartbeat_loop(), name="lpe-heartbeat"),
            asyncio.create_task(self._progress_flush_loop(), name="lpe-progress-flush"),
        ]

    async def stop(self) -> None:
        """Cancel both loops and wait for them to end."""
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []

    async def recover_orphans(self, now: datetime, *, only_expired: bool) -> None:
        """Take back the running jobs of other owners (all, or those whose lease expired) and announce them."""
        recovered = await self.store.recover_orphans(self.owner, now=to_iso(now), only_expired=only_expired)
        for item in recovered:
            log.warning("job %s was orphaned by a stopped manager: now %s", item.job.id, item.action.value)
            if item.job.is_terminal:  # its attempts were used up, or a cancel was asked meanwhile
                self.dispatcher.meter.job_finished(item.job.type, item.job.status.value)
            self.events.publish(JobEvent.status_of(item.job))
            if item.job.is_terminal and item.job.dependents:
                await self.dispatcher.announce_dependents(item.job)
        if recovered:
            self.dispatcher.wake.set()

    async def flush_progress(self) -> None:
        """Persist the latest progress of every job whose progress changed since it was last saved."""
        dirty = [run for run in self.dispatcher.runs.values() if run.progress_dirty]
        for run in dirty:
            run.progress_dirty = False
        await self.store.save_progress(
            [(run.job.id, run.owner, run.progress, run.seq) for run in dirty], now=to_iso(self._clock())
        )

    async def _heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_purge = loop.time() + self.settings.retention_check_interval_s
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval_s)  # a timer, not a synchronization
            try:
                now = self._clock()
                lease_until = to_iso(now + timedelta(seconds=self.settings.lease_s))
                for job_id in await self.store.renew_leases(self.owner, lease_until, now=to_iso(now)):
                    run = self.dispatcher.runs.get(job_id)
                    if run is not None:
                        self.dispatcher.deliver_cancel(run)  # asked from another process
                if not await self.store.touch_worker(self.owner, to_iso(now)):
                    await self.store.save_worker(self._worker())  # forgotten meanwhile: write it again
                await self.recover_orphans(now, only_expired=True)  # one index probe when none expired
                if loop.time() >= next_purge:
                    next_purge = loop.time() + self.settings.retention_check_interval_s
                    await self._purge()
                    await self.store.forget_workers(to_iso(now - timedelta(seconds=FORGET_WORKERS_AFTER_S)))
            except LpeError:
                log.exception("job manager heartbeat failed; retrying")

    async def _progress_flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.progress_persist_interval_s)  # the throttle period
            try:
                await self.flush_progress()
            except LpeError:
                log.exception("saving job progress failed; retrying")
