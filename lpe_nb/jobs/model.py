"""Jobs as pure data: statuses and their legal transitions, progress, step records, JSON in and out.

Nothing here does I/O; the store persists these values and the manager decides when they change.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from lpe_nb.errors import InvalidInput, InvalidTransition

__all__ = [
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "TERMINAL_STATUSES",
    "JobRecord",
    "JobStatus",
    "Progress",
    "StepRecord",
    "check_priority",
    "check_schedule",
    "check_transition",
    "dump_json",
    "new_job_id",
    "to_iso",
    "utc_now",
]


class JobStatus(str, Enum):
    """A job's lifecycle state; the values are the strings stored in SQLite and sent over the wire."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    def can_move_to(self, new: JobStatus) -> bool:
        return new in _TRANSITIONS[self]


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

# running -> pending is the one backwards edge: a job whose manager stopped or died mid-run is requeued
# and resumes from its last finished step. Terminal states have no way out.
_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.PENDING}
    ),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def check_transition(job_id: str, current: JobStatus, new: JobStatus) -> None:
    """The one place that decides whether ``current -> new`` is legal; raises :class:`InvalidTransition`."""
    if not current.can_move_to(new):
        raise InvalidTransition(job_id, current.value, new.value)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def to_iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a fixed width, so stored timestamps also sort correctly as text."""
    if moment.tzinfo is not timezone.utc:  # the engine's own clock is already UTC: no conversion then
        moment = moment.astimezone(timezone.utc)
    return moment.isoformat(timespec="microseconds")


def new_job_id() -> str:
    """A new job's id: a random UUID (version 4).

    Not a time-ordered one (version 7), although its keys would then land beside the previous job's in
    the B-trees (~13 µs less SQL per job, ``bench/sql_floor.py``): every view shows a job by the first 8
    characters of its id (the dashboard, the progress widget, ``repr``), and those are the timestamp in a
    version 7, the same for every job made within a minute.
    """
    # uuid.uuid4() spelled out: 16 random bytes, the version and variant bits set, in the UUID's text form,
    # without building a UUID object (a third of the cost; one per submitted job).
    hexed = os.urandom(16).hex()
    variant = "89ab"[int(hexed[16], 16) & 3]
    return f"{hexed[:8]}-{hexed[8:12]}-4{hexed[13:16]}-{variant}{hexed[17:20]}-{hexed[20:]}"


# One encoder for every stored value: json.dumps given any option builds a new JSONEncoder per call, about
# half of what encoding a progress report costs (19 encodings per projection job; issue 16).
_STRICT_JSON = json.JSONEncoder(allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def dump_json(value: Any, *, field_name: str) -> str:
    """Serialize strictly (no NaN, no arbitrary objects); a value that cannot be stored names its field."""
    try:
        return _STRICT_JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput.field(field_name, f"must be JSON-serializable: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a job is: the seed's fields plus ``seq``, the job's event sequence number when it was reported."""

    current_step: str = ""
    total_steps: int = 0
    completed_steps: int = 0
    percentage: float = 0.0
    details: Any = None
    timestamp: str = ""
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        # Spelled out: dataclasses.asdict deep-copies recursively and this runs for every event.
        return {
            "current_step": self.current_step,
            "total_steps": self.total_steps,
            "completed_steps": self.completed_steps,
            "percentage": self.percentage,
            "details": self.details,
            "timestamp": self.timestamp,
            "seq": self.seq,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Progress:
        if not data:
            return cls()
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    @staticmethod
    def percent_of(completed_steps: int, total_steps: int) -> float:
        if total_steps <= 0:
            return 0.0
        return round(min(100.0, max(0.0, 100.0 * completed_steps / total_steps)), 1)


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One finished step: the audit trail entry and the checkpoint a resumed job starts from."""

    job_id: str
    index: int
    name: str
    input: Any
    output: Any
    usage: dict[str, int]
    started_at: str
    completed_at: str
    duration_ms: int
    attempt: int
    model: str | None = None  # the model its LLM calls went to (the last one's, if several)
    cost_usd: float | None = None  # what its calls cost at the prices of the day; None: no priced call

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Bounded so that every front door (REST, OpenAPI, CLI, forms) can state the same range; a thousand levels
# each way is far more than anyone ranks by hand, and leaves room for "urgent" without overflow games.
MIN_PRIORITY = -1000
MAX_PRIORITY = 1000


def check_priority(priority: object) -> int:
    """``priority`` if it is an integer from :data:`MIN_PRIORITY` to :data:`MAX_PRIORITY` (higher runs
    first); else :class:`InvalidInput` naming the field ``priority``."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidInput.field("priority", f"must be an integer, not {priority!r}")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise InvalidInput.field(
            "priority", f"must be from {MIN_PRIORITY} to {MAX_PRIORITY} (higher runs first), not {priority}"
        )
    return priority


