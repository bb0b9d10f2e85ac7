"""The exceptions lpe-nb raises, all rooted at :class:`LpeError`, and how they travel as data.

::

    class                         code                  HTTP  details
    LpeError                      lpe_error             500   (message only)
    ├── InvalidInput              invalid_input         400   (fields: field -> problem)
    ├── UnknownJobType            unknown_job_type      400   job_type, known
    ├── JobNotFound               job_not_found         404   job_id
    ├── ScheduleNotFound          schedule_not_found    404   schedule_id
    ├── InvalidTransition         invalid_transition    409   job_id, current, requested
    ├── AdminOnly                 admin_only            403   route
    ├── BodyTooLarge              body_too_large        413   size, limit
    ├── QuotaExceeded             quota_exceeded        429   identity, quota, limit, retry_after_s
    ├── DispatcherBusy            dispatcher_busy       503   db_path
    ├── StoreError                store_error           503   (message only)
    │   └── LeaseLost             lease_lost            503   (message only)
    ├── JobFailed                 job_failed            500   job_id, status, error_message
    ├── JobInterrupted            job_interrupted       500   (message only)
    ├── SubscriptionClosed        subscription_closed   500   overflowed
    ├── TokenRefused              token_refused         500   url
    ├── ServerUnreachable         server_unreachable    500   url, reason
    └── LlmError                  llm_error             500   endpoint, model, requests, status, retry_after_s
        ├── LlmUnavailable        llm_unavailable       500   (as LlmError; transient)
        ├── LlmBadResponse        llm_bad_response      500   (as LlmError; transient)
        └── LlmRefused            llm_refused           500   (as LlmError)

InvalidInput: a value a caller passed is wrong. UnknownJobType: no operation is registered under the type.
JobNotFound: no job has the id. AdminOnly: a route that covers every user's jobs, asked by a user
who sees only their own (``jobs_per_user``). InvalidTransition: the job's status does not allow the change. BodyTooLarge:
a request body over the server's ``max_body_bytes``. QuotaExceeded: a user reached one of the server's
per-user quotas on submissions (the server answers 429 with ``Retry-After``).
DispatcherBusy: another manager already runs the
database's jobs. StoreError: the SQLite file could not be used; LeaseLost: a running job's lease was taken
over. JobFailed: a job you waited for ended failed or cancelled. JobInterrupted: the manager stopped
mid-job. SubscriptionClosed: an event subscription ended. TokenRefused: the server refused the client's
token. ServerUnreachable: no HTTP answer from the server. LlmError: an LLM call gave no usable answer
(LlmUnavailable: the endpoint could not be reached or kept failing; LlmBadResponse: the reply was empty,
cut short, malformed, or not what the step needs; LlmRefused: the model declined to answer).

``transient`` says whether trying again later may succeed: the job engine retries a job that failed with a
transient error (see :mod:`lpe_nb.jobs.retry`) and fails it at once on any other.

Errors are data: every class has a stable ``code``, the ``http_status`` the server answers with, ``fields``
(field -> problem, empty but for :class:`InvalidInput`) and ``details`` (the constructor arguments that
rebuild it). :meth:`LpeError.to_dict` is the wire form, ``{"error": code, "message", "fields",
"details"}``, and :meth:`LpeError.from_dict` rebuilds the same class from its code, never from the message
text. Foreign errors (sqlite3, openai, pydantic) are translated at the boundary with ``raise ... from
exc`` so callers only ever need to catch these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

__all__ = [
    "AdminOnly",
    "BodyTooLarge",
    "DispatcherBusy",
    "InvalidInput",
    "InvalidTransition",
    "JobFailed",
    "JobInterrupted",
    "JobNotFound",
    "LeaseLost",
    "LlmBadResponse",
    "LlmError",
    "LlmRefused",
    "LlmUnavailable",
    "LpeError",
    "QuotaExceeded",
    "ScheduleNotFound",
    "ServerUnreachable",
    "StoreError",
    "SubscriptionClosed",
    "TokenRefused",
    "UnknownJobType",
]

_NO_FIELDS: Mapping[str, str] = MappingProxyType({})
_BY_CODE: dict[str, type[LpeError]] = {}  # filled by LpeError.__init_subclass__; read by from_dict


class LpeError(Exception):
    """Root of every error lpe-nb raises on purpose; ``code`` is the stable machine-readable name.

    A subclass sets its own ``code`` (unique: it is registered when the class is created, and a duplicate
    raises ``TypeError``), ``http_status`` if not 500, and ``detail_names``, the constructor arguments
    that rebuild it, each kept as an attribute of the same name. A subclass without ``detail_names`` is
    built from its message alone.
    """

    code: str = "lpe_error"
    http_status: int = 500
    fields: Mapping[str, str] = _NO_FIELDS
    detail_names: ClassVar[tuple[str, ...]] = ()
    transient: ClassVar[bool] = False  # trying again later may succeed

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if not isinstance(code, str) or not code or code == LpeError.code:
            raise TypeError(f"{cls.__name__} must set its own `code`; it names the error on the wire")
        taken = _BY_CODE.get(code)
        # The same class defined again (a notebook cell run twice, a reloaded module) takes its code over.
        if taken is not None and (taken.__module__, taken.__qualname__) != (cls.__module__, cls.__qualname__):
            raise TypeError(f"{cls.__name__}.code {code!r} is already {taken.__name__}'s; choose another")
        _BY_CODE[code] = cls

    @property
    def details(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this error (``detail_names``), by name."""
        return {name: getattr(self, name) for name in self.detail_names}

    def to_dict(self) -> dict[str, Any]:
        """The wire form: ``{"error": code, "message": str(self), "fields": {...}, "details": {...}}``."""
        return {
            "error": self.code,
            "message": str(self),
            "fields": dict(self.fields),
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, body: Mapping[str, Any], *, status: int = 500) -> LpeError:
        """The error a :meth:`to_dict` body stands for: the class registered under its ``error`` code,
        with the same fields, details and message.

        A code this version does not know, or details that do not fit its class (a server of another
        version), give a plain :class:`LpeError` that keeps the code, the message and ``status`` (the
        HTTP status the body came with) as ``code``, ``str()`` and ``http_status``.
        """
        code = str(body.get("error") or LpeError.code)
        message = str(body.get("message") or f"the server answered HTTP {status} ({code})")
        raw_fields, raw_details = body.get("fields"), body.get("details")
        fields = {str(k): str(v) for k, v in raw_fields.items()} if isinstance(raw_fields, Mapping) else {}
        details = dict(raw_details) if isinstance(raw_details, Mapping) else {}
        error_type = _BY_CODE.get(code)
        error: LpeError | None = None
        if error_type is not None:
            try:
                error = error_type._rebuild(message, fields, details)
            except (KeyError, TypeError, ValueError):
                error = None
        if error is None:
            error = LpeError(message)
            error.code, error.http_status = code, status
        error.args = (message,)  # the server's words, even where this version would phrase them otherwise
        return error

    @classmethod
    def _rebuild(cls, message: str, fields: dict[str, str], details: dict[str, Any]) -> LpeError:
        if not cls.detail_names:
            return cls(message)
        return cls(**{name: details[name] for name in cls.detail_names})


