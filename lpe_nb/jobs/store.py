"""JobStore: durable job state in one SQLite file, over aiosqlite.

Two connections: a writer and a reader (WAL lets reads proceed while a write commits). Every write is a
plain function of a ``sqlite3.Connection`` queued on the writer; the writer task takes everything queued
at that moment and runs it in *one* ``BEGIN IMMEDIATE`` transaction, each operation in its own savepoint
(group commit: one fsync for many state changes, and one failing operation does not undo the others).
Every state change is conditional on the state it expects, so a late writer never overwrites a terminal
state. A whole transaction runs in one hop to aiosqlite's thread; the event loop never touches SQLite.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from lpe_nb.errors import InvalidInput, InvalidTransition, JobNotFound, StoreError
from lpe_nb.jobs._rows import job_to_row, progress_json, row_to_job, row_to_step
from lpe_nb.jobs.model import (
    TERMINAL_STATUSES,
    Job,
    JobStatus,
    Progress,
    StepRecord,
    check_transition,
    dump_json,
)
from lpe_nb.jobs.schema import migrate

__all__ = ["JobStore", "LeaseLost", "Recovered", "Synchronous", "default_db_path"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Synchronous = Literal["NORMAL", "FULL"]
WriteOp = Callable[[sqlite3.Connection], Any]

_TERMINAL_SQL = "(" + ", ".join(sorted(f"'{s.value}'" for s in TERMINAL_STATUSES)) + ")"
# After a crash the events published since the last throttled progress save are gone from disk, but a
# client may have seen their sequence numbers. Resuming jumps past any number that could have been used.
SEQ_GAP_AFTER_CRASH = 1_000_000
_GATHER_TICKS = 4


def default_db_path() -> Path:
    """``$LPE_DB_PATH`` if set, else ``~/.lpe/jobs.db``."""
    return Path(os.environ.get("LPE_DB_PATH") or Path.home() / ".lpe" / "jobs.db").expanduser()


class LeaseLost(StoreError):
    """The job is no longer running under this owner's lease (it was recovered, cancelled or finished)."""

    code = "lease_lost"


@dataclass(frozen=True, slots=True)
class Recovered:
    """A running job whose owner died, and what recovery made of it."""

    job: Job
    action: JobStatus  # PENDING (will resume), FAILED (attempts used up) or CANCELLED (cancel was asked)


@dataclass(slots=True)
class _Write:
    op: WriteOp
    future: asyncio.Future[Any]


