"""The pydantic models of the REST API's bodies: what the handlers validate requests with and serialise
replies through, and what :func:`lpe_nb.server_ext.openapi.build_document` turns into the document's
schemas, so the document cannot say one thing while the server does another.

Reply models allow extra keys (``extra="allow"``): a newer server may add a field, which passes through
to the wire and which clients ignore; a field the model requires but the server no longer sends fails
the reply (a 500 and a test), not the client. Request models forbid unknown keys.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, create_model

from lpe_nb.errors import InvalidInput
from lpe_nb.jobs import JobRecord, JobStatus, StepRecord
from lpe_nb.jobs.analytics import ANALYTICS_GROUPS, DEFAULT_ANALYTICS_DAYS
from lpe_nb.jobs.chains import MAX_PARENTS
from lpe_nb.jobs.model import MAX_DELAY_S, MAX_PRIORITY, MIN_PRIORITY
from lpe_nb.jobs.recurrence import MAX_INTERVAL_S, MIN_INTERVAL_S, CatchUp, ScheduleRecord

__all__ = [
    "JOB_ID_MAX_CHARS",
    "JOB_ID_PATTERN",
    "MAX_FILTER_CHARS",
    "MAX_LIMIT",
    "MAX_STATUS_FILTERS",
    "MAX_WAIT_S",
    "SCHEDULE_ID_PATTERN",
    "AnalyticsBody",
    "AnalyticsGroupBody",
    "AnalyticsQuery",
    "CacheClearedBody",
    "CacheStatsBody",
    "CancelRequest",
    "CatalogBody",
    "CatalogEntryBody",
    "DocumentBody",
    "ErrorBody",
    "FieldBody",
    "JobBody",
    "JobPageBody",
    "JobTypeBody",
    "JobTypesBody",
    "JobWithStepsBody",
    "JobsQuery",
    "LlmBody",
    "PriorityRequest",
    "ProgressBody",
    "ScheduleBody",
    "ScheduleFireBody",
    "SchedulePatchRequest",
    "ScheduleRequest",
    "ScheduleWithFiresBody",
    "SchedulesBody",
    "StatusBody",
    "StepBody",
    "SubmitRequest",
    "SubmittedBody",
    "WaitRequest",
    "submit_model",
    "validate_request",
]

MAX_WAIT_S = 60.0
MAX_LIMIT = 500
MAX_FILTER_CHARS = 100  # a query value (type, cursor)
MAX_STATUS_FILTERS = 16  # status values in one listing, after splitting on commas
JOB_ID_MAX_CHARS = 64
JOB_ID_PATTERN = r"^[A-Za-z0-9_-]+$"  # what new_job_id makes (a UUID) and what tests name jobs

WaitSeconds = Annotated[
    float,
    Field(
        strict=True,  # a JSON number: not true, not "5"
        ge=0,
        le=MAX_WAIT_S,
        description=f"seconds (0..{MAX_WAIT_S:g}) to wait for the job to finish; if it does, the reply "
        "is 200 with the job instead of 202",
    ),
]

MaxAttempts = Annotated[
    int,
    Field(
        strict=True,
        ge=1,
        le=100,
        description="this job's attempts: how many tries in a row that finish no step it may make before it "
        "fails (default: its type's, else the server's)",
    ),
]

Priority = Annotated[
    int,
    Field(
        strict=True,
        ge=MIN_PRIORITY,
        le=MAX_PRIORITY,
        description=f"this job's priority ({MIN_PRIORITY}..{MAX_PRIORITY}, default 0): a higher one is started "
        "first, equal ones oldest first; not aged, so a steady stream of higher ones delays it indefinitely",
    ),
]

RunAt = Annotated[
    AwareDatetime,
    Field(
        description="when the job may start: an ISO 8601 time with its offset (e.g. 2026-11-29T15:00:00Z); "
        "it waits pending, with scheduled_at, until then. Not with delay_s",
    ),
]
UseCache = Annotated[
    bool,
    Field(
        strict=True,  # a JSON boolean, not "false"
        description="false: none of the job's LLM calls is answered from the result cache, nor stored in it "
        "(default true: an identical earlier call's reply is reused at no cost; see docs/caching.md)",
    ),
]
DelaySeconds = Annotated[
    float,
    Field(
        strict=True,  # a JSON number, not "5"
        ge=0,
        le=MAX_DELAY_S,
        description=f"seconds (0..{MAX_DELAY_S:.0f}) the job waits, pending with scheduled_at, before it may "
        "start. Not with run_at",
    ),
]
DependsOn = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64)]],
    Field(
        max_length=MAX_PARENTS,
        description=f"ids of jobs (at most {MAX_PARENTS}) this one waits for: it starts once every one has "
        "completed, and is cancelled if one fails or is cancelled (docs/chains.md). In the body only",
    ),
]
InputsFrom = Annotated[
    dict[str, Annotated[str, Field(min_length=1, max_length=300)]],
    Field(
        max_length=64,
        description="input fields taken from a parent's result when the job starts: {field: '<job id>."
        "<dotted path in its result>'}; the job then depends on that parent. With depends_on alone, the "
        "job type's declared mappings apply; a field filled this way may be left out of the input. In the "
        "body only",
    ),
]


class ChainRequest(BaseModel):
    """``depends_on`` and ``inputs_from``, taken out of a submit route's body."""

    model_config = ConfigDict(extra="forbid")

    depends_on: DependsOn | None = None
    inputs_from: InputsFrom | None = None


