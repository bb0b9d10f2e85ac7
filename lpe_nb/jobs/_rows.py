"""Jobs, steps, schedules and worker heartbeats to a backend's row parameters and back: pure functions,
no SQL and no I/O.

The backends store the same columns; what differs is how their drivers hand some of them over, which a
:class:`Dialect` says: flags (SQLite integers, PostgreSQL booleans), JSON (SQLite text, parsed by psycopg)
and the job, step and worker timestamps (SQLite text, PostgreSQL ``timestamptz`` as aware datetimes). The
records keep the fixed-width ISO strings of :func:`~lpe_nb.jobs.model.to_iso`. JSON is encoded before any
I/O, so a value that is not JSON fails on the caller's side.
"""

from __future__ import annotations

import json
import json.encoder
import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from lpe_nb.jobs._store_common import USAGE_COLUMNS, WorkerRecord, usage_count
from lpe_nb.jobs.model import JobRecord, JobStatus, Progress, StepRecord, dump_json
from lpe_nb.jobs.recurrence import CatchUp, FirePlan, Recurrence, ScheduleFire, ScheduleRecord

__all__ = [
    "Dialect",
    "fire_from_row",
    "fired_schedule_params",
    "job_from_row",
    "job_row",
    "median_seconds_by_name",
    "progress_json",
    "schedule_from_row",
    "schedule_row",
    "status_counts",
    "step_from_row",
    "step_row",
    "worker_from_row",
    "worker_params",
]


class Row(Protocol):
    """A row by column name: ``sqlite3.Row`` and psycopg's dict rows alike."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one backend's driver takes and returns the columns whose types differ."""

    flag: Callable[[bool], Any]  # a boolean as a parameter
    json: Callable[[Any], Any]  # a JSON column's value as read -> the decoded value
    moment: Callable[[Any], Any]  # a job, step or worker timestamp as read -> its ISO string (None stays)


def progress_json(progress: Progress) -> str:
    """The progress as stored: :func:`~lpe_nb.jobs.model.dump_json` of its dict. A report without details
    (every queued and finished job's, twice per job) is spelled out instead, with the encoder's own string
    escaping, to the same text at a third of the cost (the encoder is set up anew per call)."""
    p = progress
    if (
        p.details is None
        and type(p.current_step) is str
        and type(p.timestamp) is str
        and type(p.total_steps) is int
        and type(p.completed_steps) is int
        and type(p.seq) is int
        and type(p.percentage) is float
        and math.isfinite(p.percentage)
    ):
        return (
            f'{{"current_step":{_json_string(p.current_step)},"total_steps":{p.total_steps},'
            f'"completed_steps":{p.completed_steps},"percentage":{float.__repr__(p.percentage)},'
            f'"details":null,"timestamp":{_json_string(p.timestamp)},"seq":{p.seq}}}'
        )
    return dump_json(p.to_dict(), field_name="progress")


_json_string = json.encoder.encode_basestring  # what the strict encoder (ensure_ascii=False) quotes with


def job_row(job: JobRecord, dialect: Dialect) -> dict[str, Any]:
    """The named parameters of ``INSERT INTO jobs``."""
    return {
        "id": job.id,
        "type": job.type,
        "status": job.status.value,
        "title": job.title,
        "description": job.description,
        "input_data": dump_json(job.input_data, field_name="input_data"),
        "result_data": None
        if job.result_data is None
        else dump_json(job.result_data, field_name="result_data"),
        "error_message": job.error_message,
        "progress": progress_json(job.progress),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "updated_at": job.updated_at,
        "priority": job.priority,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "lease_owner": job.lease_owner,
        "lease_expires_at": job.lease_expires_at,
        "cancel_requested": dialect.flag(job.cancel_requested),
        "seq": job.seq,
        "scheduled_at": job.scheduled_at,
        "username": job.username,
        "use_cache": dialect.flag(job.cache),
        "depends_on": dump_json(list(job.depends_on), field_name="depends_on") if job.depends_on else None,
        "inputs_from": dump_json(job.inputs_from, field_name="inputs_from") if job.inputs_from else None,
        "waiting_on": job.waiting_on,
        "dependents": job.dependents,
        "cost_usd": job.cost_usd,
    }


