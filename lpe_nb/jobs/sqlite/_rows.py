"""Jobs, steps and schedules to SQLite rows and back (:mod:`lpe_nb.jobs._rows` with SQLite's column types:
flags as integers, JSON and timestamps as text)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from lpe_nb.jobs._rows import Dialect, Row, job_from_row, job_row, progress_json, step_from_row
from lpe_nb.jobs._rows import step_row as step_to_row
from lpe_nb.jobs._store_common import USAGE_COLUMNS
from lpe_nb.jobs.model import JobRecord, StepRecord

__all__ = [
    "SQLITE",
    "USAGE_COLUMNS",
    "job_to_row",
    "progress_json",
    "row_to_job",
    "row_to_step",
    "step_to_row",
]


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _same(value: Any) -> Any:
    return value


SQLITE = Dialect(flag=int, json=_loads, moment=_same)


def job_to_row(job: JobRecord) -> dict[str, Any]:
    return job_row(job, SQLITE)


def row_to_job(row: Row) -> JobRecord:
    """The job in ``row``: a ``sqlite3.Row``, or a dict of its columns."""
    return job_from_row(row, SQLITE)


def row_to_step(row: sqlite3.Row) -> StepRecord:
    return step_from_row(row, SQLITE)
