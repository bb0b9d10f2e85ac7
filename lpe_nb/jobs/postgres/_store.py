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
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from lpe_nb.errors import InvalidInput, StoreError
from lpe_nb.jobs._store_common import CacheStats, JobChanges, Recovered, Synchronous, WorkerRecord
from lpe_nb.jobs.analytics import Analytics, AnalyticsRange
from lpe_nb.jobs.model import JobRecord, JobStatus, Progress, StepRecord, check_transition, dump_json
from lpe_nb.jobs.postgres import _sql_cache, _sql_jobs, _sql_leases, _sql_reads, _sql_workers
from lpe_nb.jobs.postgres._connection import Connection, connect, describe_error, make_pool, redact
from lpe_nb.jobs.postgres._lock import AdvisoryDispatchLock
from lpe_nb.jobs.postgres._relay import PgEventRelay
from lpe_nb.jobs.postgres._rows import job_params, progress_json, step_params
from lpe_nb.jobs.postgres._schedule_store import PgSchedules
from lpe_nb.jobs.postgres._sql_analytics import analytics
from lpe_nb.jobs.postgres._sql_chains import complete_input, fetch_dependents
from lpe_nb.jobs.postgres._sql_changes import PgChangeCursor, changed_since
from lpe_nb.jobs.postgres.schema import migrate

__all__ = ["POOL_SIZE_ENV", "PgJobStore"]

POOL_SIZE_ENV = "LPE_DB_POOL_SIZE"  # the most pooled connections a process opens (default 8)
_DEFAULT_POOL_MAX_SIZE = 8

T = TypeVar("T")

_DEADLOCK_RETRIES = 3  # a deadlock aborts one of the two transactions; running it again is safe


