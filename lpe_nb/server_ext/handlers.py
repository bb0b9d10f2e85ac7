"""The REST handlers under ``{base_url}lpe/api/``: parse, authorize, call the manager, serialize.

Every method is ``@web.authenticated`` and ``@authorized`` on the ``lpe`` resource. Handlers only raise;
:meth:`LpeApiHandler.write_error` is the one place that turns an error into a status and the JSON body
``LpeError.to_dict()``: ``{"error": code, "message": ..., "fields": {...}, "details": {...}}``, which
the client rebuilds into the same exception. Nothing a client sends produces a 500 or a traceback: bodies and query values are checked here, inputs by the operations' pydantic models.
"""

from __future__ import annotations

import json
import math
from http.client import responses
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from lpe_nb._version import __version__
from lpe_nb.errors import BodyTooLarge, InvalidInput, LpeError
from lpe_nb.jobs import JobManager, JobRecord, JobStatus, StepRecord
from lpe_nb.operations import JOB_TYPES, JobTypes
from lpe_nb.server_ext.engine import ServerEngine
from lpe_nb.server_ext.openapi import MAX_WAIT_S, Route, build_document

__all__ = ["AUTH_RESOURCE", "ENGINE_SETTING", "BodyTooLarge", "LpeApiHandler", "rest_routes", "status_for"]

AUTH_RESOURCE = "lpe"
ENGINE_SETTING = "lpe_nb_engine"
_MAX_FILTER_CHARS = 100


_CODE_BY_STATUS = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


def status_for(error: BaseException) -> int:
    """The HTTP status an error maps to: its ``http_status`` for ours, 500 for anything unexpected."""
    if isinstance(error, web.HTTPError):
        return error.status_code
    if isinstance(error, LpeError):
        return error.http_status
    return 500


