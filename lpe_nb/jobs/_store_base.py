"""The store methods every backend writes the same way: check and encode the arguments, run the backend's
SQL function in a write (one transaction) or a read, build the record to return.

A backend subclasses :class:`StoreMethods`, names its SQL modules (``_jobs_sql`` and the like, the same
functions under the same names in each backend) and provides ``_write``/``_read`` (how it runs one SQL
function: SQLite's are plain functions queued on its writer, PostgreSQL's coroutines on a pooled connection)
and its row :class:`~lpe_nb.jobs._rows.Dialect`. What a backend does differently (claims and leases,
``changed_since``, analytics, a consistent snapshot) stays in its own class.
"""

# The SQL functions are reached through the backend's modules (plain functions for SQLite, coroutines for
# PostgreSQL), so what they return is Any here; the JobStore protocol types these methods for callers.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from types import ModuleType
from typing import Any

from lpe_nb.errors import InvalidInput
from lpe_nb.jobs._rows import Dialect, job_row, progress_json, schedule_row, step_row
from lpe_nb.jobs._store_common import CacheStats, CatalogRow, Recovered, WorkerRecord
from lpe_nb.jobs.model import (
    JobRecord,
    JobStatus,
    Progress,
    StepRecord,
    check_transition,
    dump_json,
    replace_job,
)
from lpe_nb.jobs.recurrence import FiredSlot, ScheduleFire, ScheduleRecord

__all__ = ["StoreMethods"]


