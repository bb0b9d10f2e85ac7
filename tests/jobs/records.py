"""Jobs, steps and timestamps for store tests: plain data, on a fixed clock so every moment is chosen."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from lpe_nb.jobs import JobRecord, JobStatus, StepRecord
from lpe_nb.jobs.model import new_job_id, to_iso

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(seconds: float = 0.0) -> str:
    """The stored form of ``EPOCH + seconds``."""
    return to_iso(EPOCH + timedelta(seconds=seconds))


def make_job(**overrides: Any) -> JobRecord:
    """A new pending job created at ``EPOCH``, with ``overrides`` applied."""
    values: dict[str, Any] = {
        "id": new_job_id(), "type": "noop", "status": JobStatus.PENDING, "title": "t",
        "input_data": {}, "created_at": at(), "updated_at": at(), "seq": 1,
    }  # fmt: skip
    values.update(overrides)
    return JobRecord(**values)


def make_step(job_id: str, index: int, *, name: str | None = None, output: Any = "out") -> StepRecord:
    """A finished step of ``job_id`` (named ``step<index>`` unless ``name`` is given)."""
    return StepRecord(
        job_id=job_id,
        index=index,
        name=name or f"step{index}",
        input={"i": index},
        output=output,
        usage={"tokens": index},
        started_at=at(index),
        completed_at=at(index + 0.5),
        duration_ms=500,
        attempt=1,
    )
