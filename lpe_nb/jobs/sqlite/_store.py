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
from collections.abc import Callable, Collection, Hashable, Sized
from pathlib import Path
from typing import TypeVar

import aiosqlite

from lpe_nb.errors import InvalidInput, StoreError
from lpe_nb.jobs._store_base import StoreMethods
from lpe_nb.jobs._store_common import (
    CacheStats,
    JobChanges,
    Synchronous,
    default_db_path,
)
from lpe_nb.jobs.analytics import Analytics, AnalyticsRange
from lpe_nb.jobs.model import JobRecord, StepRecord
from lpe_nb.jobs.relay import EventRelay
from lpe_nb.jobs.sqlite import (
    _sql_cache,
    _sql_catalog,
    _sql_chains,
    _sql_jobs,
    _sql_leases,
    _sql_reads,
    _sql_schedules,
    _sql_workers,
)
from lpe_nb.jobs.sqlite._cache_hits import PendingHits, carrying
from lpe_nb.jobs.sqlite._connection import connect, hop
from lpe_nb.jobs.sqlite._group_commit import GroupCommitWriter
from lpe_nb.jobs.sqlite._location import prepare_location
from lpe_nb.jobs.sqlite._lock import FileDispatchLock
from lpe_nb.jobs.sqlite._repeated_reads import RepeatedReads
from lpe_nb.jobs.sqlite._rows import SQLITE
from lpe_nb.jobs.sqlite._sql_analytics import analytics
from lpe_nb.jobs.sqlite._sql_changes import ChangeCursor, changed_since, data_version, is_current
from lpe_nb.jobs.sqlite._wal_stamp import WalStamp
from lpe_nb.jobs.sqlite.schema import migrate

__all__ = ["SqliteJobStore"]

T = TypeVar("T")
Answer = TypeVar("Answer", bound=Sized)  # a page of jobs, the counts: how many it holds is its size


class SqliteJobStore(StoreMethods):
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
        self._cache_hits = PendingHits()  # written with a later write (see _cache_hits)
        self._stamp = WalStamp(self.path)
        self._repeated = RepeatedReads(self._stamp)  # a dashboard's polls between two commits

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
    def reads_from_memory(self) -> int:
        """Reads answered without going to the database, nothing having been committed since (_repeated_reads)."""
        return self._repeated.answered_from_memory

    @property
    def repeat_reads(self) -> bool:
        """Whether a read asked again while nothing was committed is answered from memory (the default);
        False sends every read to the database (what a benchmark of the reads themselves measures)."""
        return self._repeated.enabled

    @repeat_reads.setter
    def repeat_reads(self, on: bool) -> None:
        self._repeated.enabled = on

    @property
    def commits(self) -> int:
        """Transactions committed by the writer; group commit makes this fewer than the writes."""
        return self._group_commit.commits

    # -- what StoreMethods runs: the SQL modules and row dialect of this backend ----------------------

    _jobs_sql = _sql_jobs
    _leases_sql = _sql_leases
    _reads_sql = _sql_reads
    _chains_sql = _sql_chains
    _workers_sql = _sql_workers
    _cache_sql = _sql_cache
    _schedules_sql = _sql_schedules
    _catalog_sql = _sql_catalog
    _dialect = SQLITE

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
            self._stamp.open()  # after the connections: they keep the file it maps alive
        except BaseException as exc:
            await self.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot open the job database {self.path}: {exc}") from exc
            raise
        self._group_commit.start(self._writer, max_batch=self.max_batch)
        return self

    async def close(self) -> None:
        try:
            try:
                if self._writer is not None:
                    await self._write_cache_hits()  # the hits not written yet
            finally:
                await self._group_commit.stop()
        finally:
            self._stamp.stop()  # no more reads of its mapping once the connections start closing
            self._repeated.clear()
            try:
                for conn in (self._reader, self._writer):
                    if conn is not None:
                        await conn.close()
            finally:
                self._stamp.release()  # after them: closing its file drops SQLite's locks on it (WalStamp)
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
        return await self._write_carrying(self._cache_hits.take(due_only=True), op)

    async def _write_carrying(self, hits: _sql_cache.Hits | None, op: Callable[[sqlite3.Connection], T]) -> T:
        if hits is None:
            return await self._group_commit.submit(op)
        try:
            return await self._group_commit.submit(carrying(hits, op))
        except Exception:  # not committed (a cancelled caller's write still commits: no put_back then)
            self._cache_hits.put_back(hits)
            raise

    async def _write_cache_hits(self) -> None:
        """Every hit not written yet, now: before what reads the counts or orders by ``used_at``."""
        hits = self._cache_hits.take(due_only=False)
        if hits is not None:
            await self._write_carrying(hits, _nothing)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader is None:
            raise StoreError("the job store is not open; use `async with open_store(...)`")
        try:
            return await hop(self._reader, fn)
        except sqlite3.Error as exc:
            raise StoreError(f"reading the job database {self.path} failed: {exc}") from exc

    async def _read_repeated(self, key: Hashable, fn: Callable[[sqlite3.Connection], Answer]) -> Answer:
        """Given again while nothing was committed since (see _repeated_reads)."""
        return await self._repeated.read(key, lambda: self._read(fn))

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

    async def renew_leases(self, owner: str, lease_until: str, *, now: str) -> set[str]:
        """Extend every lease ``owner`` holds to ``lease_until`` (one machine, one clock: ``now`` is not
        needed); returns the ids of its jobs whose cancel was requested."""
        return await self._write(lambda conn: _sql_leases.renew_leases(conn, owner, lease_until))

    # -- the result cache: a lookup reads, its hit is written later ---------------------------------------

    async def cache_get(self, key: str, *, created_after: str, now: str) -> str | None:
        """The value under ``key`` if created after ``created_after``: a ``SELECT`` in the writer's next
        transaction; the hit (one more, used at ``now``) is written within a second (see ``_cache_hits``)."""
        value = await self._write(lambda conn: _sql_cache.get(conn, key, created_after=created_after))
        if value is not None:
            self._cache_hits.count(key, now)
        return value

    async def cache_stats(self) -> CacheStats:
        """Exact for this store's hits: the pending ones are written first."""
        await self._write_cache_hits()
        return await super().cache_stats()

    async def cache_purge(
        self, *, created_before: str | None, max_entries: int | None, max_bytes: int | None
    ) -> int:
        """The pending hits written first: the LRU bound evicts by their ``used_at``."""
        await self._write_cache_hits()
        return await super().cache_purge(
            created_before=created_before, max_entries=max_entries, max_bytes=max_bytes
        )

    async def cache_clear(self) -> int:
        self._cache_hits.take(due_only=False)  # the entries they count are all deleted
        return await super().cache_clear()

    # -- reads -------------------------------------------------------------------------------------------

    async def get_job_with_steps(self, job_id: str) -> tuple[JobRecord, list[StepRecord]]:
        """The job and its finished steps from one consistent snapshot."""
        return await self._read(lambda conn: _sql_reads.fetch_job_with_steps(conn, job_id))

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


def _nothing(conn: sqlite3.Connection) -> None:
    """A write of nothing, for the cache hits it carries."""