class _Reply(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- replies ----------------------------------------------------------------------------------------------


class ProgressBody(_Reply):
    """Where a job is: the step running, steps done of all, percentage, and the event ``seq`` it was at."""

    current_step: str
    total_steps: int
    completed_steps: int
    percentage: float
    details: Any = None
    timestamp: str
    seq: int


class StepBody(_Reply):
    """One finished step of a job: its input, output, token usage and timing."""

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
    model: str | None = Field(None, description="the model the step's LLM calls went to")
    cost_usd: float | None = Field(
        None,
        description="what the step's LLM calls cost in USD, priced when they were made (0 for the mock, a "
        "local server and cache hits); null when its model has no price",
    )


class JobBody(_Reply):
    """A job as stored. ``cancel_requested`` is true once a cancel was asked for and the job is still
    running (it ends ``cancelled`` at its next await)."""

    id: str
    type: str
    status: JobStatus
    title: str
    description: str | None
    input_data: Any
    result_data: Any
    error_message: str | None
    progress: ProgressBody
    created_at: str
    started_at: str | None
    completed_at: str | None
    updated_at: str
    priority: int
    scheduled_at: str | None = Field(
        None, description="a pending job waits until then (UTC); null once it may start"
    )
    depends_on: list[str] = Field(
        default_factory=list, description="the jobs it waits for: it starts once each one has completed"
    )
    inputs_from: dict[str, str] = Field(
        default_factory=dict,
        description="input fields it takes from a parent's result: {field: '<job id>.<path>'}",
    )
    waiting_on: int | None = Field(
        None, description="how many of its parents have not completed yet; null: it waits for none"
    )
    dependents: int = Field(0, description="how many jobs were submitted to wait for this one")
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: str | None
    cancel_requested: bool
    seq: int
    username: str | None = Field(
        None,
        description="who submitted it: the Jupyter user's name (`server-token` for the server's shared "
        "token), or the user of an engine embedded in a kernel or the CLI; null: unknown",
    )
    cost_usd: float | None = Field(
        None,
        description="what the job's finished steps cost in USD, at the prices of the day they ran; null "
        "while no step has a price (see docs/cost-and-analytics.md)",
    )

    cache: bool = Field(
        True,
        description="false: the job's LLM calls are never answered from the result cache (docs/caching.md)",
    )

    @classmethod
    def of(cls, job: JobRecord) -> JobBody:
        return cls.model_validate(job.to_dict())


class JobWithStepsBody(JobBody):
    """A job with the steps it has finished, in order."""

    steps: list[StepBody]

    @classmethod
    def of_steps(cls, job: JobRecord, steps: list[StepRecord]) -> JobWithStepsBody:
        return cls.model_validate({**job.to_dict(), "steps": [step.to_dict() for step in steps]})


class JobPageBody(_Reply):
    """One page of jobs, newest first; pass ``next_cursor`` as ``cursor`` for the next (null at the end)."""

    jobs: list[JobBody]
    next_cursor: str | None

    @staticmethod
    def wire(jobs: list[JobRecord], next_cursor: str | None) -> dict[str, Any]:
        """The page as this model sends it, built from the records' own wire form without validating what
        the engine made (the same JSON: tests/server_ext/test_reply_wire.py): the validation and the model's
        dump cost the server's loop as much again as the rest of the reply, on the request a dashboard
        polls."""
        return {"jobs": [job.to_dict() for job in jobs], "next_cursor": next_cursor}


class SubmittedBody(_Reply):
    """A job accepted and stored (202); its URL is in the ``Location`` header."""

    job_id: str
    status: JobStatus


class FieldBody(_Reply):
    """One input field of a job type, as a form or the CLI shows it."""

    name: str
    type: str
    required: bool
    default: Any = None
    choices: list[Any] | None
    description: str
    catalog: str | None


class JobTypeBody(_Reply):
    """A job type: its name, client method, description, submit path and input fields."""

    name: str
    method: str
    description: str
    path: str
    fields: list[FieldBody]


class JobTypesBody(_Reply):
    job_types: list[JobTypeBody]


class CatalogEntryBody(_Reply):
    kind: str
    name: str
    description: str
    fields: dict[str, Any]
    builtin: bool
    username: str | None = Field(None, description="who made it (a user entry); null for a built-in")


class CatalogBody(_Reply):
    """Personas, namespaces and styles in order, the defaults of each, and the supported languages."""

    personas: list[CatalogEntryBody]
    namespaces: list[CatalogEntryBody]
    styles: list[CatalogEntryBody]
    defaults: dict[str, str]
    languages: list[str]


class LlmBody(_Reply):
    provider: str
    model: str
    is_mock: bool


class WorkerBody(_Reply):
    """A process that dispatches the database's jobs, as its heartbeat row says."""

    owner: str = Field(description="its lease owner: the name on the jobs it runs")
    kind: str = Field(description="worker (python -m lpe_nb worker), jupyter-server or engine (embedded)")
    host: str
    pid: int
    version: str = Field(description="its lpe-nb version")
    concurrency: int
    types: list[str] | None = Field(description="the job types it claims; null: every type")
    started_at: str
    last_seen: str = Field(description="its last heartbeat (every lease_s / 3)")
    stale: bool = Field(
        description="no heartbeat for a whole lease period: probably dead; its jobs are taken back by the "
        "next sweep, and the row is forgotten after a day"
    )


class UserBody(_Reply):
    """Who asked, and whether they see every user's jobs (docs/users.md)."""

    username: str
    sees_all_jobs: bool = Field(
        description="true on a single-user server and for admins; false when `jobs_per_user` limits the "
        "listing, the counts and every job route to this user's own jobs"
    )


class StatusBody(_Reply):
    """The server's version, its LLM, the number of jobs per status and those running here."""

    version: str
    llm: LlmBody
    counts: dict[str, int] = Field(
        description="jobs per status: everyone's, or only the asking user's when `user.sees_all_jobs` is false"
    )
    running: int
    dispatching: bool = Field(
        description="whether this server runs the database's jobs; false while another process does (this "
        "one serves every route all the same, and takes over if that process exits)"
    )
    job_types: list[str]
    user: UserBody | None = None
    workers: list[WorkerBody] = Field(
        default_factory=list,
        description="the processes that dispatch the database's jobs (this server too while it does), "
        "oldest first",
    )
    rate_limits: list[dict[str, Any]] = Field(
        default_factory=list,
        description="the shared rate limit of each LLM endpoint and model called so far: its limits, what "
        "the current window holds, calls waiting, and any pause a 429 asked for",
    )


class AnalyticsGroupBody(_Reply):
    """The figures of one group of jobs (or of all of them: the totals, whose ``key`` is ``{}``)."""

    key: dict[str, str | None] = Field(
        description="each grouped-by name and its value: day (YYYY-MM-DD, UTC, of created_at), type, status, "
        "model (null for jobs with no LLM step)"
    )
    jobs: int = Field(description="jobs created in the range (by model: jobs with a step of that model)")
    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int
    success_rate: float | None = Field(
        description="completed / (completed + failed); null when neither (cancelled jobs count as neither)"
    )
    duration_p50_s: float | None = Field(
        description="median seconds from start to end of the jobs that started and ended (nearest rank)"
    )
    duration_p95_s: float | None = Field(description="95th percentile of the same (nearest rank)")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float | None = Field(description="what their steps cost in USD; null when no step had a price")
    llm_calls: int = Field(description="LLM calls their steps made")
    cache_hits: int = Field(description="LLM calls their steps had answered by the result cache")
    cache_hit_rate: float = Field(description="cache_hits / (cache_hits + llm_calls); 0 without either")


class AnalyticsBody(_Reply):
    """Aggregates over the jobs created in ``[since, until)``: one entry per group, ordered by key, and
    the totals."""

    since: str
    until: str
    group_by: list[str]
    groups: list[AnalyticsGroupBody]
    totals: AnalyticsGroupBody


class CacheStatsBody(_Reply):
    """What the LLM result cache holds (``GET lpe/api/cache``), and the bounds in force."""

    entries: int = Field(description="cached replies")
    size_bytes: int = Field(description="their stored size, in bytes")
    hits: int = Field(description="calls the entries held now have answered")
    oldest_at: str | None = Field(description="when the oldest entry was stored (UTC); null when empty")
    newest_at: str | None = Field(description="when the newest entry was stored (UTC); null when empty")
    enabled: bool = Field(description="whether jobs use the cache (LPE_LLM_CACHE)")
    max_entries: int | None = Field(description="the bound on entries (null: none)")
    max_bytes: int | None = Field(description="the bound on their size in bytes (null: none)")
    max_age_days: float | None = Field(description="an older entry is never served (null: no limit)")


class CacheClearedBody(_Reply):
    """The reply of ``DELETE lpe/api/cache``."""

    deleted: int = Field(description="how many cached replies were deleted")


class DocumentBody(_Reply):
    """An OpenAPI 3.1 document (this one)."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


class ErrorBody(BaseModel):
    """Every error reply: ``LpeError.to_dict()``; the client rebuilds the exception from ``error``."""

    error: str = Field(description="stable machine-readable code, e.g. invalid_input, job_not_found")
    message: str = Field(description="what went wrong and what to do")
    fields: dict[str, str] = Field(description="invalid_input: field (dotted path) -> its problem")
    details: dict[str, Any] = Field(description="the error's data, e.g. job_id, or known job types")


# -- requests ---------------------------------------------------------------------------------------------


class SubmitRequest(_Request):
    """The body of ``POST lpe/api/jobs``: a job of any type."""

    type: str = Field(
        min_length=1, max_length=64, description="the job type's name (see GET lpe/api/job-types)"
    )
    input: dict[str, Any] = Field(
        default_factory=dict, description="the job type's input fields (see its submit route's schema)"
    )
    wait: WaitSeconds | None = None
    max_attempts: MaxAttempts | None = None
    priority: Priority | None = None
    run_at: RunAt | None = None
    delay_s: DelaySeconds | None = None
    cache: UseCache | None = None
    depends_on: DependsOn | None = None  # chains: docs/chains.md
    inputs_from: InputsFrom | None = None


class WaitRequest(_Request):
    """``wait``, ``max_attempts`` and ``priority``: in the query of a submit route, or taken out of its body."""

    wait: WaitSeconds | None = None
    max_attempts: MaxAttempts | None = None
    priority: Priority | None = None
    run_at: RunAt | None = None
    delay_s: DelaySeconds | None = None
    cache: UseCache | None = None


class PriorityRequest(_Request):
    """The body of ``PATCH lpe/api/jobs/{job_id}``: a pending job's new priority."""

    priority: Priority


class CancelRequest(_Request):
    """The optional body of ``POST lpe/api/jobs/{job_id}/cancel``."""

    wait: WaitSeconds | None = Field(
        None,
        description=f"seconds (0..{MAX_WAIT_S:g}; default 2) to wait for a running job to end: 200 if it "
        "did, else 202 with cancel_requested true",
    )


class AnalyticsQuery(_Request):
    """The query of ``GET lpe/api/analytics``."""

    since: AwareDatetime | None = Field(
        None,
        description=f"the range's start, inclusive, with its offset (e.g. 2026-11-01T00:00:00Z); default "
        f"{DEFAULT_ANALYTICS_DAYS} days before until",
    )
    until: AwareDatetime | None = Field(None, description="the range's end, exclusive; default now")
    group_by: list[Literal["day", "type", "model", "status"]] = Field(
        default_factory=list,
        max_length=len(ANALYTICS_GROUPS),
        description="group by any of day, type, model, status (repeat the parameter or comma-separate); "
        "none: the totals only",
    )


class JobsQuery(_Request):
    """The query of ``GET lpe/api/jobs``."""

    status: list[JobStatus] = Field(
        default_factory=list,
        max_length=MAX_STATUS_FILTERS,
        description="only jobs in these statuses (repeat the parameter or comma-separate)",
    )
    type: str | None = Field(None, max_length=MAX_FILTER_CHARS, description="only jobs of this type")
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"page size, 1..{MAX_LIMIT}")
    cursor: str | None = Field(
        None, max_length=MAX_FILTER_CHARS, description="next_cursor of the previous page"
    )