MAX_DELAY_S = 366 * 86_400.0  # a year and a day: further than that is a mistake, not a plan


def check_schedule(now: datetime, run_at: object = None, delay_s: object = None) -> str | None:
    """When a job submitted at ``now`` may start (``scheduled_at``): ``run_at`` (a timezone-aware
    datetime) or ``now + delay_s`` (seconds, 0..MAX_DELAY_S), or None for at once. Raises
    :class:`InvalidInput` naming the field for a naive time, a bad delay, both at once, or a time more
    than a year ahead."""
    if run_at is not None and delay_s is not None:
        raise InvalidInput.field("delay_s", "give run_at or delay_s, not both")
    if delay_s is not None:
        if (
            isinstance(delay_s, bool)
            or not isinstance(delay_s, (int, float))
            or not 0 <= delay_s <= MAX_DELAY_S
        ):
            raise InvalidInput.field(
                "delay_s", f"must be a number of seconds from 0 to {MAX_DELAY_S:.0f}, not {delay_s!r}"
            )
        return to_iso(now + timedelta(seconds=delay_s)) if delay_s > 0 else None
    if run_at is None:
        return None
    if not isinstance(run_at, datetime):
        raise InvalidInput.field("run_at", f"must be a datetime, not {type(run_at).__name__}")
    if run_at.tzinfo is None or run_at.utcoffset() is None:
        raise InvalidInput.field(
            "run_at", "must be timezone-aware (e.g. 2026-11-29T15:00:00+01:00, or datetime.now(timezone.utc))"
        )
    if (run_at - now).total_seconds() > MAX_DELAY_S:
        raise InvalidInput.field("run_at", "must be at most a year ahead")
    return to_iso(run_at) if run_at > now else None


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job row. ``seq`` is the job's last event sequence number; ``lease_*`` name who runs it until when."""

    id: str
    type: str
    status: JobStatus
    title: str
    description: str | None = None
    input_data: Any = None
    result_data: Any = None
    error_message: str | None = None
    progress: Progress = field(default_factory=Progress)
    created_at: str = ""
    started_at: str | None = None
    completed_at: str | None = None
    updated_at: str = ""
    priority: int = 0
    attempts: int = 0
    max_attempts: int = 3
    lease_owner: str | None = None
    lease_expires_at: str | None = None
    cancel_requested: bool = False
    seq: int = 0
    scheduled_at: str | None = None  # a pending job waits until then (UTC); None once it may start
    username: str | None = None  # who submitted it (the Jupyter identity); None: unknown (docs/users.md)
    # Chains (docs/chains.md): the jobs this one waits for, the input fields it takes from their results
    # (field -> "<parent id>.<result path>"), how many of them have not completed yet (None: it waits for
    # none, and may be claimed), and how many jobs were submitted to wait for this one.
    depends_on: tuple[str, ...] = ()
    inputs_from: dict[str, str] = field(default_factory=dict)
    waiting_on: int | None = None
    dependents: int = 0
    cost_usd: float | None = None  # the sum of its finished steps' costs; None while none has one
    cache: bool = True  # its LLM calls may be answered from the result cache (docs/caching.md)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def moved_to(self, new: JobStatus) -> JobRecord:
        check_transition(self.id, self.status, new)
        return replace(self, status=new)

    def to_dict(self) -> dict[str, Any]:
        """The wire form: JSON-ready, status as its string value. Its values are the record's own (input,
        result: not copied): ``dataclasses.asdict`` deep-copied them, two thirds of what a page of 50 jobs
        cost ``GET lpe/api/jobs`` to build (2.2 of 3.4 ms)."""
        data = {name: getattr(self, name) for name in _JOB_FIELDS}
        data["status"] = self.status.value
        data["progress"] = self.progress.to_dict()
        return data


_JOB_FIELDS = tuple(f.name for f in fields(JobRecord))
_JOB_FIELD_NAMES = frozenset(_JOB_FIELDS)


def replace_job(job: JobRecord, **changes: Any) -> JobRecord:
    """``dataclasses.replace(job, **changes)`` at half its cost (3.3 against 6.6 µs; once per finished job):
    the fields copied into a new record one by one, without ``replace``'s look at each field's kind (a
    JobRecord has no init-only and no non-init field)."""
    unknown = changes.keys() - _JOB_FIELD_NAMES
    if unknown:
        raise TypeError(f"JobRecord has no field {sorted(unknown)[0]!r}")
    new = object.__new__(JobRecord)
    for name in _JOB_FIELDS:
        object.__setattr__(new, name, changes[name] if name in changes else getattr(job, name))
    return new