class InvalidInput(LpeError, ValueError):
    """One or more input fields are invalid; ``fields`` maps each field path to its problem."""

    code = "invalid_input"
    http_status = 400

    def __init__(self, fields: Mapping[str, str], message: str | None = None) -> None:
        self.fields = dict(fields)
        if message is None:
            message = "; ".join(f"{name}: {problem}" for name, problem in self.fields.items())
        super().__init__(message)

    @classmethod
    def field(cls, name: str, problem: str) -> InvalidInput:
        return cls({name: problem})

    @classmethod
    def from_pydantic(cls, exc: Any, *, prefix: str = "") -> InvalidInput:
        """Translate a ``pydantic.ValidationError``: one entry per failing field, dotted path as the key."""
        fields: dict[str, str] = {}
        for error in exc.errors(include_url=False):
            path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "") or "(body)"
            fields.setdefault(path, cls.problem_of(error))
        return cls(fields)

    @staticmethod
    def problem_of(error: Mapping[str, Any]) -> str:
        """One pydantic error's message, without the ``Value error, `` (or ``Assertion failed, ``) that
        pydantic puts before a validator's own words."""
        message = str(error.get("msg", ""))
        for noise in ("Value error, ", "Assertion failed, "):
            if message.startswith(noise):
                return message[len(noise) :]
        return message

    @classmethod
    def _rebuild(cls, message: str, fields: dict[str, str], details: dict[str, Any]) -> LpeError:
        return cls(fields, message)


