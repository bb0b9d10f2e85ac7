"""Jobs, steps and schedules to PostgreSQL parameters and back (:mod:`lpe_nb.jobs._rows` with psycopg's
column types: flags as booleans, ``json`` columns already parsed, ``timestamptz`` as aware datetimes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lpe_nb.jobs._rows import Dialect, job_from_row, job_row, progress_json, step_from_row
from lpe_nb.jobs._rows import step_row as step_params
from lpe_nb.jobs.model import JobRecord, StepRecord, to_iso

__all__ = ["POSTGRES", "iso", "job_params", "progress_json", "row_to_job", "row_to_step", "step_params"]


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else to_iso(moment)


def _same(value: Any) -> Any:
    return value


POSTGRES = Dialect(flag=bool, json=_same, moment=iso)


def job_params(job: JobRecord) -> dict[str, Any]:
    """The named parameters of ``INSERT INTO jobs`` (JSON already encoded, so a bad value fails here)."""
    return job_row(job, POSTGRES)


def row_to_job(row: dict[str, Any]) -> JobRecord:
    return job_from_row(row, POSTGRES)


def row_to_step(row: dict[str, Any]) -> StepRecord:
    return step_from_row(row, POSTGRES)