_HINTS = {
    ("SubmitRequest", "type", "missing"): "is required: the job type's name (see GET lpe/api/job-types)",
    ("SubmitRequest", "input", "dict_type"): "must be a JSON object of the job type's fields",
    ("SubmitRequest", "*", "extra_forbidden"): "is not a submit option (put the job's fields in input)",
}

M = TypeVar("M", bound=BaseModel)


def validate_request(model: type[M], data: Mapping[str, Any]) -> M:
    """``data`` validated by ``model``; :class:`InvalidInput` naming each bad top-level field otherwise
    (``status``, not ``status.0``: a query parameter or body key is what the caller can fix)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields: dict[str, str] = {}
        for error in exc.errors(include_url=False):
            name = str(error["loc"][0]) if error["loc"] else "(body)"
            kind = error["type"]
            hint = _HINTS.get((model.__name__, name, kind)) or _HINTS.get((model.__name__, "*", kind))
            fields.setdefault(name, hint or InvalidInput.problem_of(error))
        raise InvalidInput(fields) from exc


def submit_model(input_model: type[BaseModel] | None) -> type[BaseModel]:
    """The request body of a job type's own submit route: its input fields plus ``wait``."""
    return _submit_model(input_model)


@functools.lru_cache(maxsize=256)
def _submit_model(input_model: type[BaseModel] | None) -> type[BaseModel]:
    if input_model is None:
        base: type[BaseModel] = _AnyInput
        name = "AnyInputSubmit"
    else:
        base, name = input_model, f"{input_model.__name__}Submit"
    model: type[BaseModel] = create_model(
        name,
        __base__=base,
        wait=(WaitSeconds | None, None),
        max_attempts=(MaxAttempts | None, None),
        priority=(Priority | None, None),
        run_at=(RunAt | None, None),
        delay_s=(DelaySeconds | None, None),
        cache=(UseCache | None, None),
        depends_on=(DependsOn | None, None),
        inputs_from=(InputsFrom | None, None),
    )
    model.__doc__ = f"{(input_model or _AnyInput).__doc__ or ''} Plus the submit options (``wait``, ``priority``...).".strip()
    return model


