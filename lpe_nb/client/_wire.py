"""Translate the extension's JSON (jobs, steps, WebSocket frames, error bodies) to lpe_nb's own types."""

from __future__ import annotations

from typing import Any

from lpe_nb.errors import LpeError
from lpe_nb.jobs import JobEvent, JobRecord, JobStatus, Progress, StepRecord

__all__ = ["error_from_body", "event_from_frame", "job_from_dict", "step_from_dict"]


def job_from_dict(data: dict[str, Any]) -> JobRecord:
    """A :class:`JobRecord` from ``JobRecord.to_dict()`` output; unknown keys (``steps``) are ignored."""
    known = {name: data[name] for name in JobRecord.__dataclass_fields__ if name in data}
    known["status"] = JobStatus(data["status"])
    known["progress"] = Progress.from_dict(data.get("progress"))
    known["depends_on"] = tuple(data.get("depends_on") or ())
    return JobRecord(**known)


def step_from_dict(data: dict[str, Any]) -> StepRecord:
    known = {name: data[name] for name in StepRecord.__dataclass_fields__ if name in data}
    return StepRecord(**known)


def event_from_frame(frame: dict[str, Any]) -> JobEvent | None:
    """The :class:`JobEvent` a ``progress``/``status`` frame stands for; None for any other frame."""
    kind = frame.get("type")
    if kind == "progress":
        progress = Progress.from_dict({**(frame.get("data") or {}), "seq": frame["seq"]})
        return JobEvent("progress", frame["job_id"], int(frame["seq"]), progress=progress)
    if kind == "status":
        return JobEvent(
            "status",
            frame["job_id"],
            int(frame["seq"]),
            status=JobStatus(frame["status"]),
            result_data=frame.get("result_data"),
            error_message=frame.get("error_message"),
        )
    return None


def error_from_body(status_code: int, body: Any) -> LpeError:
    """The lpe_nb error an HTTP error body (:meth:`LpeError.to_dict`) stands for: the same class, rebuilt
    from its ``error`` code with its fields and details, never from its message."""
    if not isinstance(body, dict):
        error = LpeError(f"the server answered HTTP {status_code} without a JSON error body")
        error.http_status = status_code
        return error
    return LpeError.from_dict(body, status=status_code)
