"""The job store's interface: what the manager needs of a database, whatever the backend.

:class:`JobStore` is a :class:`~typing.Protocol`; :func:`open_store` picks the backend from a path or URL.
The backends are SQLite (:class:`lpe_nb.jobs.sqlite.SqliteJobStore`, one file on one machine, the default)
and PostgreSQL (:class:`lpe_nb.jobs.postgres.PgJobStore`, one database for many processes and machines).
``tests/jobs/test_store_contract.py`` proves a backend honours every guarantee written below, so the
manager never needs to know which one it talks to.

Every method is one transaction. Every state change is conditional on the state it expects, so a late
writer never overwrites a terminal state, and every change to a running job is conditional on its lease.
Timestamps are ISO-8601 UTC strings of fixed width (:func:`lpe_nb.jobs.model.to_iso`); they are passed in,
never read from the database's clock, so tests can inject time. Leases are the exception: a backend shared by
machines (PostgreSQL) times them on the database's clock, because machines' clocks are not in step. It
takes a lease's *length* from the caller (``lease_until - now``, a difference that clock skew does not
change), ends it at the database's ``now()`` plus that, and calls it expired when that moment is before the
database's ``now()``; SQLite, on one machine, stores ``lease_until`` and compares it with the caller's
``now``. A job's start time (``scheduled_at``) follows the same clock: PostgreSQL adds a submit's delay to
its own ``now()`` (:meth:`JobStore.insert_job`) and releases a waiting job when its ``now()`` reaches the
time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from lpe_nb.errors import InvalidInput, LeaseLost
from lpe_nb.jobs._store_common import (
    CacheStats,
    CatalogRow,
    JobChanges,
    Recovered,
    Synchronous,
    WorkerRecord,
    default_db_path,
)
from lpe_nb.jobs.analytics import Analytics, AnalyticsRange
from lpe_nb.jobs.model import JobRecord, JobStatus, Progress, StepRecord
from lpe_nb.jobs.recurrence import FiredSlot, ScheduleFire, ScheduleRecord
from lpe_nb.jobs.relay import EventRelay
from lpe_nb.jobs.sqlite import SqliteJobStore

__all__ = [
    "CacheStats",
    "CatalogRow",
    "DispatchLock",
    "JobChanges",
    "JobStore",
    "LeaseLost",
    "Recovered",
    "Synchronous",
    "WorkerRecord",
    "default_db_path",
    "is_postgres_url",
    "open_store",
]


class DispatchLock(Protocol):
    """Says which manager dispatches a database's jobs: at most one holder per database at a time.

    Whoever holds it knows every running job owned by someone else is an orphan. The lock must be freed
    when its holder dies, even by SIGKILL, so a new manager can take over at once.
    """

    async def try_acquire(self) -> bool:
        """Take the lock if it is free (True), or return False at once; True again if already held."""
        ...

    async def release(self) -> None:
        """Free the lock; does nothing if it is not held."""
        ...

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        ...


class JobStore(Protocol):
    """The only code that reads and writes the job database. Use ``async with open_store(...) as store``.

    Methods raise :class:`~lpe_nb.errors.StoreError` if the store is not open or the database fails,
    :class:`~lpe_nb.errors.JobNotFound` for an unknown id, and :class:`LeaseLost` when a write to a
    running job comes from an owner that no longer holds its lease. Safe to call from many tasks on the
    event loop that opened the store; not thread-safe.
    """

    @property
    def location(self) -> str:
        """Where the jobs live, for messages and logs (a file path, or a URL without its password)."""
        ...

    def dispatch_lock(self) -> DispatchLock:
        """A new, unheld lock over this database (no I/O until :meth:`DispatchLock.try_acquire`).

        Two locks from stores over the same database exclude each other, even within one process.
        """
        ...

    @property
    def concurrent_dispatch(self) -> bool:
        """Whether any number of managers may dispatch this database's jobs at once (True: claims never
        hand one job to two owners and leases are timed by the database, so no dispatch lock is taken and a
        manager starting recovers only expired leases), or one at a time, the holder of
        :meth:`dispatch_lock` (False: SQLite)."""
        ...

    def event_relay(self, origin: str) -> EventRelay | None:
        """A new, unstarted relay of events between the processes on this database, for the manager named
        ``origin`` (:mod:`lpe_nb.jobs.relay`); None where the processes follow the database instead (SQLite)."""
        ...

    # -- lifecycle -------------------------------------------------------------------------------------

    async def open(self) -> JobStore:
        """Connect and bring the schema up to date; returns the store.

        Raises :class:`~lpe_nb.errors.StoreError` if the database cannot be used, or was written by a
        newer lpe-nb.
        """
        ...

    async def close(self) -> None:
        """Commit every write already queued, then disconnect. Idempotent; the store can be reopened."""
        ...

    async def __aenter__(self) -> JobStore:
        """:meth:`open`."""
        ...

    async def __aexit__(self, *exc_info: object) -> None:
        """:meth:`close`."""
        ...

    # -- writes of whole jobs ----------------------------------------------------------------------------

    async def insert_job(self, job: JobRecord, *, delay_s: float | None = None) -> JobRecord:
        """Persist a new job exactly as given (its ``username``, who submitted it, never changes after) and
        record its submission in the audit trail; returns the job as stored.

        ``delay_s`` says that the job's ``scheduled_at`` is "``delay_s`` seconds from now" (a submit's
        ``delay_s``, where ``run_at`` is an instant kept as given): a backend shared by machines (PostgreSQL)
        stores its own ``now()`` plus ``delay_s``, on the clock that releases scheduled jobs and times leases,
        and returns the job with that ``scheduled_at``; SQLite, on one machine, stores the caller's
        ``scheduled_at``.

        Committed when this returns. A duplicate id is refused (with the backend's integrity error) and
        leaves the stored job as it was.

        With ``depends_on`` (parent ids), the job is linked to them and waits: its ``waiting_on`` is set to
        how many have not completed (None if all have), and each parent's ``dependents`` goes up by one,
        in the same transaction. A parent that does not exist, failed or was cancelled raises
        :class:`~lpe_nb.errors.InvalidInput` naming ``depends_on`` and writes nothing.
        """
        ...

    async def request_cancel(self, job_id: str, *, now: str, actor: str) -> JobRecord:
        """Cancel a pending job at once; mark a running one ``cancel_requested`` for its runner to act on.

        Returns the job after the change. Raises :class:`~lpe_nb.errors.InvalidTransition` if it already
        finished; a pending job cancelled here is never claimed.
        Cancelling a pending job cancels the jobs waiting for it, as :meth:`finish` does.
        """
        ...

    async def set_priority(self, job_id: str, priority: int, *, now: str) -> JobRecord:
        """Change a pending job's ``priority``; its place among the pending jobs follows at once (the next
        claim orders by the new value, ties still by ``created_at``).

        Returns the job after the change, its ``seq`` raised so that watchers (and other processes' change
        feeds) see it. Raises :class:`~lpe_nb.errors.JobNotFound`, or
        :class:`~lpe_nb.errors.InvalidTransition` if the job is no longer pending (a claimed job keeps the
        priority it was claimed with).
        """
        ...

    async def delete_job(self, job_id: str) -> None:
        """Delete a terminal job with its steps and transitions.

        Raises :class:`~lpe_nb.errors.InvalidTransition` for a pending or running job (cancel it first).
        """
        ...

    async def purge_terminal(self, completed_before: str, *, batch: int) -> int:
        """Delete at most ``batch`` terminal jobs that ended before ``completed_before``, oldest first.

        Returns how many were deleted; fewer than ``batch`` means none are left. Never touches a pending or
        running job.
        """
        ...

    # -- writes of running jobs, under a lease -----------------------------------------------------------

    async def claim_pending(
        self, owner: str, now: str, lease_until: str, limit: int, *, types: Collection[str] | None = None
    ) -> list[tuple[JobRecord, list[StepRecord]]]:
        """pending -> running for up to ``limit`` jobs, highest priority then oldest first, in that order;
        a job whose ``scheduled_at`` is after ``now`` (PostgreSQL: after the database's ``now()``, the
        clock of leases) is not claimed (its ``scheduled_at`` is cleared once
        it is due, and it then queues by priority and age like any other). With ``types``, only jobs of
        those types are claimed, in the same order (an empty collection claims nothing); the others stay
        pending, in their places, for a dispatcher that runs them.

        A job waiting for parents (``waiting_on`` not None) is not claimed until they have all completed,
        and costs the claim nothing however many there are.

        Each claimed job has one more attempt, ``owner``'s lease until ``lease_until`` (its length, from the
        database's clock, on a shared database: see the module's docstring), a higher ``seq``,
        and comes with the steps it finished in earlier attempts (where it resumes from). Two stores
        claiming concurrently from one database never get the same job. ``limit <= 0`` claims nothing.
        """
        ...

    async def complete_input(self, job: JobRecord, owner: str, input_data: Any) -> JobRecord:
        """Replace the input of a running dependent with ``input_data``, its input completed from its
        parents' results when it started (``seq`` and ``updated_at`` stay: no state changed). Only while
        ``owner`` holds the lease, else :class:`LeaseLost`; :class:`~lpe_nb.errors.InvalidInput` for a
        value that is not JSON, before anything is written. Returns the job with the new input."""
        ...

    async def renew_leases(self, owner: str, lease_until: str, *, now: str) -> set[str]:
        """Extend every lease ``owner`` holds to ``lease_until`` (the heartbeat; on a shared database, by
        ``lease_until - now`` from the database's clock).

        Returns the ids of its running jobs whose cancel was requested, so the runner can act on a cancel
        made through another store.
        """
        ...

    async def finish(
        self,
        job: JobRecord,
        owner: str,
        status: JobStatus,
        *,
        now: str,
        seq: int,
        progress: Progress,
        result_data: Any = None,
        error_message: str | None = None,
    ) -> JobRecord:
        """running -> completed | failed | cancelled, only while ``owner`` holds the lease.

        ``job`` is the running job as its runner knows it; the finished job (lease cleared) is returned, and
        the stored ``seq`` never goes down. Raises :class:`LeaseLost` if the job is no longer ``owner``'s,
        e.g. already finished: the stored outcome stands. A result that is not JSON raises
        :class:`~lpe_nb.errors.InvalidInput` before anything is written.

        In the same transaction, the job's dependents (the pending jobs whose ``depends_on`` names it) are
        released or cancelled: on ``completed``, each one that waits for no other unfinished parent gets
        ``waiting_on`` None (it joins the queue), and each one has its ``waiting_on`` recounted, its
        ``seq`` raised and its progress updated (``queued``, or ``waiting for <title>``); on ``failed`` or
        ``cancelled``, each pending dependent, and theirs in turn, is cancelled, its ``error_message`` and
        audit-trail reason naming the parent it waited for (actor ``depends_on``). The returned job's
        ``dependents`` is the stored count.
        """
        ...

    async def requeue(
        self, job: JobRecord, owner: str, *, now: str, seq: int, refund_attempt: bool
    ) -> JobRecord:
        """running -> pending (a graceful stop), only while ``owner`` holds the lease, else :class:`LeaseLost`.

        Finished steps are kept, so the job resumes from the last one; ``refund_attempt`` gives back the
        attempt it used (never below zero).
        """
        ...

    async def record_retry(self, job: JobRecord, owner: str, *, now: str, seq: int, reason: str) -> JobRecord:
        """A running job's attempt failed and it will be tried again in place: one more attempt, and
        ``reason`` (the error, the wait) in its audit trail as a ``running -> running`` transition.

        Only while ``owner`` holds the lease, else :class:`LeaseLost`. Returns the job with its new
        ``attempts``; the stored ``seq`` never goes down.
        """
        ...

    async def save_progress(self, updates: Sequence[tuple[str, str, Progress, int]], *, now: str) -> None:
        """Persist the latest progress of running jobs, as ``(job_id, owner, progress, seq)``, in one write.

        An update for a job that is no longer running under that owner is skipped silently (progress is
        advisory; the outcome is what counts). ``seq`` never goes backwards.
        """
        ...

    async def save_step(self, step: StepRecord, owner: str) -> None:
        """Record a finished step (the resume checkpoint), only while ``owner`` still runs the job.

        Raises :class:`LeaseLost` otherwise. Saving a step of the same name twice keeps the first.
        """
        ...

    async def recover_orphans(self, owner: str, *, now: str, only_expired: bool) -> list[Recovered]:
        """Take back running jobs held by owners other than ``owner``: all of them, or those whose lease
        expired before ``now`` if ``only_expired``.

        Each resumes (back to pending, its finished steps kept, ``seq`` jumped past any number a lost
        event could have used), fails if its attempts are used up, or is cancelled if a cancel was asked.
        An attempt interrupted after it saved a step does not count against ``max_attempts``: they are
        used up by ``max_attempts`` attempts in a row that saved no step (:mod:`lpe_nb.jobs.retry`).
        A job that fails or is cancelled here cancels its dependents, as :meth:`finish` does.
        """
        ...

    # -- the heartbeat rows of dispatching processes (``api/status``) ---------------------------------

    async def save_worker(self, worker: WorkerRecord) -> None:
        """Write ``worker``'s row, replacing any row of the same ``owner`` (at start, or to re-create a row
        someone forgot)."""
        ...

    async def touch_worker(self, owner: str, now: str) -> bool:
        """Set ``owner``'s ``last_seen`` to ``now`` (each lease heartbeat); False if it has no row."""
        ...

    async def delete_worker(self, owner: str) -> None:
        """Remove ``owner``'s row (a graceful exit); does nothing if there is none."""
        ...

    async def forget_workers(self, seen_before: str) -> int:
        """Remove every row last seen before ``seen_before`` (long dead processes); returns how many."""
        ...

    async def list_workers(self) -> list[WorkerRecord]:
        """Every row, oldest ``started_at`` first (ties by ``owner``), stale ones included."""
        ...

    # -- reads -------------------------------------------------------------------------------------------

    async def get_job(self, job_id: str) -> JobRecord:
        """The job as last committed; raises :class:`~lpe_nb.errors.JobNotFound`."""
        ...

    async def get_job_with_steps(self, job_id: str) -> tuple[JobRecord, list[StepRecord]]:
        """The job and its finished steps (in order) from one consistent snapshot."""
        ...

    async def get_steps(self, job_id: str) -> list[StepRecord]:
        """The job's finished steps in step order (empty for an unknown id)."""
        ...

    async def get_transitions(self, job_id: str) -> list[dict[str, Any]]:
        """The job's audit trail, oldest first: dicts of ``at``, ``from_status``, ``to_status``, ``actor``
        and ``reason`` (``from_status`` is None for the submission)."""
        ...

    async def dependents_of(self, job_id: str) -> list[JobRecord]:
        """The jobs submitted with ``job_id`` in their ``depends_on``, oldest first (empty for a job with
        none, or an unknown id)."""
        ...

    async def changed_since(self, cursor: object | None = None) -> JobChanges:
        """The jobs whose state other stores on this database (other processes, mostly) moved since
        ``cursor``, oldest change first, with the cursor to pass next time.

        A job has moved when its ``seq`` rose (every status change and progress save) or its cancel was
        requested. ``None`` starts at the present: no jobs, a cursor. A job that moved several times since
        comes once, as it is now; one that did not move never comes back. This store's own changes need
        not come (the caller made them) but may, along with others'. Meant to be called often: when no
        other store committed since ``cursor`` it must cost next to nothing (SQLite: one ``PRAGMA
        data_version``). :class:`~lpe_nb.errors.InvalidInput` for a cursor this store did not return.
        """
        ...

    async def list_jobs(
        self,
        *,
        statuses: Iterable[JobStatus] = (),
        job_type: str | None = None,
        limit: int = 50,
        before: tuple[str, str] | None = None,
        username: str | None = None,
    ) -> list[JobRecord]:
        """Up to ``limit`` jobs newest first (by ``created_at``, then ``id``), filtered by status and type,
        and with ``username`` only the jobs whose ``username`` equals it (None: everyone's, a job with no
        username included).

        ``before`` is the ``(created_at, id)`` of the last job of the previous page: pages never repeat or
        skip a job, even when several share a ``created_at``. A user's listing must read in proportion to
        the page, not to the history or to other users' jobs (SQLite: an index on ``(username, status,
        created_at DESC, id DESC)``, one bounded walk per status).
        """
        ...

    async def count_by_status(self, *, username: str | None = None) -> dict[JobStatus, int]:
        """How many jobs are in each status; every status is a key (0 when there are none). With
        ``username``, only that user's jobs (reads at most that user's index entries, never the table)."""
        ...

    async def median_step_seconds(
        self, job_type: str, *, model: str | None = None, last_jobs: int = 20
    ) -> dict[str, float]:
        """Per step name, the median duration in seconds of the finished steps of the ``last_jobs`` newest
        jobs of ``job_type`` (whatever their status): what the next job's steps can be expected to take.

        With ``model``, only steps whose stored output says that model produced them
        (``output["llm"]["model"]``, as the operations store it). A name with no such step is absent; an
        unknown type gives ``{}``. Raises :class:`~lpe_nb.errors.InvalidInput` if ``last_jobs < 1``.
        """
        ...

    async def analytics(self, query: AnalyticsRange) -> Analytics:
        """Aggregates over the jobs created in ``[query.since, query.until)``, grouped by
        ``query.group_by`` (a checked :class:`~lpe_nb.jobs.analytics.AnalyticsRange`), plus the totals,
        from one consistent snapshot; groups ordered by key.

        Per group: the jobs and their count per status; ``success_rate`` = completed / (completed +
        failed); nearest-rank p50 and p95 of ``completed_at - started_at`` over jobs that started and
        ended; the sums over their steps of ``usage`` keys ``prompt_tokens``, ``completion_tokens``,
        ``total_tokens``, ``llm_calls`` and ``cache_hits`` (0 where absent) and of ``cost_usd`` (None when
        every one is null); ``cache_hit_rate`` = hits / (hits + calls), 0 without either. Keys: ``day``
        the UTC date of ``created_at`` (``YYYY-MM-DD``), ``type``, ``status``, ``model`` the steps'
        ``model`` (grouped by model, a job's steps are split by their model, so a job that used two models
        is in both groups, and a job with no step is under None). See
        :class:`~lpe_nb.jobs.analytics.AnalyticsGroup`. With ``query.username``, only that user's jobs
        (and their steps). Must read the range by an index on ``created_at``.
        """
        ...

    # -- recurring schedules -------------------------------------------------------------------------------

    async def insert_schedule(self, schedule: ScheduleRecord) -> None:
        """Persist a new recurring schedule exactly as given (its ``next_fire_at`` already computed; its
        ``username``, who made it and whose the jobs it fires are, never changes after).

        A duplicate id is refused (the backend's integrity error). An input that is not JSON raises
        :class:`~lpe_nb.errors.InvalidInput` naming ``input`` before anything is written.
        """
        ...

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord:
        """The schedule as last committed; raises :class:`~lpe_nb.errors.ScheduleNotFound`."""
        ...

    async def list_schedules(self, *, limit: int = 500, username: str | None = None) -> list[ScheduleRecord]:
        """Up to ``limit`` schedules (with ``username``, only those that user made), oldest first (by
        ``created_at``, then ``id``)."""
        ...

    async def set_schedule_paused(self, schedule_id: str, paused: bool, *, now: datetime) -> ScheduleRecord:
        """Pause a schedule (it fires nothing until resumed), or resume it: its next fire time becomes the
        first slot after ``now`` (and after its last fired slot); slots that passed while it was paused
        are not caught up. Idempotent. Returns the schedule after the change; raises
        :class:`~lpe_nb.errors.ScheduleNotFound`."""
        ...

    async def delete_schedule(self, schedule_id: str) -> None:
        """Delete a schedule and its record of fires; the jobs it created stay. Raises
        :class:`~lpe_nb.errors.ScheduleNotFound`."""
        ...

    async def fire_due_schedules(self, now: datetime, *, limit: int = 100) -> list[FiredSlot]:
        """Fire up to ``limit`` unpaused schedules whose ``next_fire_at`` is at or before ``now``, soonest
        first, in one transaction, and return what each did (one :class:`FiredSlot` per schedule handled).

        Per schedule, :func:`lpe_nb.jobs.recurrence.plan_fire` decides (catch-up policy): at most one slot
        is fired, the latest at or before ``now``. Firing it inserts the row ``(schedule_id, slot)`` into
        the schedule's fires, whose key is unique, and the pending job :meth:`ScheduleRecord.job_for` makes
        (its audit trail's actor is ``schedule <id>``); a slot already in the fires creates no job. Then
        ``next_fire_at`` becomes the first slot after ``now``, and ``last_slot``, ``last_job_id`` and
        ``fire_count`` follow. Two stores firing concurrently on one database, or a store re-firing after
        a crash, never create two jobs for one slot. ``limit`` handled means more may be due: call again.
        """
        ...

    async def next_schedule_fire_at(self) -> str | None:
        """The earliest ``next_fire_at`` of the unpaused schedules (when the dispatcher must next fire),
        or None if there is none. Meant to be called after every fire: one index probe."""
        ...

    async def list_schedule_fires(self, schedule_id: str, *, limit: int = 20) -> list[ScheduleFire]:
        """The schedule's latest fires (slot, job id, when), newest slot first; at most ``limit``, and only
        the last 1000 are kept. Raises :class:`~lpe_nb.errors.ScheduleNotFound`."""
        ...

    # -- the result cache (table llm_cache) ----------------------------------------------------------------
    # Opaque text values by key: the LLM layer keys completions by a hash of the request. Bounded by the
    # manager's CacheSettings at each retention purge, not on every put.

    async def cache_get(self, key: str, *, created_after: str, now: str) -> str | None:
        """The value stored under ``key`` if it was stored after ``created_after`` (``""``: any age), else
        None. A found entry counts one more hit and is marked used at ``now`` (what LRU eviction reads):
        at once, or (SQLite: the lookup only reads) with a later write of this store, at the latest
        before its :meth:`cache_stats` or :meth:`cache_purge` reads them or a clean close. A hit not yet
        written is lost if the process dies: counts are statistics, not guarantees."""
        ...

    async def cache_put(self, key: str, value: str, *, now: str) -> None:
        """Store ``value`` under ``key`` (replacing any), created and used at ``now``, no hits yet; its
        size is the UTF-8 length of ``value``. Committed when this returns."""
        ...

    async def cache_clear(self) -> int:
        """Delete every entry; returns how many there were."""
        ...

    async def cache_purge(
        self, *, created_before: str | None, max_entries: int | None, max_bytes: int | None
    ) -> int:
        """Delete the entries created before ``created_before``, then the least recently used ones (by
        ``used_at``, ties by key) until at most ``max_entries`` remain whose sizes sum to at most
        ``max_bytes``. None skips a bound. Returns how many were deleted."""
        ...

    async def cache_stats(self) -> CacheStats:
        """How many entries, their total size and hits, the oldest and newest ``created_at``."""
        ...

    # -- the user catalog (table user_catalog) -------------------------------------------------------------
    # Personas, namespaces and styles that configuration jobs save, one row per (kind, name), shared by
    # every process on the database (a worker saves what a server lists). A few hundred rows at most: read
    # whole, when the revision says they changed.

    async def catalog_revision(self) -> int:
        """A number that changes with every committed save or delete of an entry (a point read). Read it
        *before* :meth:`catalog_entries`: the entries are then at least as new as it says."""
        ...

    async def catalog_entries(self) -> list[CatalogRow]:
        """Every entry, oldest first (by ``created_at``, then kind and name)."""
        ...

    async def save_catalog_entry(self, entry: CatalogRow) -> bool:
        """Insert ``entry``, or replace the entry of the same kind and name made by the same ``username``
        (None matches None); committed when this returns. False, writing nothing, when that name is
        another user's: one check-and-write, so two users saving one name at once cannot both win."""
        ...

    async def delete_catalog_entry(
        self, kind: str, name: str, *, username: str | None = None
    ) -> CatalogRow | None:
        """Delete the entry (with ``username``, only if that user made it) and return it as it was; None
        when there is no such entry (or it is another user's)."""
        ...