class PgJobStore(PgSchedules):
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

    # -- writes of whole jobs ----------------------------------------------------------------------------

    async def insert_job(self, job: JobRecord) -> None:
        params = job_params(job)
        await self._write(lambda conn: _sql_jobs.insert_job(conn, job, params))

    async def request_cancel(self, job_id: str, *, now: str, actor: str) -> JobRecord:
        """Cancel a pending job at once; mark a running one ``cancel_requested`` for its runner to act on."""
        return await self._write(lambda conn: _sql_jobs.request_cancel(conn, job_id, now=now, actor=actor))

    async def set_priority(self, job_id: str, priority: int, *, now: str) -> JobRecord:
        """Change a pending job's priority; :class:`InvalidTransition` once it is not pending."""
        return await self._write(lambda conn: _sql_jobs.set_priority(conn, job_id, priority, now=now))

    async def delete_job(self, job_id: str) -> None:
        await self._write(lambda conn: _sql_jobs.delete_job(conn, job_id))

    async def purge_terminal(self, completed_before: str, *, batch: int) -> int:
        return await self._write(lambda conn: _sql_jobs.purge_terminal(conn, completed_before, batch=batch))

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

    async def complete_input(self, job: JobRecord, owner: str, input_data: Any) -> JobRecord:
        """Store a running dependent's input as completed from its parents' results (docs/chains.md)."""
        text = dump_json(input_data, field_name="input_data")
        await self._write(lambda conn: complete_input(conn, job.id, owner, text))
        return replace(job, input_data=input_data)

    async def renew_leases(self, owner: str, lease_until: str, *, now: str) -> set[str]:
        """Extend every lease ``owner`` holds by ``lease_until - now`` from the database's clock."""
        lease_s = _sql_leases.lease_seconds(now, lease_until)
        return await self._write(lambda conn: _sql_leases.renew_leases(conn, owner, lease_s))

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
        check_transition(job.id, JobStatus.RUNNING, status)
        result_json = None if result_data is None else dump_json(result_data, field_name="result_data")
        progress_text = progress_json(progress)
        dependents = await self._write(
            lambda conn: _sql_leases.finish(
                conn, job.id, owner, status, now=now, seq=seq, progress=progress_text,
                result_data=result_json, error_message=error_message,
            )
        )  # fmt: skip
        return replace(
            job, status=status, result_data=result_data, error_message=error_message, progress=progress,
            completed_at=now, updated_at=now, seq=seq, lease_owner=None, lease_expires_at=None,
            dependents=dependents,
        )  # fmt: skip

    async def requeue(
        self, job: JobRecord, owner: str, *, now: str, seq: int, refund_attempt: bool
    ) -> JobRecord:
        refund = 1 if refund_attempt else 0
        await self._write(
            lambda conn: _sql_leases.requeue(conn, job.id, owner, now=now, seq=seq, refund=refund)
        )
        return replace(
            job, status=JobStatus.PENDING, attempts=max(0, job.attempts - refund), updated_at=now, seq=seq,
            lease_owner=None, lease_expires_at=None,
        )  # fmt: skip

    async def record_retry(self, job: JobRecord, owner: str, *, now: str, seq: int, reason: str) -> JobRecord:
        attempts = await self._write(
            lambda conn: _sql_leases.record_retry(conn, job.id, owner, now=now, seq=seq, reason=reason)
        )
        return replace(job, attempts=attempts, updated_at=now, seq=max(job.seq, seq))

    async def save_progress(self, updates: Sequence[tuple[str, str, Progress, int]], *, now: str) -> None:
        if updates:
            await self._write(lambda conn: _sql_leases.save_progress(conn, updates, now=now))

    async def save_step(self, step: StepRecord, owner: str) -> None:
        params = step_params(step)  # a step that is not JSON fails here, before any I/O
        await self._write(lambda conn: _sql_leases.save_step(conn, params, owner))

    async def recover_orphans(self, owner: str, *, now: str, only_expired: bool) -> list[Recovered]:
        """Take back running jobs held by other owners (all, or those whose lease ended on the database's
        clock); ``now`` stamps the change."""
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
        """The job and its finished steps from one snapshot (a repeatable-read transaction)."""

        async def both(conn: Connection) -> tuple[JobRecord, list[StepRecord]]:
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return await _sql_reads.fetch_job(conn, job_id), await _sql_reads.fetch_steps(conn, job_id)

        return await self._write(both)

    async def get_steps(self, job_id: str) -> list[StepRecord]:
        return await self._read(lambda conn: _sql_reads.fetch_steps(conn, job_id))

    async def dependents_of(self, job_id: str) -> list[JobRecord]:
        return await self._read(lambda conn: fetch_dependents(conn, job_id))

    async def get_transitions(self, job_id: str) -> list[dict[str, Any]]:
        return await self._read(lambda conn: _sql_reads.fetch_transitions(conn, job_id))

    async def changed_since(self, cursor: object | None = None) -> JobChanges:
        """The jobs whose ``seq`` rose or whose cancel was asked since ``cursor`` (see :mod:`._sql_changes`)."""
        if cursor is not None and not isinstance(cursor, PgChangeCursor):
            raise InvalidInput.field("cursor", "must be a cursor this store returned, or None")
        jobs, after = await self._read(lambda conn: changed_since(conn, cursor))
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
        wanted = list(statuses)
        return await self._read(
            lambda conn: _sql_reads.list_jobs(
                conn, statuses=wanted, job_type=job_type, limit=limit, before=before, username=username
            )
        )

    async def count_by_status(self, *, username: str | None = None) -> dict[JobStatus, int]:
        return await self._read(lambda conn: _sql_reads.count_by_status(conn, username))

    async def median_step_seconds(
        self, job_type: str, *, model: str | None = None, last_jobs: int = 20
    ) -> dict[str, float]:
        if last_jobs < 1:
            raise InvalidInput.field("last_jobs", f"must be at least 1, not {last_jobs!r}")
        return await self._read(
            lambda conn: _sql_reads.median_step_seconds(conn, job_type, model=model, last_jobs=last_jobs)
        )

    async def analytics(self, query: AnalyticsRange) -> Analytics:
        """Aggregates over the jobs created in the range, by ``query.group_by``; see the protocol."""
        return await self._write(lambda conn: analytics(conn, query))

    # -- the result cache --------------------------------------------------------------------------------

    async def cache_get(self, key: str, *, created_after: str, now: str) -> str | None:
        return await self._write(lambda conn: _sql_cache.get(conn, key, created_after=created_after, now=now))

    async def cache_put(self, key: str, value: str, *, now: str) -> None:
        await self._write(lambda conn: _sql_cache.put(conn, key, value, now=now))

    async def cache_clear(self) -> int:
        return await self._write(_sql_cache.clear)

    async def cache_purge(
        self, *, created_before: str | None, max_entries: int | None, max_bytes: int | None
    ) -> int:
        return await self._write(
            lambda conn: _sql_cache.purge(
                conn, created_before=created_before, max_entries=max_entries, max_bytes=max_bytes
            )
        )

    async def cache_stats(self) -> CacheStats:
        return await self._read(_sql_cache.stats)


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