class _AnyInput(BaseModel):
    """A job type without an input model takes any JSON object."""

    model_config = ConfigDict(extra="allow")


# -- recurring schedules ------------------------------------------------------------------------------------

SCHEDULE_ID_PATTERN = r"^sch_[0-9a-f]{1,40}$"


class ScheduleRequest(_Request):
    """The body of ``POST lpe/api/schedules``: a job type and its input, fired at each slot of ``cron`` (in
    ``timezone``) or every ``interval_s`` seconds."""

    job_type: str = Field(
        min_length=1, max_length=64, description="the job type's name (see GET lpe/api/job-types)"
    )
    input: dict[str, Any] = Field(
        default_factory=dict,
        description="the job type's input fields (see its submit route's schema); checked now, as at submit",
    )
    cron: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="a cron expression: 5 fields (minute hour day-of-month month day-of-week), or 6 with the "
        "seconds first; read in `timezone`. Not with interval_s",
    )
    interval_s: float | None = Field(
        None,
        strict=True,
        ge=MIN_INTERVAL_S,
        le=MAX_INTERVAL_S,
        description=f"fire every interval_s seconds ({MIN_INTERVAL_S:g}..{MAX_INTERVAL_S:.0f}) from the "
        "schedule's creation. Not with cron",
    )
    timezone: str = Field(
        "UTC", min_length=1, max_length=64, description="the IANA timezone a cron expression is read in"
    )
    catch_up: CatchUp = Field(
        CatchUp.SKIP,
        description="after downtime: `skip` the slots that passed (fire only on time), or run `once` for them",
    )
    title: str | None = Field(None, max_length=200, description="the jobs' title (default: the job type's)")
    priority: Priority | None = None
    max_attempts: MaxAttempts | None = None