class JobStore:
    """The only code that reads and writes the job database. Use ``async with JobStore(path) as store``."""

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
        self.max_batch = max_batch
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue()
        self._writer_task: asyncio.Task[None] | None = None
        self.commits = 0  # transactions committed by the writer; group commit makes this < writes

    # -- lifecycle -------------------------------------------------------------------------------------

    async def open(self) -> JobStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._connect()
            await self._hop(self._writer, migrate)
            self._reader = await self._connect(query_only=True)
        except BaseException as exc:
            await self.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot open the job database {self.path}: {exc}") from exc
            raise
        self._writer_task = asyncio.create_task(self._write_loop(), name=f"lpe-store-writer:{self.path}")
        return self

    async def close(self) -> None:
        try:
            if self._writer_task is not None:
                await self._queue.put(None)
                await self._writer_task
        finally:
            self._writer_task = None
            for conn in (self._reader, self._writer):
                if conn is not None:
                    await conn.close()
            self._reader = self._writer = None

    async def __aenter__(self) -> JobStore:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _connect(self, *, query_only: bool = False) -> aiosqlite.Connection:
        # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        pragmas = [
            f"busy_timeout = {int(self.busy_timeout_ms)}",
            "journal_mode = WAL",
            f"synchronous = {self.synchronous}",
            "foreign_keys = ON",
            f"query_only = {'ON' if query_only else 'OFF'}",
        ]

        def configure(raw: sqlite3.Connection) -> None:
            for pragma in pragmas:
                raw.execute(f"PRAGMA {pragma}").fetchall()

        await self._hop(conn, configure)
        return conn

    @staticmethod
    async def _hop(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the connection's own thread in one hop.

        aiosqlite has no public call for this; ``_execute`` is the method all its public calls use.
        """
        raw = conn._conn
        result: T = await conn._execute(fn, raw)  # type: ignore[no-untyped-call]  # private, untyped
        return result

    # -- the writer: group commit ------------------------------------------------------------------------

    async def _write(self, op: WriteOp) -> Any:
        if self._writer_task is None:
            raise StoreError("the job store is not open; use `async with JobStore(...)`")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Write(op, future))
        return await future

    async def _write_loop(self) -> None:
        assert self._writer is not None
        while True:
            first = await self._queue.get()
            if first is None:
                return
            # A few loop ticks for the tasks this write's author woke (a dispatcher claiming the freed
            # slot, sibling jobs finishing) to queue their writes too: they join this transaction.
            for _ in range(_GATHER_TICKS):
                await asyncio.sleep(0)
            batch = [first]
            while len(batch) < self.max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:  # close() was called: finish this batch, then stop
                    self._queue.put_nowait(None)
                    break
                batch.append(item)
            try:
                outcomes = await self._hop(self._writer, functools.partial(_run_batch, batch=batch))
                self.commits += 1
            except sqlite3.Error as exc:
                error = StoreError(f"writing to the job database {self.path} failed: {exc}")
                outcomes = [(False, error)] * len(batch)
            for write, (ok, value) in zip(batch, outcomes, strict=True):
                if write.future.done():  # the caller gave up waiting; the write stands
                    continue
                if ok:
                    write.future.set_result(value)
                else:
                    write.future.set_exception(value)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader is None:
            raise StoreError("the job store is not open; use `async with JobStore(...)`")
        try:
            return await self._hop(self._reader, fn)
        except sqlite3.Error as exc:
            raise StoreError(f"reading the job database {self.path} failed: {exc}") from exc

    # -- writes ------------------------------------------------------------------------------------------

    async def insert_job(self, job: Job) -> None:
        row = job_to_row(job)

        def op(conn: sqlite3.Connection) -> None:
            columns = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            conn.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks})", tuple(row.values()))
            _record_transition(conn, job.id, job.seq, job.created_at, None, job.status, "submit", None)

        await self._write(op)

    async def claim_pending(
        self, owner: str, now: str, lease_until: str, limit: int
    ) -> list[tuple[Job, list[StepRecord]]]:
        """pending -> running for up to ``limit`` jobs, highest priority then oldest first.

        Each comes with the steps it finished in earlier attempts: where it resumes from.
        """

        # INDEXED BY: without statistics the planner picks the status index and sorts every pending
        # row; the partial queue index reads exactly `limit` entries in order.
        def op(conn: sqlite3.Connection) -> list[tuple[Job, list[StepRecord]]]:
            rows = conn.execute(
                """
                UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = ?,
                       lease_expires_at = ?, started_at = COALESCE(started_at, ?), updated_at = ?,
                       seq = seq + 1
                WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_pending_queue WHERE status = 'pending'
                             ORDER BY priority DESC, created_at LIMIT ?)
                RETURNING *
                """,
                (owner, lease_until, now, now, limit),
            ).fetchall()
            jobs = sorted((row_to_job(r) for r in rows), key=lambda j: (-j.priority, j.created_at))
            for job in jobs:
                _record_transition(
                    conn, job.id, job.seq, now, JobStatus.PENDING, JobStatus.RUNNING, owner, None
                )
            # Only a job that started before this claim can have checkpoints to resume from.
            return [(job, _fetch_steps(conn, job.id) if job.started_at != now else []) for job in jobs]

        if limit <= 0:
            return []
        claimed: list[tuple[Job, list[StepRecord]]] = await self._write(op)
        return claimed

    async def renew_leases(self, owner: str, lease_until: str) -> set[str]:
        """Extend every lease ``owner`` holds; returns the ids of its jobs whose cancel was requested."""

        def op(conn: sqlite3.Connection) -> set[str]:
            rows = conn.execute(
                "UPDATE jobs SET lease_expires_at = ? WHERE status = 'running' AND lease_owner = ? "
                "RETURNING id, cancel_requested",
                (lease_until, owner),
            ).fetchall()
            return {r["id"] for r in rows if r["cancel_requested"]}

        ids: set[str] = await self._write(op)
        return ids

    async def finish(
        self,
        job: Job,
        owner: str,
        status: JobStatus,
        *,
        now: str,
        seq: int,
        progress: Progress,
        result_data: Any = None,
        error_message: str | None = None,
    ) -> Job:
        """running -> completed | failed | cancelled, only while ``owner`` holds the lease.

        ``job`` is the running job as its runner knows it; the finished job is returned.
        """
        check_transition(job.id, JobStatus.RUNNING, status)
        result_json = None if result_data is None else dump_json(result_data, field_name="result_data")
        values = (
            status.value,
            result_json,
            error_message,
            progress_json(progress),
            now,
            now,
            seq,
            job.id,
            owner,
        )

        def op(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE jobs SET status = ?, result_data = ?, error_message = ?, progress = ?, "
                "completed_at = ?, updated_at = ?, seq = MAX(seq, ?), lease_owner = NULL, lease_expires_at = NULL "
                "WHERE id = ? AND status = 'running' AND lease_owner = ?",
                values,
            )
            if cursor.rowcount != 1:
                raise LeaseLost(f"job {job.id} is no longer running under lease {owner}")
            _record_transition(conn, job.id, seq, now, JobStatus.RUNNING, status, owner, error_message)

        await self._write(op)
        return replace(
            job, status=status, result_data=result_data, error_message=error_message, progress=progress,
            completed_at=now, updated_at=now, seq=seq, lease_owner=None, lease_expires_at=None,
        )  # fmt: skip

    async def requeue(self, job: Job, owner: str, *, now: str, seq: int, refund_attempt: bool) -> Job:
        """running -> pending (a graceful stop): the job resumes from its last finished step later."""
        refund = 1 if refund_attempt else 0

        def op(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE jobs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, "
                "attempts = MAX(0, attempts - ?), updated_at = ?, seq = MAX(seq, ?) "
                "WHERE id = ? AND status = 'running' AND lease_owner = ?",
                (refund, now, seq, job.id, owner),
            )
            if cursor.rowcount != 1:
                raise LeaseLost(f"job {job.id} is no longer running under lease {owner}")
            reason = "the manager stopped; it resumes from its last finished step"
            _record_transition(conn, job.id, seq, now, JobStatus.RUNNING, JobStatus.PENDING, owner, reason)

        await self._write(op)
        return replace(
            job, status=JobStatus.PENDING, attempts=max(0, job.attempts - refund), updated_at=now, seq=seq,
            lease_owner=None, lease_expires_at=None,
        )  # fmt: skip

    async def request_cancel(self, job_id: str, *, now: str, actor: str) -> Job:
        """Cancel a pending job at once; mark a running one ``cancel_requested`` for its runner to act on."""

        def op(conn: sqlite3.Connection) -> Job:
            current = _fetch_job(conn, job_id)
            check_transition(job_id, current.status, JobStatus.CANCELLED)
            if current.status is JobStatus.PENDING:
                reason = "cancelled before it started"
                row = _first(
                    conn.execute(
                        "UPDATE jobs SET status = 'cancelled', error_message = ?, completed_at = ?, "
                        "updated_at = ?, seq = seq + 1 WHERE id = ? AND status = 'pending' RETURNING *",
                        (reason, now, now, job_id),
                    )
                )
                _record_transition(
                    conn, job_id, row["seq"], now, JobStatus.PENDING, JobStatus.CANCELLED, actor, reason
                )
            else:
                row = _first(
                    conn.execute(
                        "UPDATE jobs SET cancel_requested = 1, updated_at = ? "
                        "WHERE id = ? AND status = 'running' RETURNING *",
                        (now, job_id),
                    )
                )
            return row_to_job(row)

        job: Job = await self._write(op)
        return job

    async def save_progress(self, updates: Sequence[tuple[str, str, Progress, int]], *, now: str) -> None:
        """Persist the latest progress of running jobs, as ``(job_id, owner, progress, seq)``, in one write."""

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE jobs SET progress = ?, seq = MAX(seq, ?), updated_at = ? "
                "WHERE id = ? AND status = 'running' AND lease_owner = ?",
                [(progress_json(p), seq, now, job_id, owner) for job_id, owner, p, seq in updates],
            )

        if updates:
            await self._write(op)

    async def save_step(self, step: StepRecord, owner: str) -> None:
        """Record a finished step, only while ``owner`` still runs the job (else :class:`LeaseLost`)."""
        values = (
            step.job_id, step.index, step.name,
            dump_json(step.input, field_name=f"steps.{step.name}.input"),
            dump_json(step.output, field_name=f"steps.{step.name}.output"),
            dump_json(step.usage, field_name=f"steps.{step.name}.usage"),
            step.started_at, step.completed_at, step.duration_ms, step.attempt,
        )  # fmt: skip

        def op(conn: sqlite3.Connection) -> None:
            owned = _first(
                conn.execute(
                    "SELECT 1 FROM jobs WHERE id = ? AND status = 'running' AND lease_owner = ?",
                    (step.job_id, owner),
                )
            )
            if owned is None:
                raise LeaseLost(f"job {step.job_id} is no longer running under lease {owner}")
            conn.execute(
                "INSERT INTO job_steps (job_id, idx, name, input, output, usage, started_at, "
                "completed_at, duration_ms, attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (job_id, name) DO NOTHING",
                values,
            )

        await self._write(op)

    async def recover_orphans(self, owner: str, *, now: str, only_expired: bool) -> list[Recovered]:
        """Take back running jobs held by other owners (all of them, or those whose lease has expired).

        Each resumes (back to pending, its finished steps kept), fails if its attempts are used up, or is
        cancelled if a cancel was requested.
        """

        def op(conn: sqlite3.Connection) -> list[Recovered]:
            sql = "SELECT * FROM jobs WHERE status = 'running' AND lease_owner IS NOT ?"
            params: tuple[Any, ...] = (owner,)
            if only_expired:
                sql += " AND (lease_expires_at IS NULL OR lease_expires_at < ?)"
                params += (now,)
            recovered = []
            for job in [row_to_job(r) for r in conn.execute(sql, params).fetchall()]:
                action, reason = _recovery_of(job)
                row = _first(conn.execute(
                    """
                    UPDATE jobs SET status = ?, error_message = ?, lease_owner = NULL,
                           lease_expires_at = NULL, updated_at = ?, seq = seq + ?,
                           completed_at = CASE WHEN ? = 'pending' THEN NULL ELSE ? END
                    WHERE id = ? AND status = 'running' AND lease_owner IS ?
                    RETURNING *
                    """,
                    (action.value, None if action is JobStatus.PENDING else reason, now,
                     SEQ_GAP_AFTER_CRASH, action.value, now, job.id, job.lease_owner),
                ))  # fmt: skip
                if row is not None:
                    _record_transition(
                        conn, job.id, row["seq"], now, JobStatus.RUNNING, action, owner, reason
                    )
                    recovered.append(Recovered(row_to_job(row), action))
            return recovered

        result: list[Recovered] = await self._write(op)
        return result

    async def delete_job(self, job_id: str) -> None:
        """Delete a terminal job and its steps; a pending or running job must be cancelled first."""

        def op(conn: sqlite3.Connection) -> None:
            job = _fetch_job(conn, job_id)
            if not job.is_terminal:
                raise _not_deletable(job)
            conn.execute(f"DELETE FROM jobs WHERE id = ? AND status IN {_TERMINAL_SQL}", (job_id,))

        await self._write(op)

    async def purge_terminal(self, completed_before: str, *, batch: int) -> int:
        """Delete at most ``batch`` terminal jobs that ended before ``completed_before``; returns how many."""

        def op(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                f"DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status IN {_TERMINAL_SQL} "
                "AND completed_at < ? ORDER BY completed_at LIMIT ?)",
                (completed_before, batch),
            )
            return int(cursor.rowcount)

        deleted: int = await self._write(op)
        return deleted

    # -- reads -------------------------------------------------------------------------------------------

    async def get_job(self, job_id: str) -> Job:
        return await self._read(lambda conn: _fetch_job(conn, job_id))

    async def get_job_with_steps(self, job_id: str) -> tuple[Job, list[StepRecord]]:
        """The job and its finished steps from one consistent snapshot."""

        def fn(conn: sqlite3.Connection) -> tuple[Job, list[StepRecord]]:
            conn.execute("BEGIN")
            try:
                return _fetch_job(conn, job_id), _fetch_steps(conn, job_id)
            finally:
                conn.execute("COMMIT")

        return await self._read(fn)

    async def get_steps(self, job_id: str) -> list[StepRecord]:
        return await self._read(lambda conn: _fetch_steps(conn, job_id))

    async def get_transitions(self, job_id: str) -> list[dict[str, Any]]:
        def fn(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT at, from_status, to_status, actor, reason FROM job_transitions "
                "WHERE job_id = ? ORDER BY seq",
                (job_id,),
            ).fetchall()
            return [dict(r) for r in rows]

        return await self._read(fn)

    async def list_jobs(
        self,
        *,
        statuses: Iterable[JobStatus] = (),
        job_type: str | None = None,
        limit: int = 50,
        before: tuple[str, str] | None = None,
    ) -> list[Job]:
        """Newest first. ``before`` is the ``(created_at, id)`` of the last job of the previous page."""
        where: list[str] = []
        params: list[Any] = []
        status_values = [s.value for s in statuses]
        if status_values:
            where.append(f"status IN ({', '.join('?' for _ in status_values)})")
            params += status_values
        if job_type is not None:
            where.append("type = ?")
            params.append(job_type)
        if before is not None:
            where.append("(created_at, id) < (?, ?)")
            params += before
        sql = "SELECT * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit)
        return await self._read(lambda conn: [row_to_job(r) for r in conn.execute(sql, params)])

    async def count_by_status(self) -> dict[JobStatus, int]:
        def fn(conn: sqlite3.Connection) -> dict[JobStatus, int]:
            counts = dict.fromkeys(JobStatus, 0)
            for row in conn.execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status"):
                counts[JobStatus(row["status"])] = row["n"]
            return counts

        return await self._read(fn)


# -- helpers run on the connection thread ------------------------------------------------------------


def _run_batch(conn: sqlite3.Connection, batch: list[_Write]) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for write in batch:
            conn.execute("SAVEPOINT op")
            try:
                outcomes.append((True, write.op(conn)))
            except Exception as exc:
                conn.execute("ROLLBACK TO op")
                outcomes.append((False, exc))
            conn.execute("RELEASE op")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


def _record_transition(
    conn: sqlite3.Connection,
    job_id: str,
    seq: int,
    at: str,
    old: JobStatus | None,
    new: JobStatus,
    actor: str | None,
    reason: str | None,
) -> None:
    conn.execute(
        "INSERT INTO job_transitions (job_id, seq, at, from_status, to_status, actor, reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (job_id, seq, at, None if old is None else old.value, new.value, actor, reason),
    )


def _recovery_of(job: Job) -> tuple[JobStatus, str]:
    if job.cancel_requested:
        return JobStatus.CANCELLED, "cancelled while its manager was down"
    if job.attempts >= job.max_attempts:
        return JobStatus.FAILED, (
            f"interrupted: the job was running when its manager stopped unexpectedly, "
            f"and all {job.max_attempts} attempt(s) are used"
        )
    return JobStatus.PENDING, "interrupted: resuming from the last finished step"


def _not_deletable(job: Job) -> Exception:
    return InvalidTransition(job.id, job.status.value, "deleted (cancel it first)")


def _first(cursor: sqlite3.Cursor) -> Any:
    # fetchall, not fetchone: an unfinished statement (RETURNING!) would block COMMIT.
    rows = cursor.fetchall()
    return rows[0] if rows else None


def _fetch_job(conn: sqlite3.Connection, job_id: str) -> Job:
    row = _first(conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)))
    if row is None:
        raise JobNotFound(job_id)
    return row_to_job(row)


def _fetch_steps(conn: sqlite3.Connection, job_id: str) -> list[StepRecord]:
    rows = conn.execute("SELECT * FROM job_steps WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
    return [row_to_step(r) for r in rows]