class LpeApiHandler(APIHandler):
    """Base of the REST handlers: the engine, body and query parsing, and the JSON error shape."""

    auth_resource = AUTH_RESOURCE

    @property
    def engine(self) -> ServerEngine:
        engine: ServerEngine = self.settings[ENGINE_SETTING]
        return engine

    async def manager(self) -> JobManager:
        return (await self.engine.ready()).manager

    # -- input -----------------------------------------------------------------------------------------

    def json_object(self, *, required: bool = True) -> dict[str, Any]:
        """The body as a JSON object; raises :class:`InvalidInput` on ``(body)`` or :class:`BodyTooLarge`."""
        body = self.request.body or b""
        limit = self.engine.config.max_body_bytes
        if len(body) > limit:
            raise BodyTooLarge(len(body), limit)
        if not body.strip():
            if required:
                raise InvalidInput.field("(body)", "is empty; send a JSON object")
            return {}
        try:
            value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError:
            raise InvalidInput.field("(body)", "is not UTF-8 text") from None
        except ValueError as exc:
            raise InvalidInput.field("(body)", f"is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise InvalidInput.field("(body)", f"must be a JSON object, not {_json_type(value)}")
        return value

    def query_str(self, name: str) -> str | None:
        value = self.get_query_argument(name, None)
        if value is not None and len(value) > _MAX_FILTER_CHARS:
            raise InvalidInput.field(name, f"must be at most {_MAX_FILTER_CHARS} characters")
        return value

    def wait_seconds(self, body: dict[str, Any]) -> float | None:
        """The optional ``wait`` (seconds, 0..60), from the body (taken out of it) or the query."""
        raw: Any = body.pop("wait") if "wait" in body else self.get_query_argument("wait", None)
        if raw is None:
            return None
        if isinstance(raw, str):
            try:
                raw = float(raw)
            except ValueError:
                raise InvalidInput.field("wait", f"must be a number of seconds, not {raw[:40]!r}") from None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            raise InvalidInput.field("wait", "must be a number of seconds")
        if not 0 <= raw <= MAX_WAIT_S:
            raise InvalidInput.field("wait", f"must be from 0 to {MAX_WAIT_S:g} seconds")
        return float(raw)

    async def submit(self, job_type: str, input_data: dict[str, Any], wait_s: float | None) -> None:
        """Submit and answer 202 ``{job_id, status}`` once persisted, or 200 with the job if it finished
        within ``wait_s``."""
        manager = await self.manager()
        job_id = await manager.submit(job_type, input_data)
        self.engine.remember_type(job_id, job_type)
        self.set_header("Location", f"{self.base_url}lpe/api/jobs/{job_id}")
        if wait_s:
            try:
                await manager.wait(job_id, timeout_s=wait_s)
            except TimeoutError:
                pass
            else:
                job, steps = await manager.get_with_steps(job_id)
                self.send_json(job_body(job, steps))
                return
        job = await manager.get(job_id)
        self.send_json({"job_id": job_id, "status": job.status.value}, status=202)

    # -- output ----------------------------------------------------------------------------------------

    def send_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, allow_nan=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """The one place errors become responses: ``LpeError.to_dict()`` with its ``http_status``, and the
        same shape for Tornado's errors and unexpected ones (``internal_error``), never a traceback."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        body: dict[str, Any]
        if isinstance(error, LpeError):
            status_code = error.http_status
            body = error.to_dict()
        elif isinstance(error, web.HTTPError):
            message = (
                error.log_message % error.args if error.log_message and error.args else error.log_message
            )
            body = {
                "error": _CODE_BY_STATUS.get(status_code, "http_error"),
                "message": message or responses.get(status_code, "error"),
                "fields": {},
                "details": {},
            }
        else:
            body = {
                "error": "internal_error",
                "message": "the server failed; see its log",
                "fields": {},
                "details": {},
            }
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json")
        # default=str: a detail that is not JSON (a Path, say) still goes out, as text
        self.finish(json.dumps(body, default=str))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # A client's mistake is not a server error: log it in one line, without a traceback.
        if isinstance(value, LpeError) and status_for(value) < 500:
            self.log.info("%s %s: %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def job_body(job: JobRecord, steps: list[StepRecord] | None = None) -> dict[str, Any]:
    data = job.to_dict()
    if steps is not None:
        data["steps"] = [step.to_dict() for step in steps]
    return data


class JobsHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Jobs newest first: ``status`` (repeatable or comma-separated), ``type``, ``limit``, ``cursor``."""
        statuses = [s for value in self.get_query_arguments("status") for s in value.split(",") if s]
        raw_limit = self.get_query_argument("limit", "50")
        try:
            limit = int(raw_limit)
        except ValueError:
            raise InvalidInput.field("limit", f"must be a whole number, not {raw_limit[:40]!r}") from None
        page = await (await self.manager()).list_jobs(
            status=statuses or None,
            job_type=self.query_str("type"),
            limit=limit,
            cursor=self.query_str("cursor"),
        )
        self.send_json({"jobs": [job_body(job) for job in page.jobs], "next_cursor": page.next_cursor})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Submit a job of any type: ``{"type": ..., "input": {...}, "wait": seconds}``."""
        body = self.json_object()
        job_type = body.pop("type", None)
        if not isinstance(job_type, str) or not job_type:
            raise InvalidInput.field("type", "is required: the job type's name (see GET lpe/api/job-types)")
        input_data = body.pop("input", {})
        if not isinstance(input_data, dict):
            raise InvalidInput.field("input", "must be a JSON object of the job type's fields")
        wait_s = self.wait_seconds(body)
        if body:
            raise InvalidInput(dict.fromkeys(body, "is not a submit option (put job fields in input)"))
        await self.submit(job_type, input_data, wait_s)


class JobHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        job, steps = await (await self.manager()).get_with_steps(job_id)
        self.send_json(job_body(job, steps))

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        await (await self.manager()).delete(job_id)
        self.set_status(204)
        self.finish()


class CancelHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        job = await (await self.manager()).cancel(job_id)
        self.send_json(job_body(job))


class CreateJobHandler(LpeApiHandler):
    """Submit a job of the route's type: the body is its input (plus an optional ``wait``)."""

    job_type: str

    def initialize(self, job_type: str) -> None:
        self.job_type = job_type

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_object()
        wait_s = self.wait_seconds(body)
        await self.submit(self.job_type, body, wait_s)


class JobTypesHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        engine = await self.engine.ready()
        self.send_json({"job_types": [info.to_dict() for info in engine.infos()]})


class CatalogHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        engine = await self.engine.ready()
        self.send_json(engine.catalog.describe())


class StatusHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        engine = await self.engine.ready()
        manager, llm = engine.manager, engine.llm
        counts = await manager.counts()
        self.send_json(
            {
                "version": __version__,
                "llm": {"provider": llm.provider, "model": llm.model, "is_mock": llm.provider == "mock"},
                "counts": {status.value: counts.get(status, 0) for status in JobStatus},
                "running": len(manager.running_job_ids),
                "job_types": manager.registry.job_types,
            }
        )


class OpenApiHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        manager = await self.manager()
        models = {op.job_type: op.input_model for op in manager.registry if op.input_model is not None}
        self.send_json(build_document(rest_routes(), models, version=__version__))


def rest_routes(job_types: JobTypes = JOB_TYPES) -> list[Route]:
    """Every REST route of the extension: the fixed ones, then one submit route per declared job type."""
    wait = {"wait": f"seconds (0..{MAX_WAIT_S:g}) to wait for the job to finish and return it with 200"}
    return [
        Route(
            "lpe/api/jobs",
            JobsHandler,
            {"get": "List jobs, newest first", "post": "Submit a job of any type: {type, input, wait}"},
            query={
                "status": "only these statuses (repeat or comma-separate)",
                "type": "only this job type",
                "limit": "page size, 1..500 (default 50)",
                "cursor": "next_cursor of the previous page",
            },
        ),
        Route(
            "lpe/api/jobs/{job_id}",
            JobHandler,
            {"get": "A job with its steps", "delete": "Delete a finished job"},
        ),
        Route("lpe/api/jobs/{job_id}/cancel", CancelHandler, {"post": "Cancel a pending or running job"}),
        *(
            Route(
                f"lpe/api/{spec.rest_path}",
                CreateJobHandler,
                {"post": spec.summary or f"Start a {spec.name} job"},
                job_type=spec.name,
                query=wait,
            )
            for spec in job_types
        ),
        Route("lpe/api/job-types", JobTypesHandler, {"get": "The job types and their input fields"}),
        Route("lpe/api/catalog", CatalogHandler, {"get": "Personas, namespaces, styles and languages"}),
        Route("lpe/api/status", StatusHandler, {"get": "Version, LLM and queue counts"}),
        Route("lpe/api/openapi.json", OpenApiHandler, {"get": "This document"}),
    ]
