"""Translate the extension's JSON (jobs, steps, WebSocket frames, error bodies) to lpe_nb's own types."""

from __future__ import annotations

import re
from typing import Any

from lpe_nb.errors import InvalidInput, InvalidTransition, JobNotFound, LpeError, UnknownJobType
from lpe_nb.jobs import JobEvent, JobRecord, JobStatus, Progress, StepRecord

__all__ = ["error_from_body", "event_from_frame", "job_from_dict", "step_from_dict"]

_TRANSITION = re.compile(r"^job (?P<job_id>\S+) is (?P<current>\w+); it cannot become (?P<requested>\w+)")
_UNKNOWN_TYPE = re.compile(r"^unknown job type '(?P<job_type>[^']*)'")


def job_from_dict(data: dict[str, Any]) -> JobRecord:
    """A :class:`JobRecord` from ``JobRecord.to_dict()`` output; unknown keys (``steps``) are ignored."""
    known = {name: data[name] for name in JobRecord.__dataclass_fields__ if name in data}
    known["status"] = JobStatus(data["status"])
    known["progress"] = Progress.from_dict(data.get("progress"))
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


def error_from_body(status_code: int, body: Any, *, job_id: str | None = None) -> LpeError:
    """The lpe_nb error an HTTP error body ``{"error", "message", "fields"}`` stands for."""
    if not isinstance(body, dict):
        return LpeError(f"the server answered HTTP {status_code} without a JSON error body")
    code, message = str(body.get("error", "")), str(body.get("message", f"HTTP {status_code}"))
    if code == InvalidInput.code:
        fields = body.get("fields") or {}
        return InvalidInput({str(k): str(v) for k, v in fields.items()} or {"(body)": message}, message)
    if code == JobNotFound.code or (status_code == 404 and job_id is not None):
        return JobNotFound(job_id or "?")
    if code == InvalidTransition.code:
        match = _TRANSITION.match(message)
        if match:
            return InvalidTransition(match["job_id"], match["current"], match["requested"])
        return InvalidTransition(job_id or "?", "finished", "changed")
    if code == UnknownJobType.code:
        match = _UNKNOWN_TYPE.match(message)
        return UnknownJobType(match["job_type"] if match else "?", [])
    return LpeError(f"{message} (HTTP {status_code}, {code or 'no code'})")
