"""JobManager: the queue, the dispatcher, cancellation, recovery and retention over a :class:`JobStore`.

One manager per database dispatches (the store's dispatch lock says which); any number of others, in this
process or others, are peers: they submit, read, cancel and watch, and with ``dispatch="auto"`` one of them
takes the role over when the dispatching process exits (:mod:`~lpe_nb.jobs._role`). A peer's subscribers see
the dispatcher's jobs move through the database (:mod:`~lpe_nb.jobs._changes`). The dispatching manager claims
pending jobs by priority then age, up to ``concurrency`` at a time, runs each as an asyncio task under a lease
it heartbeats, and publishes every status change and progress report on its :class:`EventBus`. Delivery is
at-least-once per *step*: a job interrupted by a crash or a stop resumes from its last finished step.

The claiming and running of jobs is the :class:`~lpe_nb.jobs._dispatcher.Dispatcher`'s; heartbeats, lease
sweeps, retention and progress saves are :class:`~lpe_nb.jobs._periodic.PeriodicWork`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from lpe_nb._version import __version__
from lpe_nb.errors import InvalidInput, JobNotFound, LpeError
from lpe_nb.jobs._chaining import plan_chain
from lpe_nb.jobs._changes import ChangeFeed
from lpe_nb.jobs._dispatcher import Dispatcher
from lpe_nb.jobs._periodic import PeriodicWork
from lpe_nb.jobs._relay_link import RelayLink
from lpe_nb.jobs._role import DispatchMode, DispatchRole
from lpe_nb.jobs._timings import StepTimings
from lpe_nb.jobs.analytics import Analytics, check_analytics_query
from lpe_nb.jobs.cache import ResultCache
from lpe_nb.jobs.context import RunState
from lpe_nb.jobs.events import EventBus, JobEvent, Subscription
from lpe_nb.jobs.listing import JobPage, decode_cursor, encode_cursor, parse_statuses
from lpe_nb.jobs.model import (
    JobRecord,
    JobStatus,
    Progress,
    StepRecord,
    check_priority,
    check_schedule,
    new_job_id,
    to_iso,
    utc_now,
)
from lpe_nb.jobs.registry import OperationRegistry
from lpe_nb.jobs.schedules import Schedules
from lpe_nb.jobs.settings import ManagerSettings
from lpe_nb.jobs.store import JobStore, Synchronous, WorkerRecord, open_store
from lpe_nb.metrics import Meter, retire, track

__all__ = ["JobManager"]

log = logging.getLogger(__name__)

RELAYED_CHANGE_POLL_S = 2.0  # how often a manager with an event relay still reads the database's changes


class JobManager:
    """Submit, run, watch and cancel jobs. Use ``async with JobManager.open(path) as manager``."""

    def __init__(
        self,
        store: JobStore,
        registry: OperationRegistry | None = None,
        *,
        settings: ManagerSettings | None = None,
        dispatch: DispatchMode = True,
        clock: Callable[[], datetime] = utc_now,
        owner: str | None = None,
        kind: str = "engine",
    ) -> None:
        """``dispatch``: ``True`` to run the database's jobs (:class:`DispatcherBusy` at start if another
        manager does), ``False`` never, ``"auto"`` when no one else does (else a peer that takes over).
        ``kind`` names what runs it in its heartbeat row (``worker``, ``jupyter-server``, ``engine``)."""
        self.store = store
        self.kind = kind
        self.registry = registry if registry is not None else OperationRegistry()
        self.settings = settings or ManagerSettings()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.local_username = local_username()  # whose jobs a submit without a username records
        self.events = EventBus(max_pending=self.settings.subscriber_max_pending)
        self.stream_interval_s = self.settings.stream_interval_s
        self.step_timings = StepTimings(store)  # what planned steps are expected to take: the time left
        self.cache = ResultCache(store, self.settings.cache, clock)  # the LLM results (docs/caching.md)
        self.meter = Meter(database=store.location)  # this engine's figures (docs/metrics.md)
        self._clock = clock
        self._role = DispatchRole(
            store.dispatch_lock(), dispatch, self.settings, location=store.location, begin=self._dispatch,
            concurrent=store.concurrent_dispatch,
        )  # fmt: skip
        self._dispatcher = Dispatcher(
            store, self.registry, self.settings, self.events, self, owner=self.owner, clock=clock,
            meter=self.meter,
        )  # fmt: skip
        self._periodic = PeriodicWork(
            store,
            self.settings,
            self.events,
            self._dispatcher,
            owner=self.owner,
            clock=clock,
            purge=self.purge_old_jobs,
            worker=self._worker_record,
        )
        self.schedules = Schedules(
            store, self.registry, self.settings, self.events, clock=clock,
            wake_dispatcher=self._dispatcher.wake.set, local_username=self.local_username,
        )  # fmt: skip  # recurring schedules: any manager manages them, the dispatching one fires them
        self._changes = ChangeFeed(
            store,
            self.events,
            self._dispatcher,
            interval_s=self.settings.change_poll_interval_s,
            is_dispatching=lambda: self._role.dispatching,
            on_commit=self.schedules.wake,  # a schedule made or changed elsewhere
        )
        relay = store.event_relay(self.owner)  # a shared database's events across processes (PostgreSQL)
        self._link = None
        if relay is not None:
            self._link = RelayLink(
                relay, self.events, self._dispatcher, read_job=store.get_job, snapshot=self._snapshot,
                is_dispatching=lambda: self._role.dispatching, claim_types=self.settings.claim_types,
            )  # fmt: skip
            # The relay carries events at once; the change feed only catches what a lost notification missed.
            self._changes.interval_s = max(self._changes.interval_s, RELAYED_CHANGE_POLL_S)
        self._started = False
        self._dispatching_since: str | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        synchronous: Synchronous = "NORMAL",
        registry: OperationRegistry | None = None,
        settings: ManagerSettings | None = None,
        dispatch: DispatchMode = True,
        clock: Callable[[], datetime] = utc_now,
    ) -> AsyncIterator[JobManager]:
        """A started manager on ``open_store(path)`` (default ``~/.lpe/jobs.db``), stopped on exit."""
        async with open_store(path, synchronous=synchronous) as store:
            manager = cls(store, registry, settings=settings, dispatch=dispatch, clock=clock)
            async with manager:
                yield manager

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the dispatch role as ``dispatch`` says (recovering orphaned jobs), and follow the database."""
        if self._started:
            return
        self._dispatcher.stopping = False
        self.meter.bind(self._status_counts, lambda: len(self._dispatcher.runs))
        track(self.meter)
        if self._link is not None:
            await self._link.start()  # listening before the first claim: cancels and wake-ups reach us
        try:
            await self._role.start()
        except BaseException:
            if self._link is not None:
                await self._link.stop()
            raise
        self._changes.start()
        self._started = True

    async def _dispatch(self) -> None:
        """Start dispatching; the dispatch lock is held."""
        await self._changes.follow()  # from before the first claim: a job submitted elsewhere wakes us
        # Holding the lock (SQLite), whoever owns a running job is gone: recover them all now. Where many
        # managers dispatch at once (PostgreSQL), only a job whose lease expired is an orphan.
        await self._periodic.recover_orphans(self._clock(), only_expired=self._role.concurrent)
        await self.purge_old_jobs()
        self._dispatching_since = self._now_iso()
        await self.store.save_worker(self._worker_record())
        self._dispatcher.start()
        self._periodic.start()
        self.schedules.start()

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop claiming; give running jobs ``grace_s`` to reach a step boundary, then interrupt the rest.

        Interrupted jobs go back to ``pending`` with their finished steps kept and their attempt refunded,
        and resume when a manager next starts on this database. Leases are released.
        """
        if not self._started:
            return
        await self._role.stop()
        await self._changes.stop()
        await self._dispatcher.stop(self.settings.shutdown_grace_s if grace_s is None else grace_s)
        await self._periodic.stop()
        await self.schedules.stop()
        if self._role.dispatching:
            await self._periodic.flush_progress()
            try:
                await self.store.delete_worker(self.owner)
            except LpeError as exc:  # the row goes stale and is forgotten later; the stop goes on
                log.warning("removing this process's heartbeat row failed: %s", exc)
        await self._role.release()
        if self._link is not None:
            await self._link.stop()  # after the requeues above: their events go out first
        retire(self.meter)
        self._started = False

    async def __aenter__(self) -> JobManager:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def dispatch(self) -> DispatchMode:
        """The mode asked for: ``True``, ``False`` or ``"auto"`` (see :attr:`is_dispatching` for the role)."""
        return self._role.mode

    @property
    def is_dispatching(self) -> bool:
        """Whether this manager runs the database's jobs now; False for a peer (until it takes over)."""
        return self._role.dispatching

    async def workers(self) -> list[WorkerRecord]:
        """The heartbeat rows of the processes that dispatch this database's jobs (this one included),
        oldest first; see :meth:`stale_before` for which ones are probably dead."""
        return await self.store.list_workers()

    def stale_before(self) -> str:
        """A process not seen since this moment missed a whole lease period: its leases have expired, and
        the next sweep takes its jobs back (:meth:`WorkerRecord.is_stale`)."""
        return to_iso(self._clock() - timedelta(seconds=self.settings.lease_s))

    def _worker_record(self) -> WorkerRecord:
        now = self._now_iso()
        return WorkerRecord(
            owner=self.owner, kind=self.kind, host=socket.gethostname(), pid=os.getpid(), version=__version__,
            concurrency=self.settings.concurrency, types=self.settings.claim_types,
            started_at=self._dispatching_since or now, last_seen=now,
        )  # fmt: skip

    @property
    def stopping(self) -> bool:
        return self._dispatcher.stopping

    @property
    def running_job_ids(self) -> list[str]:
        return list(self._dispatcher.runs)

    def now(self) -> datetime:
        return self._clock()

    def _now_iso(self) -> str:
        return to_iso(self._clock())

    # -- submit, read, cancel, delete ------------------------------------------------------------------

    async def submit(
        self,
        job_type: str,
        input_data: Any = None,
        *,
        title: str | None = None,
        description: str | None = None,
        priority: int = 0,
        max_attempts: int | None = None,
        run_at: datetime | None = None,
        delay_s: float | None = None,
        depends_on: Sequence[str] | None = None,
        inputs_from: Mapping[str, str] | None = None,
        cache: bool = True,
        username: str | None = None,
        parents_of: str | None = None,
    ) -> str:
        """Validate, persist and queue a job; returns its id once the row is committed.

        ``username`` is who submits it (the Jupyter identity), recorded on the job for good: the reads,
        cancels and watches below given a ``username`` see only that user's jobs. None: this process's user
        (:func:`local_username`), as for an engine embedded in a kernel, a script or the CLI. With
        ``parents_of``, ``depends_on`` and ``inputs_from`` may name only that user's jobs (another's is
        refused as a job that does not exist).

        ``priority`` (``MIN_PRIORITY..MAX_PRIORITY``, default 0): higher is claimed first, ties by age;
        priorities are not aged (see ``docs/priority.md``). ``run_at`` (timezone-aware) or ``delay_s``: the
        job waits, ``pending`` with ``scheduled_at`` set, and is claimed once that time has come (within a
        poll interval); it can be cancelled meanwhile (``docs/scheduling.md``). ``cache=False``: none of its
        LLM calls is answered from the result cache (nor stored in it); see ``docs/caching.md``.

        ``depends_on`` (job ids): the job waits, pending, until each has completed, and is cancelled if one
        fails or is cancelled; ``inputs_from`` (``{field: "<job id>.<result path>"}``) and the type's
        declared mappings fill input fields from a parent's result when it starts (``docs/chains.md``).

        Raises :class:`UnknownJobType` or :class:`InvalidInput`; a rejected job writes nothing.
        """
        operation = self.registry.get(job_type)
        if operation.prepare is not None:
            await operation.prepare(input_data)
        chain = await plan_chain(
            self.store,
            operation,
            input_data,
            depends_on=depends_on,
            inputs_from=inputs_from,
            parents_of=parents_of,
        )  # JSON-ness: as the row is built
        parsed_input, stored_input = chain.parsed_input, chain.stored_input
        if operation.check is not None and chain.check_now:
            await operation.check(parsed_input)
        check_priority(priority)
        attempts = (
            max_attempts if max_attempts is not None else operation.max_attempts or self.settings.max_attempts
        )
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise InvalidInput.field("max_attempts", f"must be an integer of at least 1, not {attempts!r}")
        scheduled_at = check_schedule(self._clock(), run_at, delay_s)
        if not isinstance(cache, bool):
            raise InvalidInput.field("cache", f"must be true or false, not {cache!r}")
        now = self._now_iso()
        job = JobRecord(
            id=new_job_id(),
            type=job_type,
            status=JobStatus.PENDING,
            title=title or chain.title or operation.title_for(parsed_input),
            description=description,
            input_data=stored_input,
            progress=Progress(current_step="queued", timestamp=now, seq=1),
            created_at=now,
            updated_at=now,
            priority=priority,
            max_attempts=attempts,
            seq=1,
            scheduled_at=scheduled_at,
            username=self.local_username if username is None else username,
            cache=cache,
        )
        job = chain.apply(job)
        # a delay runs from the database's now where machines share it (PostgreSQL), as leases do
        job = await self.store.insert_job(job, delay_s=delay_s if scheduled_at is not None else None)
        self.meter.job_submitted(job_type)
        self.events.publish(JobEvent.status_of(job))
        self._dispatcher.wake.set()
        if self._link is not None:
            self._link.relay.queued(job_type)  # the other dispatchers look for work now
        return job.id

    # ``username`` on a read or a change of one job: the job must be that user's, else JobNotFound, the
    # same as for an id that does not exist, so nobody learns which ids other users' jobs have. None: any
    # job (an admin, a worker, an embedded engine).

    async def get(self, job_id: str, *, username: str | None = None) -> JobRecord:
        """The job as stored, with the live progress if this manager is running it."""
        job = _visible(await self.store.get_job(job_id), username)
        run = self._dispatcher.runs.get(job_id)
        if run is not None and job.status is JobStatus.RUNNING:
            job = replace(job, progress=run.progress, seq=run.seq)
        return job

    async def get_with_steps(
        self, job_id: str, *, username: str | None = None
    ) -> tuple[JobRecord, list[StepRecord]]:
        job, steps = await self.store.get_job_with_steps(job_id)
        _visible(job, username)
        run = self._dispatcher.runs.get(job_id)
        if run is not None and job.status is JobStatus.RUNNING:
            job = replace(job, progress=run.progress, seq=run.seq)
        return job, steps

    async def list_jobs(
        self,
        *,
        status: str | JobStatus | Iterable[str | JobStatus] | None = None,
        job_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        username: str | None = None,
    ) -> JobPage:
        """Jobs newest first, filtered by status(es), type and ``username``, ``limit`` per page (1..500)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 500:
            raise InvalidInput.field("limit", f"must be an integer from 1 to 500, not {limit!r}")
        statuses = parse_statuses(status)
        before = decode_cursor(cursor) if cursor else None
        jobs = await self.store.list_jobs(
            statuses=statuses, job_type=job_type, limit=limit + 1, before=before, username=username
        )
        more = len(jobs) > limit
        jobs = jobs[:limit]
        return JobPage(jobs, encode_cursor(jobs[-1]) if more else None)

    async def cancel(self, job_id: str, *, username: str | None = None) -> JobRecord:
        """Cancel a job: a pending one at once; a running one is marked, then its task is cancelled.

        Raises :class:`JobNotFound`, or :class:`InvalidTransition` if the job already finished.
        """
        await self._check_visible(job_id, username)
        job = await self.store.request_cancel(job_id, now=self._now_iso(), actor="cancel")
        if job.status is JobStatus.CANCELLED:
            self.meter.job_finished(job.type, job.status.value)
            self.events.publish(JobEvent.status_of(job))
            await self._dispatcher.announce_dependents(job)
        else:
            run = self._dispatcher.runs.get(job_id)
            if run is not None:
                self._dispatcher.deliver_cancel(run)
            elif self._link is not None:
                self._link.relay.cancel(job_id)  # to the process that runs it, at once
            # else the dispatcher in another process sees cancel_requested within a change poll
        return job

    async def set_priority(self, job_id: str, priority: int, *, username: str | None = None) -> JobRecord:
        """Change a pending job's priority (higher runs first, ties by age); returns the job after it.

        Raises :class:`InvalidInput` for a priority outside ``MIN_PRIORITY..MAX_PRIORITY``,
        :class:`JobNotFound`, or :class:`InvalidTransition` once the job is not pending.
        """
        check_priority(priority)
        await self._check_visible(job_id, username)
        job = await self.store.set_priority(job_id, priority, now=self._now_iso())
        self.events.publish(JobEvent.status_of(job))
        return job

    async def delete(self, job_id: str, *, username: str | None = None) -> None:
        """Delete a finished job and its steps (:class:`InvalidTransition` if it is pending or running)."""
        await self._check_visible(job_id, username)
        await self.store.delete_job(job_id)

    async def analytics(
        self,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        group_by: str | Iterable[str] = (),
        username: str | None = None,
    ) -> Analytics:
        """Aggregates over the jobs created from ``since`` (default: 30 days before ``until``) to
        ``until`` (default: now), grouped by any of ``day``, ``type``, ``model``, ``status``, of
        ``username`` only if given; see :class:`~lpe_nb.jobs.analytics.AnalyticsGroup`.
        :class:`InvalidInput` names a bad argument."""
        query = check_analytics_query(
            self.now(), since=since, until=until, group_by=group_by, username=username
        )
        return await self.store.analytics(query)

    async def counts(self, *, username: str | None = None) -> dict[JobStatus, int]:
        """How many jobs are in each status: everyone's, or ``username``'s."""
        return await self.store.count_by_status(username=username)

    async def _check_visible(self, job_id: str, username: str | None) -> None:
        # A job's username never changes, so checking before the write leaves no window.
        if username is not None:
            _visible(await self.store.get_job(job_id), username)

    async def metrics(self) -> dict[str, Any]:
        """This engine's figures (:meth:`lpe_nb.metrics.Meter.snapshot`), the job counts read now."""
        await self.meter.refresh()
        return self.meter.snapshot()

    async def _status_counts(self) -> dict[str, int]:
        return {status.value: n for status, n in (await self.store.count_by_status()).items()}

    async def purge_old_jobs(self) -> int:
        """Delete finished jobs older than the retention period, in small batches; returns how many.

        The result cache is purged too, to its own bounds (``settings.cache``), whatever the retention.
        """
        await self.cache.purge()
        if self.settings.retention_days is None:
            return 0
        cutoff = to_iso(self._clock() - timedelta(days=self.settings.retention_days))
        total = 0
        while True:
            deleted = await self.store.purge_terminal(cutoff, batch=self.settings.purge_batch)
            total += deleted
            if deleted < self.settings.purge_batch:
                return total

    # -- watching ----------------------------------------------------------------------------------------

    async def subscribe(
        self, job_ids: Iterable[str] | None = None, *, username: str | None = None
    ) -> Subscription:
        """A subscription to these jobs (each starts with its current state), or to all jobs if None
        (``username`` must be None then: the stream of every job is for the trusted).

        Events of jobs another process runs come through the database, as often as it persists them."""
        if job_ids is None:
            if username is not None:
                raise InvalidInput.field("job_ids", "name the jobs to watch: a user watches their own")
            sub = self.events.subscribe(None)
            try:
                await self._changes.follow()
            except BaseException:
                sub.close()
                raise
            return sub
        sub = self.events.subscribe(())
        try:
            for job_id in job_ids:
                await self.watch(sub, job_id, username=username)
        except BaseException:
            sub.close()
            raise
        return sub

    async def watch(self, sub: Subscription, job_id: str, *, username: str | None = None) -> None:
        """Add a job to ``sub``: its current state first (status, then progress; a finished job's status
        last so it never looks in progress), then its live events. :class:`JobNotFound` for a job that is
        not ``username``'s (when given), before anything of it is watched."""
        await self._check_visible(job_id, username)
        # Watched before the snapshot is read, so no event between the two is missed; held back until the
        # snapshot is queued, so the reader sees the current state first.
        sub.watch(job_id, awaiting_snapshot=True)
        try:
            await self._changes.follow()  # before the snapshot: a change committed after it is not missed
            sub.offer_snapshot(await self._snapshot(job_id))
        except BaseException:
            sub.unwatch(job_id)
            raise
        if self._link is not None:
            self._link.relay.watch([job_id])  # the process that runs it streams its text from now on

    async def _snapshot(self, job_id: str) -> list[JobEvent]:
        run = self._dispatcher.runs.get(job_id)
        if run is None:
            job = await self.store.get_job(job_id)
            run = self._dispatcher.runs.get(job_id)  # it may have started while we read
        if run is not None:
            # published_seq, not seq: a number handed out for an event not yet sent must not be
            # covered by the snapshot, or that event would be skipped as already seen.
            job, seq, progress = run.job, run.published_seq, run.live_progress or run.progress
            shared = run.snapshot
            if shared is not None and shared[0] is job and shared[1] == seq and shared[2] is progress:
                return list(shared[3])  # the same events (and frames, encoded once) for every watcher
        else:
            seq = max(job.seq, job.progress.seq)
            progress = job.progress
        status = JobEvent.status_of(job, seq=seq, snapshot=True)
        latest = JobEvent.progress_of(job_id, replace(progress, seq=seq), snapshot=True)
        events = [latest, status] if job.is_terminal else [status, latest]
        if run is not None:
            run.snapshot = (job, seq, progress, tuple(events))
        return events

    async def wait(self, job_id: str, timeout_s: float | None = None) -> JobRecord:
        """Wait until the job is finished and return it; ``TimeoutError`` after ``timeout_s``.

        Works for jobs run by another process too: the store is re-read every ``poll_interval_s``.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        with await self.subscribe([job_id]) as sub:
            while True:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"job {job_id} did not finish within {timeout_s} s")
                poll = self.settings.poll_interval_s
                try:
                    event = await sub.get(timeout_s=poll if remaining is None else min(poll, remaining))
                    if event.is_terminal:
                        break
                except TimeoutError:
                    if (await self.store.get_job(job_id)).is_terminal:
                        break
        return await self.get(job_id)

    # -- what StepContext calls (ContextHost) ------------------------------------------------------------

    def publish_progress(self, run: RunState, progress: Progress, *, persist: bool) -> None:
        if persist:
            run.progress = progress
            run.progress_dirty = True
        run.published_seq = progress.seq
        run.live_progress = progress
        if self.events.wants_progress(run.job.id):  # an event built for nobody is work for nothing
            self.events.publish(JobEvent.progress_of(run.job.id, progress))

    def report_progress(self, run: RunState, numbers: Progress, build: Callable[[], Progress]) -> None:
        """A persisted report: built and published now if someone takes this job's progress; else only
        its ``numbers`` now, and ``build()`` when the progress is next read (a save, a snapshot, a read of
        the job), if another report has not replaced it by then."""
        if self.events.wants_progress(run.job.id):
            self.publish_progress(run, build(), persist=True)
            return
        run.defer_progress(numbers, build)
        run.progress_dirty = True
        run.published_seq = numbers.seq
        run.live_progress = None  # the reported progress is the latest (any streamed text is older)

    def is_watched(self, job_id: str) -> bool:
        return self.events.has_watchers(job_id) or (self._link is not None and self._link.is_watched(job_id))

    async def save_step(self, run: RunState, record: StepRecord) -> None:
        await self.store.save_step(record, run.owner)
        if record.cost_usd is not None and record.name not in run.finished:  # as the store adds it up
            cost = (run.job.cost_usd or 0.0) + record.cost_usd
            if cost != run.job.cost_usd:  # a priced step of 0 USD (the mock, a local server): no copy
                run.job = replace(run.job, cost_usd=cost)
        self.step_timings.step_finished(run.job.type)
        self.meter.step_finished(
            run.job.type, record.name, record.duration_ms / 1000, record.usage, record.cost_usd
        )

    async def expected_step_seconds(self, job_type: str, model: str | None) -> Mapping[str, float]:
        return await self.step_timings.expected(job_type, model)


def local_username() -> str | None:
    """Who submits through an engine embedded in this process: ``$JUPYTERHUB_USER`` (on a JupyterHub, the
    name the user's server knows them by, so the jobs they submit from a kernel or a terminal are theirs
    there too), else the OS login name, else None (unknown)."""
    hub_user = os.environ.get("JUPYTERHUB_USER", "").strip()
    if hub_user:
        return hub_user
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no name for this uid (a container started with an arbitrary uid)
        return None


def _visible(job: JobRecord, username: str | None) -> JobRecord:
    """``job`` if ``username`` may see it (None: anyone may); else :class:`JobNotFound`, as for no job."""
    if username is not None and job.username != username:
        raise JobNotFound(job.id)
    return job
