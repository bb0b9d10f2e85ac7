"""PgJobStore: the job store (:class:`lpe_nb.jobs.store.JobStore`) in a PostgreSQL database, over psycopg 3.

One transaction per call on a connection from a psycopg ``AsyncConnectionPool`` (no group commit: many
processes write at once, each commit is its own). Every state change is conditional on the state it
expects, and claims use ``FOR UPDATE SKIP LOCKED``, so many processes can share one queue. Leases are
timed by the database's clock (:mod:`._sql_leases`). The schema migrates on open, under an advisory lock
(:mod:`.schema`); ``python -m lpe_nb db upgrade`` does the same without starting anything.

This class checks and encodes arguments on the caller's side (a bad one fails before any I/O) and builds
the job it returns. The SQL lives beside it, in ``_sql_jobs``, ``_sql_leases``, ``_sql_reads`` and
``_sql_changes``. :meth:`PgJobStore.connect` gives a dedicated connection (for LISTEN, for instance).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from lpe_nb.errors import InvalidInput, StoreError
from lpe_nb.jobs._store_base import StoreMethods
from lpe_nb.jobs._store_common import JobChanges, Synchronous
from lpe_nb.jobs.analytics import Analytics, AnalyticsRange
from lpe_nb.jobs.model import JobRecord, JobStatus, StepRecord, to_iso
from lpe_nb.jobs.postgres import (
    _sql_cache,
    _sql_catalog,
    _sql_chains,
    _sql_jobs,
    _sql_leases,
    _sql_reads,
    _sql_schedules,
    _sql_workers,
)
from lpe_nb.jobs.postgres._connection import Connection, connect, describe_error, make_pool, redact
from lpe_nb.jobs.postgres._lock import AdvisoryDispatchLock
from lpe_nb.jobs.postgres._relay import PgEventRelay
from lpe_nb.jobs.postgres._rows import POSTGRES, job_params
from lpe_nb.jobs.postgres._sql_analytics import analytics
from lpe_nb.jobs.postgres._sql_changes import PgChangeCursor, changed_since
from lpe_nb.jobs.postgres.schema import migrate
from lpe_nb.jobs.recurrence import ScheduleFire

__all__ = ["POOL_SIZE_ENV", "PgJobStore"]

POOL_SIZE_ENV = "LPE_DB_POOL_SIZE"  # the most pooled connections a process opens (default 8)
_DEFAULT_POOL_MAX_SIZE = 8

T = TypeVar("T")

_DEADLOCK_RETRIES = 3  # a deadlock aborts one of the two transactions; running it again is safe


class PgJobStore(StoreMethods):
    """The job store in the PostgreSQL database at ``url`` (``postgresql://user@host:port/dbname``).

    Prefer ``async with open_store(url) as store``. The pool holds ``pool_min_size`` to ``pool_max_size``
    connections (default ``$LPE_DB_POOL_SIZE``, else 8): it grows only while that many calls wait at once
    (a dispatching process: about one per job finishing at the same moment, plus reads), and an idle one
    above the minimum is closed after 10 minutes. The dispatch lock takes one more while held.
    ``synchronous`` is accepted for compatibility with SQLite and ignored: durability is the server's
    ``synchronous_commit`` (progress saves alone turn it off).
    """

    def __init__(
        self,
        url: str,
        *,
        synchronous: Synchronous = "NORMAL",
        pool_min_size: int = 1,
        pool_max_size: int | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InvalidInput.field("synchronous", f"must be NORMAL or FULL, not {synchronous!r}")
        if pool_max_size is None:
            pool_max_size = _pool_size_from_env()
        if not 0 <= pool_min_size <= pool_max_size or pool_max_size < 1:
            raise InvalidInput.field(
                "pool_max_size",
                f"needs 0 <= pool_min_size <= pool_max_size >= 1, not {pool_min_size}..{pool_max_size}",
            )
        self.url = url
        self.pool_min_size = pool_min_size
        self.pool_max_size = pool_max_size
        self.connect_timeout_s = connect_timeout_s
        self._pool: AsyncConnectionPool[Connection] | None = None

    @property
    def location(self) -> str:
        return redact(self.url)

    def dispatch_lock(self) -> AdvisoryDispatchLock:
        """A session advisory lock on a dedicated connection (see :mod:`._lock`)."""
        return AdvisoryDispatchLock(self.url)

    @property
    def concurrent_dispatch(self) -> bool:
        """True: every manager dispatches at once (claims skip each other's locked rows, leases run on the
        database's clock); the dispatch lock is not taken."""
        return True

    def event_relay(self, origin: str) -> PgEventRelay:
        """A relay over LISTEN/NOTIFY on two dedicated connections of its own (see :mod:`._relay`)."""
        return PgEventRelay(self.url, origin)

    async def connect(self, **kwargs: Any) -> Connection:
        """A new autocommit connection to this database, outside the pool (LISTEN needs its own); the caller
        closes it."""
        try:
            return await connect(self.url, **kwargs)
        except psycopg.Error as exc:
            raise StoreError(f"cannot reach the job database {self.location}: {_reason(exc)}") from exc

    # -- what StoreMethods runs: the SQL modules and row dialect of this backend ----------------------

    _jobs_sql = _sql_jobs
    _leases_sql = _sql_leases
    _reads_sql = _sql_reads
    _chains_sql = _sql_chains
    _workers_sql = _sql_workers
    _cache_sql = _sql_cache
    _schedules_sql = _sql_schedules
    _catalog_sql = _sql_catalog
    _dialect = POSTGRES

    # -- lifecycle -------------------------------------------------------------------------------------

    async def open(self) -> PgJobStore:
        """Connect and migrate; :class:`StoreError` naming the database if it cannot be reached or is newer
        than this code."""
        if self._pool is not None:
            return self
        # Migrate on a connection of its own first: a wrong URL, password or database name fails here with
        # the server's own words (a pool would only time out).
        try:
            conn = await connect(self.url, connect_timeout=max(1, round(self.connect_timeout_s)))
            try:
                await migrate(conn, where=self.location)
            finally:
                await conn.close()
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the job database {self.location}: {_reason(exc)}") from exc
        pool = make_pool(self.url, min_size=self.pool_min_size, max_size=self.pool_max_size, name="lpe-nb")
        await pool.open(wait=False)
        self._pool = pool
        return self

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> PgJobStore:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self, fn: Callable[[Connection], Awaitable[T]], *, transaction: bool) -> T:
        """``fn`` on a pooled connection (in one transaction if ``transaction``); psycopg's errors become
        :class:`StoreError`, but a unique violation (a duplicate id) stays the backend's integrity error."""
        pool = self._pool
        if pool is None:
            raise StoreError("the job store is not open; use `async with open_store(...)`")
        for attempt in range(_DEADLOCK_RETRIES + 1):
            try:
                async with pool.connection() as conn:
                    if not transaction:
                        return await fn(conn)
                    async with conn.transaction():
                        return await fn(conn)
            except pg_errors.DeadlockDetected as exc:
                if attempt == _DEADLOCK_RETRIES:
                    raise StoreError(
                        f"the job database {self.location} kept deadlocking: {_reason(exc)}"
                    ) from exc
            except psycopg.IntegrityError:
                raise
            except (psycopg.Error, PoolTimeout) as exc:
                raise StoreError(f"the job database {self.location} failed: {_reason(exc)}") from exc
        raise AssertionError("unreachable")

    async def _write(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        return await self._run(fn, transaction=True)

    async def _read(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        return await self._run(fn, transaction=False)

    async def _write_finish(self, job_id: str, owner: str, status: JobStatus, **outcome: Any) -> int:
        # Most jobs have no dependents: their finish is one autocommit statement, and the job's last events
        # (published after it) wait one round trip instead of three. A job with dependents, or whose lease
        # was lost, changed nothing there and takes the transaction (which raises LeaseLost if so).
        childless = await self._run(
            lambda conn: _sql_leases.finish_childless(conn, job_id, owner, status, **outcome),
            transaction=False,
        )
        return 0 if childless else await super()._write_finish(job_id, owner, status, **outcome)

    # -- writes of whole jobs ----------------------------------------------------------------------------

    async def insert_job(self, job: JobRecord, *, delay_s: float | None = None) -> JobRecord:
        """Persist a new job; with ``delay_s`` its ``scheduled_at`` is the database's ``now()`` plus that
        (the clock that releases it and times leases, whatever the submitting machine's says)."""
        if delay_s is None or job.scheduled_at is None:
            return await super().insert_job(job)
        params = job_params(job)  # a job that is not JSON fails here, before any I/O

        async def insert(conn: Connection) -> JobRecord:
            cur = await conn.execute("SELECT now() + make_interval(secs => %s) AS at", (delay_s,))
            row = await cur.fetchone()
            assert row is not None
            timed = replace(job, scheduled_at=to_iso(row["at"]))
            await _sql_jobs.insert_job(conn, timed, {**params, "scheduled_at": timed.scheduled_at})
            return timed

        return await self._write(insert)

    # -- writes of running jobs, under a lease -----------------------------------------------------------

    async def claim_pending(
        self, owner: str, now: str, lease_until: str, limit: int, *, types: Collection[str] | None = None
    ) -> list[tuple[JobRecord, list[StepRecord]]]:
        """pending -> running for up to ``limit`` jobs (of ``types`` if given), highest priority then oldest
        first; the lease lasts ``lease_until - now`` on the database's clock."""
        if limit <= 0 or (types is not None and not types):
            return []
        lease_s = _sql_leases.lease_seconds(now, lease_until)
        return await self._write(
            lambda conn: _sql_leases.claim_pending(conn, owner, now, lease_s, limit, types)
        )

    async def renew_leases(self, owner: str, lease_until: str, *, now: str) -> set[str]:
        """Extend every lease ``owner`` holds by ``lease_until - now`` from the database's clock."""
        lease_s = _sql_leases.lease_seconds(now, lease_until)
        return await self._write(lambda conn: _sql_leases.renew_leases(conn, owner, lease_s))

    # -- reads -------------------------------------------------------------------------------------------

    async def get_job_with_steps(self, job_id: str) -> tuple[JobRecord, list[StepRecord]]:
        """The job and its finished steps from one snapshot (a repeatable-read transaction)."""

        async def both(conn: Connection) -> tuple[JobRecord, list[StepRecord]]:
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return await _sql_reads.fetch_job(conn, job_id), await _sql_reads.fetch_steps(conn, job_id)

        return await self._write(both)

    async def changed_since(self, cursor: object | None = None) -> JobChanges:
        """The jobs whose ``seq`` rose or whose cancel was asked since ``cursor`` (see :mod:`._sql_changes`)."""
        if cursor is not None and not isinstance(cursor, PgChangeCursor):
            raise InvalidInput.field("cursor", "must be a cursor this store returned, or None")
        jobs, after = await self._read(lambda conn: changed_since(conn, cursor))
        return JobChanges(jobs, after)

    async def analytics(self, query: AnalyticsRange) -> Analytics:
        """Aggregates over the jobs created in the range, by ``query.group_by``; see the protocol."""
        return await self._write(lambda conn: analytics(conn, query))

    async def list_schedule_fires(self, schedule_id: str, *, limit: int = 20) -> list[ScheduleFire]:
        """In one transaction: the schedule (else :class:`ScheduleNotFound`) and its fires."""
        return await self._write(lambda conn: _sql_schedules.list_fires(conn, schedule_id, limit))


def _pool_size_from_env() -> int:
    text = os.environ.get(POOL_SIZE_ENV, "").strip()
    if not text:
        return _DEFAULT_POOL_MAX_SIZE
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise InvalidInput.field(
            POOL_SIZE_ENV, f"must be a whole number of connections, 1 or more, not {text!r}"
        )
    return size


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PoolTimeout):
        return "no connection within the timeout (is the server up, and the URL right?)"
    return describe_error(exc)