def job_from_row(row: Row, dialect: Dialect) -> JobRecord:
    loads, moment = dialect.json, dialect.moment
    return JobRecord(
        id=row["id"],
        type=row["type"],
        status=JobStatus(row["status"]),
        title=row["title"],
        description=row["description"],
        input_data=loads(row["input_data"]),
        result_data=loads(row["result_data"]),
        error_message=row["error_message"],
        progress=Progress.from_dict(loads(row["progress"])),
        created_at=moment(row["created_at"]),
        started_at=moment(row["started_at"]),
        completed_at=moment(row["completed_at"]),
        updated_at=moment(row["updated_at"]),
        priority=row["priority"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        lease_owner=row["lease_owner"],
        lease_expires_at=moment(row["lease_expires_at"]),
        cancel_requested=bool(row["cancel_requested"]),
        seq=row["seq"],
        scheduled_at=moment(row["scheduled_at"]),
        username=row["username"],
        cache=bool(row["use_cache"]),
        depends_on=tuple(loads(row["depends_on"]) or ()),
        inputs_from=loads(row["inputs_from"]) or {},
        waiting_on=row["waiting_on"],
        dependents=row["dependents"],
        cost_usd=row["cost_usd"],
    )


def step_row(step: StepRecord) -> dict[str, Any]:
    """The named parameters of ``INSERT INTO job_steps``, the usage counts among them."""
    return {
        "job_id": step.job_id,
        "idx": step.index,
        "name": step.name,
        "input": dump_json(step.input, field_name=f"steps.{step.name}.input"),
        "output": dump_json(step.output, field_name=f"steps.{step.name}.output"),
        "usage": dump_json(step.usage, field_name=f"steps.{step.name}.usage"),
        "started_at": step.started_at,
        "completed_at": step.completed_at,
        "duration_ms": step.duration_ms,
        "attempt": step.attempt,
        "model": step.model,
        "cost_usd": step.cost_usd,
        **{key: usage_count(step.usage, key) for key in USAGE_COLUMNS},
    }


def step_from_row(row: Row, dialect: Dialect) -> StepRecord:
    loads, moment = dialect.json, dialect.moment
    return StepRecord(
        job_id=row["job_id"],
        index=row["idx"],
        name=row["name"],
        input=loads(row["input"]),
        output=loads(row["output"]),
        usage=loads(row["usage"]) or {},
        started_at=moment(row["started_at"]),
        completed_at=moment(row["completed_at"]),
        duration_ms=row["duration_ms"],
        attempt=row["attempt"],
        model=row["model"],
        cost_usd=row["cost_usd"],
    )


def schedule_row(schedule: ScheduleRecord, dialect: Dialect) -> dict[str, Any]:
    """The named parameters of ``INSERT INTO schedules`` (its timestamps are ISO text in both backends)."""
    return {
        "id": schedule.id,
        "job_type": schedule.job_type,
        "input_data": dump_json(schedule.input_data, field_name="input"),
        "title": schedule.title,
        "priority": schedule.priority,
        "max_attempts": schedule.max_attempts,
        "cron": schedule.cron,
        "interval_s": schedule.interval_s,
        "timezone": schedule.timezone,
        "anchor": schedule.recurrence.anchor,
        "catch_up": schedule.catch_up.value,
        "paused": dialect.flag(schedule.paused),
        "created_at": schedule.created_at,
        "updated_at": schedule.updated_at,
        "next_fire_at": schedule.next_fire_at,
        "last_slot": schedule.last_slot,
        "last_job_id": schedule.last_job_id,
        "fire_count": schedule.fire_count,
        "username": schedule.username,
    }


def schedule_from_row(row: Row, dialect: Dialect) -> ScheduleRecord:
    return ScheduleRecord(
        id=row["id"],
        job_type=row["job_type"],
        input_data=dialect.json(row["input_data"]),
        title=row["title"],
        recurrence=Recurrence(row["cron"], row["interval_s"], row["timezone"], row["anchor"]),
        catch_up=CatchUp(row["catch_up"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        next_fire_at=row["next_fire_at"],
        priority=row["priority"],
        max_attempts=row["max_attempts"],
        paused=bool(row["paused"]),
        last_slot=row["last_slot"],
        last_job_id=row["last_job_id"],
        fire_count=row["fire_count"],
        username=row["username"],
    )


def fire_from_row(row: Row) -> ScheduleFire:
    return ScheduleFire(row["schedule_id"], row["slot"], row["job_id"], row["fired_at"])


def fired_schedule_params(
    schedule: ScheduleRecord, plan: FirePlan, job: JobRecord | None, now_iso: str
) -> tuple[Any, ...]:
    """The parameters of the update that moves a due schedule past ``plan`` (``job``: the one its slot
    created, None if none): ``SET next_fire_at, updated_at, last_slot = COALESCE(?, last_slot),
    last_job_id = COALESCE(?, last_job_id), fire_count = fire_count + ? WHERE id = ? AND next_fire_at = ?``
    (the last: unchanged since it was read)."""
    return (
        plan.next_fire_at, now_iso, plan.slot if job is not None else None,
        None if job is None else job.id, 0 if job is None else 1, schedule.id, schedule.next_fire_at,
    )  # fmt: skip


def worker_params(worker: WorkerRecord) -> tuple[Any, ...]:
    """The parameters of ``INSERT INTO lpe_workers (owner, kind, host, pid, version, concurrency, types,
    started_at, last_seen)``."""
    return (
        worker.owner, worker.kind, worker.host, worker.pid, worker.version, worker.concurrency,
        None if worker.types is None else json.dumps(list(worker.types)), worker.started_at,
        worker.last_seen,
    )  # fmt: skip


def worker_from_row(row: Row, dialect: Dialect) -> WorkerRecord:
    types = None if row["types"] is None else tuple(dialect.json(row["types"]))
    return WorkerRecord(
        owner=row["owner"], kind=row["kind"], host=row["host"], pid=row["pid"], version=row["version"],
        concurrency=row["concurrency"], types=types, started_at=dialect.moment(row["started_at"]),
        last_seen=dialect.moment(row["last_seen"]),
    )  # fmt: skip


def status_counts(rows: Iterable[Row]) -> dict[JobStatus, int]:
    """``(status, n)`` rows as the count of each status, 0 for a status with none."""
    counts = dict.fromkeys(JobStatus, 0)
    for row in rows:
        counts[JobStatus(row["status"])] = int(row["n"])
    return counts


def median_seconds_by_name(rows: Iterable[Row]) -> dict[str, float]:
    """``(name, duration_ms)`` step rows as the median seconds of each step name."""
    durations: dict[str, list[int]] = {}
    for row in rows:
        durations.setdefault(row["name"], []).append(row["duration_ms"])
    return {name: statistics.median(ms) / 1000 for name, ms in durations.items()}