class StoreMethods:
    """The backend-neutral half of a job store (see the module docstring)."""

    _jobs_sql: ModuleType
    _leases_sql: ModuleType
    _reads_sql: ModuleType
    _chains_sql: ModuleType
    _workers_sql: ModuleType
    _cache_sql: ModuleType
    _schedules_sql: ModuleType
    _catalog_sql: ModuleType
    _dialect: Dialect  # how its driver takes and returns flags, JSON and timestamps

    async def _write(self, op: Callable[[Any], Any]) -> Any:
        """``op`` on a connection, in a transaction of writes."""
        raise NotImplementedError

    async def _read(self, fn: Callable[[Any], Any]) -> Any:
        """``fn`` on a connection that reads."""
        raise NotImplementedError

    async def _read_repeated(self, key: Hashable, fn: Callable[[Any], Any]) -> Any:
        """A read that dashboards repeat (a page of jobs, the counts), ``key`` naming it and its arguments:
        a backend may give its last answer again while nothing was committed since (SQLite:
        ``sqlite/_repeated_reads.py``); the callers copy what they return."""
        return await self._read(fn)

    # -- writes of whole jobs ----------------------------------------------------------------------------

    async def insert_job(self, job: JobRecord, *, delay_s: float | None = None) -> JobRecord:
        """Persist a new job as given (``delay_s``: see the protocol; a backend on one machine ignores it)."""
        row = job_row(job, self._dialect)  # a job that is not JSON fails here, before anything is queued
        await self._write(lambda conn: self._jobs_sql.insert_job(conn, job, row))
        return job

    async def request_cancel(self, job_id: str, *, now: str, actor: str) -> JobRecord:
        """Cancel a pending job at once; mark a running one ``cancel_requested`` for its runner to act on."""
        return await self._write(
            lambda conn: self._jobs_sql.request_cancel(conn, job_id, now=now, actor=actor)
        )

    async def set_priority(self, job_id: str, priority: int, *, now: str) -> JobRecord:
        """Change a pending job's priority; :class:`InvalidTransition` once it is not pending."""
        return await self._write(lambda conn: self._jobs_sql.set_priority(conn, job_id, priority, now=now))

    async def delete_job(self, job_id: str) -> None:
        """Delete a terminal job and its steps; a pending or running job must be cancelled first."""
        await self._write(lambda conn: self._jobs_sql.delete_job(conn, job_id))

    async def purge_terminal(self, completed_before: str, *, batch: int) -> int:
        """Delete at most ``batch`` terminal jobs that ended before ``completed_before``; returns how many."""
        return await self._write(
            lambda conn: self._jobs_sql.purge_terminal(conn, completed_before, batch=batch)
        )

    # -- writes of running jobs, under a lease -----------------------------------------------------------

    async def complete_input(self, job: JobRecord, owner: str, input_data: Any) -> JobRecord:
        """Store a running dependent's input as completed from its parents' results (docs/chains.md)."""
        text = dump_json(input_data, field_name="input_data")
        await self._write(lambda conn: self._chains_sql.complete_input(conn, job.id, owner, text))
        return replace(job, input_data=input_data)

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
        dependents = await self._write_finish(
            job.id, owner, status, now=now, seq=seq, progress=progress_text, result_data=result_json,
            error_message=error_message,
        )  # fmt: skip
        return replace_job(
            job, status=status, result_data=result_data, error_message=error_message, progress=progress,
            completed_at=now, updated_at=now, seq=seq, lease_owner=None, lease_expires_at=None,
            dependents=dependents,
        )  # fmt: skip

    async def _write_finish(self, job_id: str, owner: str, status: JobStatus, **outcome: Any) -> int:
        """The finish's SQL in one write (``outcome``: its keyword arguments); how many jobs depend on it."""
        return await self._write(lambda conn: self._leases_sql.finish(conn, job_id, owner, status, **outcome))

    async def requeue(
        self, job: JobRecord, owner: str, *, now: str, seq: int, refund_attempt: bool
    ) -> JobRecord:
        """running -> pending (a graceful stop): the job resumes from its last finished step later."""
        refund = 1 if refund_attempt else 0
        await self._write(
            lambda conn: self._leases_sql.requeue(conn, job.id, owner, now=now, seq=seq, refund=refund)
        )
        return replace(
            job, status=JobStatus.PENDING, attempts=max(0, job.attempts - refund), updated_at=now, seq=seq,
            lease_owner=None, lease_expires_at=None,
        )  # fmt: skip

    async def record_retry(self, job: JobRecord, owner: str, *, now: str, seq: int, reason: str) -> JobRecord:
        """Count a new attempt of a running job that stays running, with ``reason`` in its audit trail."""
        attempts = await self._write(
            lambda conn: self._leases_sql.record_retry(conn, job.id, owner, now=now, seq=seq, reason=reason)
        )
        return replace(job, attempts=attempts, updated_at=now, seq=max(job.seq, seq))

    async def save_progress(self, updates: Sequence[tuple[str, str, Progress, int]], *, now: str) -> None:
        """Persist the latest progress of running jobs, as ``(job_id, owner, progress, seq)``, in one write."""
        if updates:
            await self._write(lambda conn: self._leases_sql.save_progress(conn, updates, now=now))

    async def save_step(self, step: StepRecord, owner: str) -> None:
        """Record a finished step, only while ``owner`` still runs the job (else :class:`LeaseLost`)."""
        row = step_row(step)  # a step that is not JSON fails here, before anything is queued
        await self._write(lambda conn: self._leases_sql.save_step(conn, row, owner))

    async def recover_orphans(self, owner: str, *, now: str, only_expired: bool) -> list[Recovered]:
        """Take back running jobs held by other owners (all of them, or those whose lease has expired).

        Each resumes (back to pending, its finished steps kept), fails if its attempts are used up, or is
        cancelled if a cancel was requested; ``now`` stamps the change.
        """
        return await self._write(
            lambda conn: self._leases_sql.recover_orphans(conn, owner, now=now, only_expired=only_expired)
        )

    # -- the heartbeat rows of dispatching processes --------------------------------------------------

    async def save_worker(self, worker: WorkerRecord) -> None:
        await self._write(lambda conn: self._workers_sql.save_worker(conn, worker))

    async def touch_worker(self, owner: str, now: str) -> bool:
        return await self._write(lambda conn: self._workers_sql.touch_worker(conn, owner, now))

    async def delete_worker(self, owner: str) -> None:
        await self._write(lambda conn: self._workers_sql.delete_worker(conn, owner))

    async def forget_workers(self, seen_before: str) -> int:
        return await self._write(lambda conn: self._workers_sql.forget_workers(conn, seen_before))

    async def list_workers(self) -> list[WorkerRecord]:
        return await self._read(self._workers_sql.list_workers)

    # -- reads -------------------------------------------------------------------------------------------

    async def get_job(self, job_id: str) -> JobRecord:
        return await self._read(lambda conn: self._reads_sql.fetch_job(conn, job_id))

    async def get_steps(self, job_id: str) -> list[StepRecord]:
        return await self._read(lambda conn: self._reads_sql.fetch_steps(conn, job_id))

    async def get_transitions(self, job_id: str) -> list[dict[str, Any]]:
        return await self._read(lambda conn: self._reads_sql.fetch_transitions(conn, job_id))

    async def dependents_of(self, job_id: str) -> list[JobRecord]:
        return await self._read(lambda conn: self._chains_sql.fetch_dependents(conn, job_id))

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
        wanted = tuple(statuses)  # the read may run again (a retried transaction): not a one-shot iterator
        key = ("list_jobs", wanted, job_type, limit, before, username)
        jobs = await self._read_repeated(
            key,
            lambda conn: self._reads_sql.list_jobs(
                conn, statuses=wanted, job_type=job_type, limit=limit, before=before, username=username
            ),
        )
        return list(jobs)

    async def count_by_status(self, *, username: str | None = None) -> dict[JobStatus, int]:
        counts = await self._read_repeated(
            ("count_by_status", username), lambda conn: self._reads_sql.count_by_status(conn, username)
        )
        return dict(counts)

    async def median_step_seconds(
        self, job_type: str, *, model: str | None = None, last_jobs: int = 20
    ) -> dict[str, float]:
        """Per step name, the median seconds it took in the ``last_jobs`` newest jobs of ``job_type``."""
        if last_jobs < 1:
            raise InvalidInput.field("last_jobs", f"must be at least 1, not {last_jobs!r}")
        return await self._read(
            lambda conn: self._reads_sql.median_step_seconds(conn, job_type, model=model, last_jobs=last_jobs)
        )

    # -- the result cache --------------------------------------------------------------------------------

    async def cache_get(self, key: str, *, created_after: str, now: str) -> str | None:
        """The value under ``key`` if created after ``created_after``; a hit is counted and marked used."""
        return await self._write(
            lambda conn: self._cache_sql.get(conn, key, created_after=created_after, now=now)
        )

    async def cache_put(self, key: str, value: str, *, now: str) -> None:
        await self._write(lambda conn: self._cache_sql.put(conn, key, value, now=now))

    async def cache_clear(self) -> int:
        return await self._write(self._cache_sql.clear)

    async def cache_purge(
        self, *, created_before: str | None, max_entries: int | None, max_bytes: int | None
    ) -> int:
        """Delete entries created before ``created_before``, then the least recently used past the bounds."""
        return await self._write(
            lambda conn: self._cache_sql.purge(
                conn, created_before=created_before, max_entries=max_entries, max_bytes=max_bytes
            )
        )

    async def cache_stats(self) -> CacheStats:
        return await self._read(self._cache_sql.stats)

    # -- the user catalog --------------------------------------------------------------------------------

    async def catalog_revision(self) -> int:
        return await self._read(self._catalog_sql.revision)

    async def catalog_entries(self) -> list[CatalogRow]:
        return await self._read(self._catalog_sql.entries)

    async def save_catalog_entry(self, entry: CatalogRow) -> bool:
        """Insert ``entry`` or replace its maker's own; False when the name is another user's."""
        fields = dump_json(entry.fields, field_name="fields")  # before anything is queued
        return await self._write(lambda conn: self._catalog_sql.save(conn, entry, fields))

    async def delete_catalog_entry(
        self, kind: str, name: str, *, username: str | None = None
    ) -> CatalogRow | None:
        return await self._write(lambda conn: self._catalog_sql.delete(conn, kind, name, username))

    # -- recurring schedules -----------------------------------------------------------------------------

    async def insert_schedule(self, schedule: ScheduleRecord) -> None:
        row = schedule_row(schedule, self._dialect)  # InvalidInput before anything is queued
        await self._write(lambda conn: self._schedules_sql.insert_schedule(conn, row))

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord:
        return await self._read(lambda conn: self._schedules_sql.fetch_schedule(conn, schedule_id))

    async def list_schedules(self, *, limit: int = 500, username: str | None = None) -> list[ScheduleRecord]:
        return await self._read(lambda conn: self._schedules_sql.list_schedules(conn, limit, username))

    async def set_schedule_paused(self, schedule_id: str, paused: bool, *, now: datetime) -> ScheduleRecord:
        return await self._write(lambda conn: self._schedules_sql.set_paused(conn, schedule_id, paused, now))

    async def delete_schedule(self, schedule_id: str) -> None:
        await self._write(lambda conn: self._schedules_sql.delete_schedule(conn, schedule_id))

    async def fire_due_schedules(self, now: datetime, *, limit: int = 100) -> list[FiredSlot]:
        return await self._write(lambda conn: self._schedules_sql.fire_due(conn, now, limit))

    async def next_schedule_fire_at(self) -> str | None:
        return await self._read(self._schedules_sql.next_fire_at)

    async def list_schedule_fires(self, schedule_id: str, *, limit: int = 20) -> list[ScheduleFire]:
        return await self._read(lambda conn: self._schedules_sql.list_fires(conn, schedule_id, limit))