class UnknownJobType(LpeError, LookupError):
    """No operation is registered under ``job_type``; ``known`` lists the types that are."""

    code = "unknown_job_type"
    http_status = 400
    detail_names = ("job_type", "known")

    def __init__(self, job_type: str, known: Iterable[str]) -> None:
        self.job_type = job_type
        self.known = sorted(known)
        super().__init__(f"unknown job type {job_type!r}; choose one of: {', '.join(self.known) or '(none)'}")


class JobNotFound(LpeError, LookupError):
    """No job has the id ``job_id`` (it never existed, or it was deleted)."""

    code = "job_not_found"
    http_status = 404
    detail_names = ("job_id",)

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id!r}; list jobs to see the ids that exist")


class ScheduleNotFound(LpeError, LookupError):
    """No recurring schedule has the id ``schedule_id`` (it never existed, or it was deleted)."""

    code = "schedule_not_found"
    http_status = 404
    detail_names = ("schedule_id",)

    def __init__(self, schedule_id: str) -> None:
        self.schedule_id = schedule_id
        super().__init__(f"no schedule with id {schedule_id!r}; list schedules to see the ids that exist")


class AdminOnly(LpeError, PermissionError):
    """``route`` covers every user's jobs (the result cache, the metrics), and the server limits this user
    to their own (``jobs_per_user``): only an admin may use it (docs/users.md)."""

    code = "admin_only"
    http_status = 403
    detail_names = ("route",)

    def __init__(self, route: str) -> None:
        self.route = route
        super().__init__(
            f"{route} covers every user's jobs, and this server shows each user only their own "
            "(jobs_per_user): ask an admin (admin_users)"
        )


class InvalidTransition(LpeError):
    """Job ``job_id`` is ``current``, which does not allow ``requested`` (a status, or an action)."""

    code = "invalid_transition"
    http_status = 409
    detail_names = ("job_id", "current", "requested")

    def __init__(self, job_id: str, current: str, requested: str) -> None:
        self.job_id, self.current, self.requested = job_id, current, requested
        super().__init__(f"job {job_id} is {current}; it cannot become {requested}")


class BodyTooLarge(LpeError):
    """The request body (``size`` bytes) is larger than the extension's ``max_body_bytes`` (``limit``)."""

    code = "body_too_large"
    http_status = 413
    detail_names = ("size", "limit")

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(f"the request body is {size} bytes; the limit is {limit} (max_body_bytes)")


class QuotaExceeded(LpeError):
    """``identity`` reached the server's per-user ``quota`` (``limit``); ``retry_after_s`` says when to retry.

    ``quota`` is the name of the server setting: ``max_pending_jobs_per_user`` (jobs waiting to start) or
    ``max_submits_per_minute_per_user``.
    """

    code = "quota_exceeded"
    http_status = 429
    detail_names = ("identity", "quota", "limit", "retry_after_s")

    def __init__(self, identity: str, quota: str, limit: int, retry_after_s: float) -> None:
        self.identity, self.quota, self.limit, self.retry_after_s = identity, quota, limit, retry_after_s
        if quota == "max_pending_jobs_per_user":
            used, remedy = f"has {limit} jobs waiting to start", "once some have started, or cancel some"
        else:
            used, remedy = f"submitted {limit} jobs in the last minute", "when the oldest leaves the minute"
        super().__init__(
            f"user {identity!r} {used}, the most this server allows ({quota}); "
            f"retry in {retry_after_s:g} s, {remedy}"
        )


class DispatcherBusy(LpeError):
    """Another job manager already dispatches the jobs of the database at ``db_path``."""

    code = "dispatcher_busy"
    http_status = 503
    detail_names = ("db_path",)

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        super().__init__(
            f"another job manager is already dispatching jobs from {db_path}; connect to it instead, "
            "or start this manager with dispatch=False to submit and read without running jobs"
        )