class SchedulePatchRequest(_Request):
    """The body of ``PATCH lpe/api/schedules/{schedule_id}``: pause or resume it."""

    paused: bool = Field(
        strict=True,
        description="true: fire nothing until resumed; false: fire again from the next slot to come (the slots "
        "that passed while paused are not caught up)",
    )


class ScheduleFireBody(_Reply):
    """One slot a schedule fired: the slot (UTC), the job it created and when it fired."""

    schedule_id: str
    slot: str
    job_id: str
    fired_at: str


class ScheduleBody(_Reply):
    """A recurring schedule, with its next fire times (none while paused)."""

    id: str
    job_type: str
    input_data: Any
    title: str
    cron: str | None
    interval_s: float | None
    timezone: str
    catch_up: CatchUp
    paused: bool
    priority: int
    max_attempts: int
    created_at: str
    updated_at: str
    next_fire_at: str | None = Field(description="the next slot it fires (UTC), kept while paused")
    next_fire_times: list[str] = Field(description="the next three slots it fires (UTC); empty while paused")
    last_slot: str | None = Field(description="the last slot it fired")
    last_job_id: str | None = Field(description="the job that slot created")
    fire_count: int = Field(description="slots fired so far")
    username: str | None = Field(
        None, description="who made it; the jobs it fires are theirs (null: unknown, made before issue 13)"
    )

    @classmethod
    def of(cls, schedule: ScheduleRecord) -> ScheduleBody:
        return cls.model_validate(schedule.to_dict())


class ScheduleWithFiresBody(ScheduleBody):
    """A recurring schedule and its latest fires, newest first (the jobs it created)."""

    recent_fires: list[ScheduleFireBody]


class SchedulesBody(_Reply):
    """Every recurring schedule, oldest first."""

    schedules: list[ScheduleBody]
