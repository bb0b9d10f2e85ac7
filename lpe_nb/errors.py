"""The exceptions lpe-nb raises, all rooted at :class:`LpeError`.

::

    LpeError
    ├── InvalidInput          a value a caller passed is wrong (names the field)
    ├── JobNotFound           no job has this id
    ├── InvalidTransition     the job's status does not allow the change
    ├── UnknownJobType        no operation is registered under this type
    ├── JobFailed             a job you waited for ended failed or cancelled
    ├── DispatcherBusy        another manager already runs this database's jobs
    ├── StoreError            the SQLite file could not be used
    ├── TokenRefused          the lpe-nb server refused the client's token
    ├── ServerUnreachable     the client got no HTTP answer from the server
    └── LlmError              an LLM call did not give a usable answer
        ├── LlmUnavailable    the endpoint could not be reached or kept failing
        └── LlmBadResponse    the reply could not be parsed as the step needs

Foreign errors (sqlite3, openai, pydantic) are translated at the boundary with ``raise ... from exc`` so
callers only ever need to catch these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "DispatcherBusy",
    "InvalidInput",
    "InvalidTransition",
    "JobFailed",
    "JobNotFound",
    "LlmBadResponse",
    "LlmError",
    "LlmUnavailable",
    "LpeError",
    "ServerUnreachable",
    "StoreError",
    "TokenRefused",
    "UnknownJobType",
]


class LpeError(Exception):
    """Root of every error lpe-nb raises on purpose; ``code`` is the stable machine-readable name."""

    code = "lpe_error"


class InvalidInput(LpeError, ValueError):
    """One or more input fields are invalid; ``fields`` maps each field path to its problem."""

    code = "invalid_input"

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
            fields.setdefault(path, error["msg"])
        return cls(fields)


class JobNotFound(LpeError, LookupError):
    code = "job_not_found"

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id!r}; list jobs to see the ids that exist")


class InvalidTransition(LpeError):
    code = "invalid_transition"

    def __init__(self, job_id: str, current: str, requested: str) -> None:
        self.job_id, self.current, self.requested = job_id, current, requested
        super().__init__(f"job {job_id} is {current}; it cannot become {requested}")


class UnknownJobType(LpeError, LookupError):
    code = "unknown_job_type"

    def __init__(self, job_type: str, known: Iterable[str]) -> None:
        self.job_type = job_type
        self.known = sorted(known)
        super().__init__(f"unknown job type {job_type!r}; choose one of: {', '.join(self.known) or '(none)'}")


class JobFailed(LpeError):
    """Raised when the result of a job that ended ``failed`` or ``cancelled`` is asked for."""

    code = "job_failed"

    def __init__(self, job_id: str, status: str, error_message: str | None) -> None:
        self.job_id, self.status, self.error_message = job_id, status, error_message
        super().__init__(f"job {job_id} {status}: {error_message or 'no reason recorded'}")


class DispatcherBusy(LpeError):
    code = "dispatcher_busy"

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        super().__init__(
            f"another job manager is already dispatching jobs from {db_path}; connect to it instead, "
            "or start this manager with dispatch=False to submit and read without running jobs"
        )


class StoreError(LpeError):
    code = "store_error"


class TokenRefused(LpeError):
    """The server answered 401/403: the token is missing, wrong, or lacks the ``lpe`` permission."""

    code = "token_refused"

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"the server at {url} refused the token; pass the server's token to connect(url, token=...) "
            "or set LPE_SERVER_TOKEN (see `jupyter server list`)"
        )


class ServerUnreachable(LpeError):
    """No HTTP answer from the server (connection refused, DNS, timeout)."""

    code = "server_unreachable"

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(
            f"could not reach the lpe-nb server at {url}: {reason}; is it running, and is the URL "
            "(including its base_url) right?"
        )


class LlmError(LpeError):
    code = "llm_error"


class LlmUnavailable(LlmError):
    code = "llm_unavailable"


class LlmBadResponse(LlmError):
    code = "llm_bad_response"