# A scheme has two letters or more, so a Windows drive (C:\...) stays a path; so does any other name with a
# colon unless its scheme is one we know or it is followed by "//".
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(//)?")
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg"}


def open_store(
    url_or_path: str | os.PathLike[str] | None = None,
    *,
    synchronous: Synchronous = "NORMAL",
    **options: Any,
) -> JobStore:
    """An unopened store for ``url_or_path``; use it as ``async with open_store(path) as store``.

    - ``None``: the default SQLite file (:func:`default_db_path`).
    - a path, ``sqlite:///relative/path`` or ``sqlite:////absolute/path`` (as SQLAlchemy writes them, so
      ``f"sqlite:///{path}"`` works for both), or a ``file:`` URL: SQLite.
    - ``postgresql://...`` or ``postgres://...`` (libpq's URL; SQLAlchemy's ``postgresql+psycopg://`` too):
      PostgreSQL, with ``pip install "lpe-nb[postgres]"``.

    ``options`` go to the backend (SQLite: ``busy_timeout_ms``, ``max_batch``; PostgreSQL:
    ``pool_min_size``, ``pool_max_size``, ``connect_timeout_s``). Raises
    :class:`~lpe_nb.errors.InvalidInput` naming ``db_url`` for a URL no backend can open, or PostgreSQL's
    when psycopg is not installed.
    """
    if url_or_path is None or isinstance(url_or_path, os.PathLike):
        return SqliteJobStore(url_or_path, synchronous=synchronous, **options)
    if is_postgres_url(url_or_path):
        return _postgres_store(url_or_path, synchronous=synchronous, **options)
    return SqliteJobStore(_sqlite_path(url_or_path), synchronous=synchronous, **options)


def is_postgres_url(url_or_path: str | os.PathLike[str] | None) -> bool:
    """Whether ``url_or_path`` names a PostgreSQL database (else a SQLite file, or the default one)."""
    if not isinstance(url_or_path, str):
        return False
    match = _URL_SCHEME.match(url_or_path.strip())
    return match is not None and match.group(1).lower() in _POSTGRES_SCHEMES


def _postgres_store(url: str, *, synchronous: Synchronous, **options: Any) -> JobStore:
    try:
        from lpe_nb.jobs.postgres import PgJobStore
    except ImportError as exc:  # psycopg is an optional dependency
        raise InvalidInput.field(
            "db_url",
            f"names a PostgreSQL database, which needs psycopg: pip install 'lpe-nb[postgres]' ({exc})",
        ) from exc
    store: JobStore = PgJobStore(url.strip(), synchronous=synchronous, **options)
    return store


def _sqlite_path(url: str) -> str:
    """The file a path or URL names for the SQLite backend; InvalidInput for anything else."""
    if not url.strip():
        raise InvalidInput.field("db_url", "is empty; give a file path, sqlite:///path or postgresql://...")
    match = _URL_SCHEME.match(url)
    scheme = "" if match is None else match.group(1).lower()
    if scheme not in ("sqlite", "file", *_POSTGRES_SCHEMES) and (match is None or not match.group(2)):
        return url
    try:
        parts = urlsplit(url)
        redacted = _redact(url)
    except ValueError as exc:  # e.g. an unclosed [ in the host
        raise InvalidInput.field("db_url", f"is not a valid URL: {exc}") from exc
    if parts.query or parts.fragment:
        raise InvalidInput.field("db_url", f"takes no query or fragment: {redacted!r}")
    if scheme == "sqlite":
        # SQLAlchemy's form: sqlite:/// followed by the path, relative or (with a 4th slash) absolute.
        prefix = "sqlite:///"
        path = unquote(url[len(prefix) :]) if url[: len(prefix)].lower() == prefix else ""
    elif scheme == "file" and parts.netloc in ("", "localhost"):
        path = unquote(parts.path)  # RFC 8089: file:///abs/path, file:relative/path
    else:
        raise InvalidInput.field(
            "db_url",
            f"cannot open {redacted!r}; give a file path, sqlite:///path, file:///path or postgresql://...",
        )
    if path in ("", ":memory:"):
        raise InvalidInput.field(
            "db_url", f"{url!r} names no file; the job store needs one (e.g. sqlite:///jobs.db)"
        )
    return path


def _redact(url: str) -> str:
    """``url`` without its password, fit for a message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
