"""Jobs and steps to SQLite rows and back: pure functions, no SQL and no I/O."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from lpe_nb.jobs._store_common import USAGE_COLUMNS, usage_count
from lpe_nb.jobs.model import JobRecord, JobStatus, Progress, StepRecord, dump_json

__all__ = ["USAGE_COLUMNS", "job_to_row", "progress_json", "row_to_job", "row_to_step", "step_to_row"]


def row_to_step(r: sqlite3.Row) -> StepRecord:
    return StepRecord(
        job_id=r["job_id"],
        index=r["idx"],
        name=r["name"],
        input=_loads(r["input"]),
        output=_loads(r["output"]),
        usage=_loads(r["usage"]) or {},
        started_at=r["started_at"],
        completed_at=r["completed_at"],
        duration_ms=r["duration_ms"],
        attempt=r["attempt"],
        model=r["model"],
        cost_usd=r["cost_usd"],
    )


def step_to_row(step: StepRecord) -> dict[str, Any]:
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


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def progress_json(progress: Progress) -> str:
    return dump_json(progress.to_dict(), field_name="progress")


def job_to_row(job: JobRecord) -> dict[str, Any]:
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
        "cancel_requested": int(job.cancel_requested),
        "seq": job.seq,
        "scheduled_at": job.scheduled_at,
        "username": job.username,
        "use_cache": int(job.cache),
        "depends_on": dump_json(list(job.depends_on), field_name="depends_on") if job.depends_on else None,
        "inputs_from": dump_json(job.inputs_from, field_name="inputs_from") if job.inputs_from else None,
        "waiting_on": job.waiting_on,
        "dependents": job.dependents,
        "cost_usd": job.cost_usd,
    }


def row_to_job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        type=row["type"],
        status=JobStatus(row["status"]),
        title=row["title"],
        description=row["description"],
        input_data=_loads(row["input_data"]),
        result_data=_loads(row["result_data"]),
        error_message=row["error_message"],
        progress=Progress.from_dict(_loads(row["progress"])),
        created_at=row["created_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        updated_at=row["updated_at"],
        priority=row["priority"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        cancel_requested=bool(row["cancel_requested"]),
        seq=row["seq"],
        scheduled_at=row["scheduled_at"],
        username=row["username"],
        cache=bool(row["use_cache"]),
        depends_on=tuple(_loads(row["depends_on"]) or ()),
        inputs_from=_loads(row["inputs_from"]) or {},
        waiting_on=row["waiting_on"],
        dependents=row["dependents"],
        cost_usd=row["cost_usd"],
    )