class StoreError(LpeError):
    """The job database could not be opened, read or written; the message names the file and the cause."""

    code = "store_error"
    http_status = 503


class LeaseLost(StoreError):
    """The job is no longer running under this owner's lease (it was recovered, cancelled or finished)."""

    code = "lease_lost"

    @classmethod
    def of(cls, job_id: str, owner: str) -> LeaseLost:
        return cls(f"job {job_id} is no longer running under lease {owner}")


class JobFailed(LpeError):
    """Raised when the result of a job that ended ``failed`` or ``cancelled`` is asked for."""

    code = "job_failed"
    detail_names = ("job_id", "status", "error_message")

    def __init__(self, job_id: str, status: str, error_message: str | None) -> None:
        self.job_id, self.status, self.error_message = job_id, status, error_message
        super().__init__(f"job {job_id} {status}: {error_message or 'no reason recorded'}")


class JobInterrupted(LpeError):
    """The manager is stopping: the job goes back to the queue and resumes from its last finished step."""

    code = "job_interrupted"


class SubscriptionClosed(LpeError):
    """The subscription ended: closed by its owner, or ``overflowed`` because its reader fell too far behind."""

    code = "subscription_closed"
    detail_names = ("overflowed",)

    def __init__(self, overflowed: bool) -> None:
        self.overflowed = overflowed
        reason = (
            "its reader fell too far behind (resubscribe to get the current state)"
            if overflowed
            else "closed"
        )
        super().__init__(f"the event subscription ended: {reason}")


class TokenRefused(LpeError):
    """The server answered 401/403: the token is missing, wrong, or lacks the ``lpe`` permission."""

    code = "token_refused"
    detail_names = ("url",)

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"the server at {url} refused the token; pass the server's token to connect(url, token=...) "
            "or set LPE_SERVER_TOKEN (see `jupyter server list`)"
        )


class ServerUnreachable(LpeError):
    """No HTTP answer from the server (connection refused, DNS, timeout)."""

    code = "server_unreachable"
    detail_names = ("url", "reason")

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(
            f"could not reach the lpe-nb server at {url}: {reason}; is it running, and is the URL "
            "(including its base_url) right?"
        )


class LlmError(LpeError):
    """An LLM call did not give a usable answer; the message names the endpoint and what to check.

    The optional details say where and how: ``endpoint`` (base URL) and ``model``, ``requests`` (HTTP
    requests really made for the call), ``status`` (the endpoint's last HTTP status, if it answered with
    an error) and ``retry_after_s`` (how long the endpoint asked to wait, from ``Retry-After``).
    """

    code = "llm_error"
    detail_names = ("endpoint", "model", "requests", "status", "retry_after_s")
    summary_words: ClassVar[str] = "a failed call"  # what :attr:`summary` calls it without an HTTP status

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        model: str | None = None,
        requests: int | None = None,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.endpoint, self.model, self.requests = endpoint, model, requests
        self.status, self.retry_after_s = status, retry_after_s
        super().__init__(message)

    @property
    def summary(self) -> str:
        """A few words on what failed, for a progress line: ``HTTP 503 from http://llm/v1``."""
        if not self.endpoint:
            return str(self)
        if self.status is not None:
            return f"HTTP {self.status} from {self.endpoint}"
        return f"{self.summary_words} from {self.endpoint}"

    @classmethod
    def _rebuild(cls, message: str, fields: dict[str, str], details: dict[str, Any]) -> LpeError:
        return cls(message, **{name: details.get(name) for name in cls.detail_names})


class LlmUnavailable(LlmError):
    """The LLM endpoint could not be reached, or kept failing (timeouts, 5xx, rate limits)."""

    code = "llm_unavailable"
    transient = True
    summary_words = "no complete answer"


class LlmBadResponse(LlmError):
    """The LLM answered, but the reply is empty, cut short, malformed, or not what the step needs."""

    code = "llm_bad_response"
    transient = True
    summary_words = "an unusable reply"


class LlmRefused(LlmError):
    """The model declined to answer (a refusal, or its content filter); asking again will not help."""

    code = "llm_refused"
    summary_words = "a refusal"
