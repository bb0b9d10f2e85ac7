"""Jobs and steps to PostgreSQL parameters and back: pure functions, no SQL and no I/O.

psycopg returns ``json`` columns already parsed and ``timestamptz`` as aware datetimes; the records keep
the fixed-width ISO strings of :func:`~lpe_nb.jobs.model.to_iso`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lpe_nb.jobs._store_common import USAGE_COLUMNS, usage_count
from lpe_nb.jobs.model import JobRecord, JobStatus, Progress, StepRecord, dump_json, to_iso

__all__ = ["iso", "job_params", "progress_json", "row_to_job", "row_to_step", "step_params"]


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else to_iso(moment)


def progress_json(progress: Progress) -> str:
    return dump_json(progress.to_dict(), field_name="progress")


def _json_or_none(value: Any, field_name: str) -> str | None:
    return None if value is None else dump_json(value, field_name=field_name)


def job_params(job: JobRecord) -> dict[str, Any]:
    """The named parameters of ``INSERT INTO jobs`` (JSON already encoded, so a bad value fails here)."""
    return {
        "id": job.id,
        "type": job.type,
        "status": job.status.value,
        "title": job.title,
        "description": job.description,
        "input_data": dump_json(job.input_data, field_name="input_data"),
        "result_data": _json_or_none(job.result_data, "result_data"),
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
        "cancel_requested": job.cancel_requested,
        "seq": job.seq,
        "scheduled_at": job.scheduled_at,
        "use_cache": job.cache,
        "depends_on": dump_json(list(job.depends_on), field_name="depends_on") if job.depends_on else None,
        "inputs_from": dump_json(job.inputs_from, field_name="inputs_from") if job.inputs_from else None,
        "waiting_on": job.waiting_on,
        "dependents": job.dependents,
        "cost_usd": job.cost_usd,
        "username": job.username,
    }


def row_to_job(row: dict[str, Any]) -> JobRecord:
    return JobRecord(
        id=row["id"],
        type=row["type"],
        status=JobStatus(row["status"]),
        title=row["title"],
        description=row["description"],
        input_data=row["input_data"],
        result_data=row["result_data"],
        error_message=row["error_message"],
        progress=Progress.from_dict(row["progress"]),
        created_at=to_iso(row["created_at"]),
        started_at=iso(row["started_at"]),
        completed_at=iso(row["completed_at"]),
        updated_at=to_iso(row["updated_at"]),
        priority=row["priority"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        lease_owner=row["lease_owner"],
        lease_expires_at=iso(row["lease_expires_at"]),
        cancel_requested=bool(row["cancel_requested"]),
        seq=row["seq"],
        scheduled_at=iso(row["scheduled_at"]),
        cache=bool(row["use_cache"]),
        depends_on=tuple(row["depends_on"] or ()),
        inputs_from=row["inputs_from"] or {},
        waiting_on=row["waiting_on"],
        dependents=row["dependents"],
        cost_usd=row["cost_usd"],
        username=row["username"],
    )


def step_params(step: StepRecord) -> dict[str, Any]:
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


def row_to_step(row: dict[str, Any]) -> StepRecord:
    return StepRecord(
        job_id=row["job_id"],
        index=row["idx"],
        name=row["name"],
        input=row["input"],
        output=row["output"],
        usage=row["usage"] or {},
        started_at=to_iso(row["started_at"]),
        completed_at=to_iso(row["completed_at"]),
        duration_ms=row["duration_ms"],
        attempt=row["attempt"],
        model=row["model"],
        cost_usd=row["cost_usd"],
    )
