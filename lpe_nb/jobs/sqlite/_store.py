"""SqliteJobStore: the job store (:class:`lpe_nb.jobs.store.JobStore`) in one SQLite file, over aiosqlite.

Two connections: a writer and a reader (WAL lets reads proceed while a write commits). Every write is a
plain function of a ``sqlite3.Connection`` queued on the writer, which commits everything queued at that
moment in one transaction (see :mod:`lpe_nb.jobs.sqlite._group_commit`). Every state change is conditional
on the state it expects, so a late writer never overwrites a terminal state. A whole transaction runs in
one hop to aiosqlite's thread; the event loop never touches SQLite.

This class checks and serializes arguments on the caller's side (so a bad one fails before anything is
queued) and builds the job it returns. The SQL lives beside it, in ``_sql_jobs`` (submit, cancel, delete,
purge), ``_sql_leases`` (running jobs), ``_sql_reads`` and ``_sql_changes`` (what other processes changed).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from lpe_nb.errors import InvalidInput, StoreError
from lpe_nb.jobs._store_common import (
    CacheStats,
    JobChanges,
    Recovered,
    Synchronous,
    WorkerRecord,
    default_db_path,
)
from lpe_nb.jobs.analytics import Analytics, AnalyticsRange
from lpe_nb.jobs.model import JobRecord, JobStatus, Progress, StepRecord, check_transition, dump_json
from lpe_nb.jobs.relay import EventRelay
from lpe_nb.jobs.sqlite import _sql_cache, _sql_jobs, _sql_leases, _sql_reads, _sql_workers
from lpe_nb.jobs.sqlite._connection import connect, hop
from lpe_nb.jobs.sqlite._group_commit import GroupCommitWriter
from lpe_nb.jobs.sqlite._location import prepare_location
from lpe_nb.jobs.sqlite._lock import FileDispatchLock
from lpe_nb.jobs.sqlite._rows import job_to_row, progress_json, step_to_row
from lpe_nb.jobs.sqlite._schedule_store import SqliteSchedules
from lpe_nb.jobs.sqlite._sql_analytics import analytics
from lpe_nb.jobs.sqlite._sql_chains import complete_input, fetch_dependents
from lpe_nb.jobs.sqlite._sql_changes import ChangeCursor, changed_since, data_version, is_current
from lpe_nb.jobs.sqlite.schema import migrate

__all__ = ["SqliteJobStore"]

T = TypeVar("T")


class SqliteJobStore(SqliteSchedules):
    """The job store in the SQLite file at ``path`` (default :func:`~lpe_nb.jobs.store.default_db_path`).

    Prefer ``async with open_store(path) as store``; the options are the SQLite connections'
    ``busy_timeout`` and the most writes one transaction commits. ``path`` is the file, for code that
    needs it (the dispatch lock sits beside it). One dispatching manager per file; other processes on the
    same file may read, submit and cancel.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_ms: int = 10_000,
        max_batch: int = 512,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InvalidInput.field("synchronous", f"must be NORMAL or FULL, not {synchronous!r}")
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self.synchronous: Synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self.max_batch = max_batch  # writes per transaction at most, read when the store opens
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._serial = 0  # a new number per opening: a change cursor names the connection it read
        self._group_commit = GroupCommitWriter(self.path)

    @property
    def location(self) -> str:
        return str(self.path)

    def dispatch_lock(self) -> FileDispatchLock:
        """An OS lock on ``<path>.dispatch.lock``, freed by the OS when its holder dies."""
        return FileDispatchLock(self.path)

    @property
    def concurrent_dispatch(self) -> bool:
        """False: one process per file dispatches, the holder of :meth:`dispatch_lock`."""
        return False

    def event_relay(self, origin: str) -> EventRelay | None:
        """None: the processes on one file follow it (``changed_since``) instead."""
        return None

    @property
    def commits(self) -> int:
        """Transactions committed by the writer; group commit makes this fewer than the writes."""
        return self._group_commit.commits

    # -- lifecycle -------------------------------------------------------------------------------------

    async def open(self) -> SqliteJobStore:
        """Connect and migrate; :class:`StoreError` naming the fix if the file cannot live where it is
        (a directory that cannot be created or written, a network file system)."""
        prepare_location(self.path)
        try:
            self._writer = await self._connect()
            await hop(self._writer, migrate)
            self._reader = await self._connect(query_only=True)
            self._serial += 1
        except BaseException as exc:
            await self.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot open the job database {self.path}: {exc}") from exc
            raise
        self._group_commit.start(self._writer, max_batch=self.max_batch)
        return self

    async def close(self) -> None:
        try:
            await self._group_commit.stop()
        finally:
            for conn in (self._reader, self._writer):
                if conn is not None:
                    await conn.close()
            self._reader = self._writer = None

    async def __aenter__(self) -> SqliteJobStore:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _connect(self, *, query_only: bool = False) -> aiosqlite.Connection:
        return await connect(
            self.path,
            busy_timeout_ms=self.busy_timeout_ms,
            synchronous=self.synchronous,
            query_only=query_only,
        )

    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return await self._group_commit.submit(op)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader is None:
            raise StoreError("the job store is not open; use `async with open_store(...)`")
        try:
            return await hop(self._reader, fn)
        except sqlite3.Error as exc:
            raise StoreError(f"reading the job database {self.path} failed: {exc}") from exc

    # -- writes of whole jobs ----------------------------------------------------------------------------

    async def insert_job(self, job: JobRecord) -> None:
        row = job_to_row(job)
        await self._write(lambda conn: _sql_jobs.insert_job(conn, job, row))

    async def request_cancel(self, job_id: str, *, now: str, actor: str) -> JobRecord:
        """Cancel a pending job at once; mark a running one ``cancel_requested`` for its runner to act on."""
        return await self._write(lambda conn: _sql_jobs.request_cancel(conn, job_id, now=now, actor=actor))

    async def set_priority(self, job_id: str, priority: int, *, now: str) -> JobRecord:
        """Change a pending job's priority; :class:`InvalidTransition` once it is not pending."""
        return await self._write(lambda conn: _sql_jobs.set_priority(conn, job_id, priority, now=now))

    async def delete_job(self, job_id: str) -> None:
        """Delete a terminal job and its steps; a pending or running job must be cancelled first."""
        await self._write(lambda conn: _sql_jobs.delete_job(conn, job_id))

    async def purge_terminal(self, completed_before: str, *, batch: int) -> int:
        """Delete at most ``batch`` terminal jobs that ended before ``completed_before``; returns how many."""
        return await self._write(lambda conn: _sql_jobs.purge_terminal(conn, completed_before, batch=batch))

    # -- writes of running jobs, under a lease -----------------------------------------------------------

    async def claim_pending(
        self, owner: str, now: str, lease_until: str, limit: int, *, types: Collection[str] | None = None
    ) -> list[tuple[JobRecord, list[StepRecord]]]:
        """pending -> running for up to ``limit`` jobs (of ``types`` if given), highest priority then
        oldest first.

        Each comes with the steps it finished in earlier attempts: where it resumes from.
        """
        wanted = None if types is None else sorted(set(types))
        if limit <= 0 or wanted == []:
            return []
        return await self._write(
            lambda conn: _sql_leases.claim_pending(conn, owner, now, lease_until, limit, wanted)
        )

    async def complete_input(self, job: JobRecord, owner: str, input_data: Any) -> JobRecord:
        """Store a running dependent's input as completed from its parents' results (docs/chains.md)."""
        text = dump_json(input_data, field_name="input_data")
        await self._write(lambda conn: complete_input(conn, job.id, owner, text))
        return replace(job, input_data=input_data)

    async def renew_leases(self, owner: str, lease_until: str, *, now: str) -> set[str]:
        """Extend every lease ``owner`` holds to ``lease_until`` (one machine, one clock: ``now`` is not
        needed); returns the ids of its jobs whose cancel was requested."""
        return await self._write(lambda conn: _sql_leases.renew_leases(conn, owner, lease_until))

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

        ``job`` is the running job as its runner knows it; the finished job is returned.
        """
        check_transition(job.id, JobStatus.RUNNING, status)
        result_json = None if result_data is None else dump_json(result_data, field_name="result_data")
        progress_text = progress_json(progress)
        dependents = await self._write(
            lambda conn: _sql_leases.finish(
                conn,
                job.id,
                owner,
                status,
                now=now,
                seq=seq,
                progress=progress_text,
                result_data=result_json,
                error_message=error_message,
            )
        )
        return replace(
            job, status=status, result_data=result_data, error_message=error_message, progress=progress,
            completed_at=now, updated_at=now, seq=seq, lease_owner=None, lease_expires_at=None,
            dependents=dependents,
        )  # fmt: skip

    async def requeue(
        self, job: JobRecord, owner: str, *, now: str, seq: int, refund_attempt: bool
    ) -> JobRecord:
        """running -> pending (a graceful stop): the job resumes from its last finished step later."""
        refund = 1 if refund_attempt else 0
        await self._write(
            lambda conn: _sql_leases.requeue(conn, job.id, owner, now=now, seq=seq, refund=refund)
        )
        return replace(
            job, status=JobStatus.PENDING, attempts=max(0, job.attempts - refund), updated_at=now, seq=seq,
            lease_owner=None, lease_expires_at=None,
        )  # fmt: skip

    async def record_retry(self, job: JobRecord, owner: str, *, now: str, seq: int, reason: str) -> JobRecord:
        """Count a new attempt of a running job that stays running, with ``reason`` in its audit trail."""
        attempts = await self._write(
            lambda conn: _sql_leases.record_retry(conn, job.id, owner, now=now, seq=seq, reason=reason)
        )
        return replace(job, attempts=attempts, updated_at=now, seq=max(job.seq, seq))

    async def save_progress(self, updates: Sequence[tuple[str, str, Progress, int]], *, now: str) -> None:
        """Persist the latest progress of running jobs, as ``(job_id, owner, progress, seq)``, in one write."""
        if updates:
            await self._write(lambda conn: _sql_leases.save_progress(conn, updates, now=now))

    async def save_step(self, step: StepRecord, owner: str) -> None:
        """Record a finished step, only while ``owner`` still runs the job (else :class:`LeaseLost`)."""
        row = step_to_row(step)
        await self._write(lambda conn: _sql_leases.save_step(conn, row, owner))

    async def recover_orphans(self, owner: str, *, now: str, only_expired: bool) -> list[Recovered]:
        """Take back running jobs held by other owners (all of them, or those whose lease has expired).

        Each resumes (back to pending, its finished steps kept), fails if its attempts are used up, or is
        cancelled if a cancel was requested.
        """
        return await self._write(
            lambda conn: _sql_leases.recover_orphans(conn, owner, now=now, only_expired=only_expired)
        )

    # -- the heartbeat rows of dispatching processes --------------------------------------------------

    async def save_worker(self, worker: WorkerRecord) -> None:
        await self._write(lambda conn: _sql_workers.save_worker(conn, worker))

    async def touch_worker(self, owner: str, now: str) -> bool:
        return await self._write(lambda conn: _sql_workers.touch_worker(conn, owner, now))

    async def delete_worker(self, owner: str) -> None:
        await self._write(lambda conn: _sql_workers.delete_worker(conn, owner))

    async def forget_workers(self, seen_before: str) -> int:
        return await self._write(lambda conn: _sql_workers.forget_workers(conn, seen_before))

    async def list_workers(self) -> list[WorkerRecord]:
        return await self._read(_sql_workers.list_workers)

    # -- reads -------------------------------------------------------------------------------------------

    async def get_job(self, job_id: str) -> JobRecord:
        return await self._read(lambda conn: _sql_reads.fetch_job(conn, job_id))

    async def get_job_with_steps(self, job_id: str) -> tuple[JobRecord, list[StepRecord]]:
        """The job and its finished steps from one consistent snapshot."""
        return await self._read(lambda conn: _sql_reads.fetch_job_with_steps(conn, job_id))

    async def get_steps(self, job_id: str) -> list[StepRecord]:
        return await self._read(lambda conn: _sql_reads.fetch_steps(conn, job_id))

    async def get_transitions(self, job_id: str) -> list[dict[str, Any]]:
        return await self._read(lambda conn: _sql_reads.fetch_transitions(conn, job_id))

    async def dependents_of(self, job_id: str) -> list[JobRecord]:
        return await self._read(lambda conn: fetch_dependents(conn, job_id))

    async def changed_since(self, cursor: object | None = None) -> JobChanges:
        """The jobs whose ``seq`` rose or whose cancel was asked since ``cursor``, by other connections.

        Costs one ``PRAGMA data_version`` on the writer when no other connection committed since (this
        store's own commits do not count); see :mod:`._sql_changes`.
        """
        if cursor is not None and not isinstance(cursor, ChangeCursor):
            raise InvalidInput.field("cursor", "must be a cursor this store returned, or None")
        if self._writer is None:
            raise StoreError("the job store is not open; use `async with open_store(...)`")
        checked, serial = cursor, self._serial
        try:
            # Between two group commits: aiosqlite runs one call at a time on the writer's thread.
            version = await hop(self._writer, data_version)
        except sqlite3.Error as exc:
            raise StoreError(f"reading the job database {self.path} failed: {exc}") from exc
        if checked is not None and is_current(checked, connection=serial, version=version):
            return JobChanges([], checked)
        jobs, after = await self._read(
            lambda conn: changed_since(conn, checked, connection=serial, version=version)
        )
        return JobChanges(jobs, after)

    async def list_jobs(
        self,
        *,
        statuses: Iterable[JobStatus] = (),
        job_type: str | None = None,
        limit: int = 50,
        before: tuple[str, str] | None = None,
        username: str | None = None,
    ) -> list[JobRecord]:
        """Newest first. ``before`` is the ``(created_at, id)`` of the last job of the previous page."""
        return await self._read(
            lambda conn: _sql_reads.list_jobs(
                conn, statuses=statuses, job_type=job_type, limit=limit, before=before, username=username
            )
        )

    async def count_by_status(self, *, username: str | None = None) -> dict[JobStatus, int]:
        return await self._read(lambda conn: _sql_reads.count_by_status(conn, username))

    async def median_step_seconds(
        self, job_type: str, *, model: str | None = None, last_jobs: int = 20
    ) -> dict[str, float]:
        """Per step name, the median seconds it took in the ``last_jobs`` newest jobs of ``job_type``."""
        if last_jobs < 1:
            raise InvalidInput.field("last_jobs", f"must be at least 1, not {last_jobs!r}")
        return await self._read(
            lambda conn: _sql_reads.median_step_seconds(conn, job_type, model=model, last_jobs=last_jobs)
        )

    async def analytics(self, query: AnalyticsRange) -> Analytics:
        """Aggregates over the jobs created in the range, by ``query.group_by``; see the protocol.

        On a connection of its own, in a worker thread: a report over a big range takes a while
        (bench/analytics.py), and the reads the widgets poll must not queue behind it on the reader.
        """
        if self._reader is None:
            raise StoreError("the job store is not open; use `async with open_store(...)`")
        return await asyncio.to_thread(self._analytics, query)

    def _analytics(self, query: AnalyticsRange) -> Analytics:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only = 1")
            return analytics(conn, query)
        except sqlite3.Error as exc:
            raise StoreError(f"reading the job database {self.path} failed: {exc}") from exc
        finally:
            conn.close()

    # -- the result cache --------------------------------------------------------------------------------

    async def cache_get(self, key: str, *, created_after: str, now: str) -> str | None:
        """The value under ``key`` if created after ``created_after``; a hit is counted and marked used."""
        return await self._write(lambda conn: _sql_cache.get(conn, key, created_after=created_after, now=now))

    async def cache_put(self, key: str, value: str, *, now: str) -> None:
        await self._write(lambda conn: _sql_cache.put(conn, key, value, now=now))

    async def cache_clear(self) -> int:
        return await self._write(_sql_cache.clear)

    async def cache_purge(
        self, *, created_before: str | None, max_entries: int | None, max_bytes: int | None
    ) -> int:
        """Delete entries created before ``created_before``, then the least recently used past the bounds."""
        return await self._write(
            lambda conn: _sql_cache.purge(
                conn, created_before=created_before, max_entries=max_entries, max_bytes=max_bytes
            )
        )

    async def cache_stats(self) -> CacheStats:
        return await self._read(_sql_cache.stats)
