"""The REST handlers under ``{base_url}lpe/api/``: parse, authorize, call the manager, serialize.

Every method is ``@web.authenticated`` and ``@authorized`` on the ``lpe`` resource. Handlers only raise;
:meth:`LpeApiHandler.write_error` is the one place that turns an error into a status and the JSON body
``LpeError.to_dict()``: ``{"error": code, "message": ..., "fields": {...}, "details": {...}}``, which
the client rebuilds into the same exception. Nothing a client sends produces a 500 or a traceback: bodies and query values are checked here, inputs by the operations' pydantic models.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict
from http.client import responses
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from pydantic import BaseModel
from tornado import web

from lpe_nb._bounded_json import loads_bounded
from lpe_nb._version import __version__
from lpe_nb.errors import (
    AdminOnly,
    BodyTooLarge,
    DispatcherBusy,
    InvalidInput,
    JobNotFound,
    LpeError,
    QuotaExceeded,
    ScheduleNotFound,
    StoreError,
    UnknownJobType,
)
from lpe_nb.jobs import JobManager, JobStatus
from lpe_nb.llm.rate_limit import rate_limit_states
from lpe_nb.operations import JOB_TYPES, JobTypes
from lpe_nb.server_ext.engine import ServerEngine
from lpe_nb.server_ext.metrics import MetricsBody
from lpe_nb.server_ext.openapi import Operation, Route, build_document, handler_methods
from lpe_nb.server_ext.quotas import identity_of
from lpe_nb.server_ext.schemas import (
    JOB_ID_MAX_CHARS,
    JOB_ID_PATTERN,
    MAX_FILTER_CHARS,
    MAX_STATUS_FILTERS,
    SCHEDULE_ID_PATTERN,
    AnalyticsBody,
    AnalyticsQuery,
    CacheClearedBody,
    CacheStatsBody,
    CancelRequest,
    CatalogBody,
    ChainRequest,
    DocumentBody,
    JobBody,
    JobPageBody,
    JobsQuery,
    JobTypesBody,
    JobWithStepsBody,
    PriorityRequest,
    ScheduleBody,
    SchedulePatchRequest,
    ScheduleRequest,
    SchedulesBody,
    ScheduleWithFiresBody,
    StatusBody,
    SubmitRequest,
    SubmittedBody,
    WaitRequest,
    validate_request,
)
from lpe_nb.server_ext.users import Viewer, viewer_of

__all__ = [
    "AUTH_RESOURCE",
    "ENGINE_SETTING",
    "NOT_FOUND_PATTERN",
    "BodyTooLarge",
    "LpeApiHandler",
    "NotFoundHandler",
    "checked_job_id",
    "rest_routes",
    "status_for",
]

AUTH_RESOURCE = "lpe"
ENGINE_SETTING = "lpe_nb_engine"
NOT_FOUND_PATTERN = r"lpe/api/.*"  # registered after every route: the rest of lpe/api/ is a JSON 404
NOT_AUTHENTICATED = (
    "the token is missing or wrong: send the server's token as `Authorization: token <token>` "
    "or `?token=<token>` (see `jupyter server list`)"
)
_CANCEL_WAIT_S = 2.0  # a running job cancelled here ends at its next await: well within this
_JOB_ID = re.compile(JOB_ID_PATTERN)


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
    # A route that covers every user's jobs and is not per user yet: with jobs_per_user, admins only.
    admin_route: str | None = None
    _viewer: Viewer | None = None

    async def prepare(self) -> None:  # type: ignore[override]  # as APIHandler.prepare, which it extends
        await super().prepare()
        if (
            self.admin_route is not None
            and self.current_user is not None
            and not (await self.viewer()).sees_all
        ):
            raise AdminOnly(self.admin_route)

    @property
    def engine(self) -> ServerEngine:
        engine: ServerEngine = self.settings[ENGINE_SETTING]
        return engine

    async def manager(self) -> JobManager:
        return (await self.engine.ready()).manager

    async def viewer(self) -> Viewer:
        """Who asks, and whose jobs they may see (everyone's, or only their own: ``jobs_per_user``)."""
        if self._viewer is None:
            self._viewer = await viewer_of(self, self.engine.config.users)
        return self._viewer

    # -- authentication --------------------------------------------------------------------------------

    def get_login_url(self) -> str:
        """``@web.authenticated`` without a user: an API has no login page, so the JSON 403 that says why."""
        raise web.HTTPError(403, NOT_AUTHENTICATED)

    def check_xsrf_cookie(self) -> None:
        """Jupyter checks the XSRF cookie of a POST before ``@web.authenticated`` runs, so a POST without a
        valid token was refused for "'_xsrf' argument missing": refuse it as a GET is, for the token."""
        if hasattr(self, "_jupyter_current_user") and self._jupyter_current_user is None:
            raise web.HTTPError(403, NOT_AUTHENTICATED)
        super().check_xsrf_cookie()

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
        value = loads_bounded(body, field="(body)")  # at most MAX_JSON_DEPTH levels deep
        if not isinstance(value, dict):
            raise InvalidInput.field("(body)", f"must be a JSON object, not {_json_type(value)}")
        return value

    def query_values(self, name: str) -> list[str]:
        """A query parameter's values (repeated or comma-separated), each at most ``MAX_FILTER_CHARS``."""
        values = [part.strip() for value in self.get_query_arguments(name) for part in value.split(",")]
        if "" in values:  # `status=` is a mistake, not "any status": leave the parameter out for that
            raise InvalidInput.field(name, "has an empty value; leave it out to mean any")
        if len(values) > MAX_STATUS_FILTERS:
            raise InvalidInput.field(name, f"takes at most {MAX_STATUS_FILTERS} values")
        for value in values:
            if len(value) > MAX_FILTER_CHARS:
                raise InvalidInput.field(name, f"must be at most {MAX_FILTER_CHARS} characters")
        return values

    def submit_options(self, body: dict[str, Any]) -> WaitRequest:
        """The submit options (:class:`WaitRequest`'s fields: ``wait``, ``max_attempts``, ``priority``,
        ``run_at``, ``delay_s``, ``cache``) from the body (taken out of it), else from the query, validated
        together in one pass. A query value is checked even when the body has its own, which wins."""
        options = self.query_options()
        options.update({name: body.pop(name) for name in _SUBMIT_OPTIONS if name in body})
        return validate_request(WaitRequest, options) if options else _NO_OPTIONS

    def query_options(self, names: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The submit options given in the query (all of them, or those ``names``), parsed and checked:
        a bad one is refused even if the body gives its own (a request is refused, not half read), and
        each may be given once."""
        if not self.request.query_arguments:  # the common case: nothing to look for
            return {}
        options: dict[str, Any] = {}
        for name in names or _SUBMIT_OPTIONS:
            values = self.get_query_arguments(name)
            if not values:
                continue
            if len(values) > 1:
                raise InvalidInput.field(name, "is given more than once in the query")
            parse = _SUBMIT_OPTIONS[name]
            try:
                options[name] = parse(values[0].strip())
            except ValueError:
                expected = "true or false" if parse is _query_boolean else "a number"
                raise InvalidInput.field(name, f"must be {expected}, not {values[0][:40]!r}") from None
        if options:
            validate_request(WaitRequest, options)
        return options

    def chain(self, body: dict[str, Any]) -> ChainRequest | None:
        """The optional ``depends_on`` and ``inputs_from`` (body only), taken out of the body (docs/chains.md);
        None when neither is given."""
        options = {name: body.pop(name) for name in _CHAIN_OPTIONS if name in body}
        return validate_request(ChainRequest, options) if options else None

    async def submit(
        self,
        job_type: str,
        input_data: dict[str, Any],
        options: WaitRequest | SubmitRequest,
        chain: ChainRequest | SubmitRequest | None = None,
    ) -> None:
        """Submit and answer 202 ``{job_id, status}`` once persisted, or 200 with the job if it finished
        within ``options.wait``. The 202 is built from the id alone: the job was stored ``pending``, so
        its row is not read back."""
        manager, viewer = await self.manager(), await self.viewer()
        identity = viewer.username  # quotas are per Jupyter user (identity_of), and the job is theirs
        keywords: dict[str, Any] = {} if options.cache is None else {"cache": options.cache}
        if chain is not None:  # another user's job is no parent of one's own
            keywords |= {"depends_on": chain.depends_on, "inputs_from": chain.inputs_from}
            keywords["parents_of"] = viewer.only
        job_id = await self.engine.quotas.submit(
            identity,
            lambda: manager.submit(
                job_type,
                input_data,
                max_attempts=options.max_attempts,
                priority=options.priority or 0,
                run_at=options.run_at,
                delay_s=options.delay_s,
                username=identity,
                **keywords,
            ),
        )
        self.engine.remember_type(job_id, job_type)
        self.set_header("Location", f"{self.base_url}lpe/api/jobs/{job_id}")
        if options.wait:
            try:
                await manager.wait(job_id, timeout_s=options.wait)
            except TimeoutError:
                pass
            else:
                job, steps = await manager.get_with_steps(job_id)
                self.send_model(JobWithStepsBody.of_steps(job, steps))
                return
        # SubmittedBody's shape, encoded once
        self.send_json({"job_id": job_id, "status": JobStatus.PENDING.value}, status=202)

    # -- output ----------------------------------------------------------------------------------------

    def send_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, allow_nan=False))

    def send_model(self, body: BaseModel, status: int = 200) -> None:
        """Send a reply model of :mod:`~lpe_nb.server_ext.schemas`, the one the document shows."""
        self.send_json(body.model_dump(mode="json"), status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """The one place errors become responses: ``LpeError.to_dict()`` with its ``http_status``, and the
        same shape for Tornado's errors and unexpected ones (``internal_error``), never a traceback."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        body: dict[str, Any]
        if isinstance(error, LpeError):
            status_code = error.http_status
            body = error.to_dict()
            if isinstance(error, QuotaExceeded):
                self.set_header("Retry-After", str(math.ceil(error.retry_after_s)))
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
        if status_code == 405:  # RFC 9110: a 405 names the methods the resource has
            self.set_header("Allow", ", ".join(sorted(m.upper() for m in handler_methods(type(self)))))
        self.set_header("Content-Type", "application/json")
        # default=str: a detail that is not JSON (a Path, say) still goes out, as text
        self.finish(json.dumps(body, default=str))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # A client's mistake is not a server error: log it in one line, without a traceback.
        if isinstance(value, LpeError) and status_for(value) < 500:
            self.log.info("%s %s: %s", self.request.method, self.request.path, value)
            return
        if isinstance(value, (StoreError, DispatcherBusy)):
            # The database: said once at start, and in full to the client; the access log has the 503.
            self.log.debug("%s %s: %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)


def _query_boolean(text: str) -> bool:
    """``true`` or ``false`` (``1``, ``0``) in a query string."""
    lowered = text.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(text)


# WaitRequest's fields, and how each is read from a query string
_SUBMIT_OPTIONS: dict[str, Callable[[str], Any]] = {
    "wait": float,
    "max_attempts": int,
    "priority": int,
    "run_at": str,
    "delay_s": float,
    "cache": _query_boolean,
}
_CHAIN_OPTIONS = ("depends_on", "inputs_from")
_NO_OPTIONS = WaitRequest()


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


class JobsHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Jobs newest first: ``status`` (repeatable or comma-separated), ``type``, ``limit``, ``cursor``."""
        raw: dict[str, Any] = {"status": self.query_values("status")}
        for name in ("type", "limit", "cursor"):
            value = self.get_query_argument(name, None)
            if value is not None:
                raw[name] = value[: MAX_FILTER_CHARS + 1]  # the model names the limit; no need to copy more
        query = validate_request(JobsQuery, raw)
        manager = await self.manager()
        if query.type is not None and query.type not in manager.registry:
            raise UnknownJobType(query.type, manager.registry.job_types)
        page = await manager.list_jobs(
            status=query.status or None,
            job_type=query.type,
            limit=query.limit,
            cursor=query.cursor,
            username=(await self.viewer()).only,
        )
        self.send_json(JobPageBody.wire(page.jobs, page.next_cursor))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Submit a job of any type: ``{"type": ..., "input": {...}, "wait": seconds}``."""
        body = self.json_object()
        for name, value in self.query_options().items():  # checked even when the body's own wins
            body.setdefault(name, value)
        request = validate_request(SubmitRequest, body)
        chained = request.depends_on is not None or request.inputs_from is not None
        await self.submit(request.type, request.input, request, request if chained else None)


class JobHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        manager, viewer = await self.manager(), await self.viewer()
        job, steps = await manager.get_with_steps(checked_job_id(job_id), username=viewer.only)
        self.send_model(JobWithStepsBody.of_steps(job, steps))

    @web.authenticated
    @authorized
    async def patch(self, job_id: str) -> None:
        """Change a pending job's ``priority``: 200 with the job; 409 once it is not pending."""
        job_id = checked_job_id(job_id)
        request = validate_request(PriorityRequest, self.json_object())
        manager, viewer = await self.manager(), await self.viewer()
        self.send_model(
            JobBody.of(await manager.set_priority(job_id, request.priority, username=viewer.only))
        )

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        manager, viewer = await self.manager(), await self.viewer()
        await manager.delete(checked_job_id(job_id), username=viewer.only)
        self.set_status(204)
        self.finish()


class CancelHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        """Cancel; then wait up to ``wait`` seconds (default 2) for a running job to end. 200 with the job
        once it has ended, else 202 with it still running and ``cancel_requested`` true (it ends
        ``cancelled`` at its next await; if another process runs it, that one sees the request within ~0.15 s)."""
        job_id = checked_job_id(job_id)
        body = self.json_object(required=False)
        for name, value in self.query_options(("wait",)).items():  # checked even if the body has one
            body.setdefault(name, value)
        wait_s = validate_request(CancelRequest, body).wait
        manager, viewer = await self.manager(), await self.viewer()
        job = await manager.cancel(job_id, username=viewer.only)
        wait_s = _CANCEL_WAIT_S if wait_s is None else wait_s
        if not job.is_terminal and wait_s > 0:
            with contextlib.suppress(TimeoutError):
                job = await manager.wait(job_id, timeout_s=wait_s)
        self.send_model(JobBody.of(job), status=200 if job.is_terminal else 202)


def checked_job_id(job_id: str) -> str:
    """``job_id`` if it can name a job; else :class:`JobNotFound` for the id cut short, so that a huge or
    odd id is never echoed back whole."""
    if len(job_id) <= JOB_ID_MAX_CHARS and _JOB_ID.match(job_id):
        return job_id
    raise JobNotFound(job_id[:16] + "...")


class NotFoundHandler(LpeApiHandler):
    """Any other path under ``lpe/api/``, any method: a JSON 404 once authenticated (a 403 before)."""

    async def prepare(self) -> None:  # type: ignore[override]  # as APIHandler.prepare, which it extends
        await super().prepare()
        if self.current_user is None:
            raise web.HTTPError(403, NOT_AUTHENTICATED)
        path = self.request.path if len(self.request.path) <= 80 else self.request.path[:80] + "..."
        raise web.HTTPError(404, "no such API route: %s; the routes are listed in lpe/api/openapi.json", path)


class CreateJobHandler(LpeApiHandler):
    """Submit a job of the route's type: the body is its input (plus an optional ``wait``)."""

    job_type: str

    def initialize(self, job_type: str) -> None:
        self.job_type = job_type

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_object()
        options = self.submit_options(body)
        await self.submit(self.job_type, body, options, self.chain(body))


class JobTypesHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        engine = await self.engine.ready()
        self.send_model(
            JobTypesBody.model_validate({"job_types": [info.to_dict() for info in engine.infos()]})
        )


class CatalogHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        engine, viewer = await self.engine.ready(), await self.viewer()
        listing = await engine.catalog.listing(username=viewer.only)  # every process's entries
        self.send_model(CatalogBody.model_validate(listing))


class CatalogEntryHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def delete(self, kind: str, name: str) -> None:
        engine, viewer = await self.engine.ready(), await self.viewer()
        # the catalog checks the kind; another user's entry is refused as one that does not exist
        await engine.catalog.remove(kind, name, username=viewer.only)  # type: ignore[arg-type]
        self.set_status(204)
        self.finish()


class AnalyticsHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Aggregates over the jobs created from ``since`` to ``until``, grouped by ``group_by``."""
        raw: dict[str, Any] = {"group_by": self.query_values("group_by")}
        for name in ("since", "until"):
            value = self.get_query_argument(name, None)
            if value is not None:
                raw[name] = value[: MAX_FILTER_CHARS + 1]  # the model names the problem; no need to copy more
        query = validate_request(AnalyticsQuery, raw)
        manager = await self.manager()
        report = await manager.analytics(
            since=query.since, until=query.until, group_by=query.group_by, username=(await self.viewer()).only
        )
        self.send_model(AnalyticsBody.model_validate(report.to_dict()))


class CacheHandler(LpeApiHandler):
    admin_route = "lpe/api/cache"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """What the LLM result cache holds, and its bounds."""
        manager = await self.manager()
        self.send_model(CacheStatsBody.model_validate((await manager.cache.stats()).to_dict()))

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        """Empty the LLM result cache; 200 with how many entries it had."""
        manager = await self.manager()
        self.send_model(CacheClearedBody(deleted=await manager.cache.clear()))


class StatusHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        engine = await self.engine.ready()
        manager, llm = engine.manager, engine.llm
        viewer = await self.viewer()
        counts = await manager.counts(username=viewer.only)  # a user's own jobs, unless they see all
        stale_before = manager.stale_before()
        workers = [{**asdict(w), "stale": w.is_stale(stale_before)} for w in await manager.workers()]
        self.send_model(
            StatusBody.model_validate(
                {
                    "version": __version__,
                    "llm": {"provider": llm.provider, "model": llm.model, "is_mock": llm.provider == "mock"},
                    "counts": {status.value: counts.get(status, 0) for status in JobStatus},
                    "running": len(manager.running_job_ids),
                    "dispatching": manager.is_dispatching,
                    "job_types": manager.registry.job_types,
                    "workers": workers,
                    "quotas": self.engine.quotas.usage(identity_of(self)),
                    "user": viewer.to_dict(),
                    "rate_limits": rate_limit_states(),
                }
            )
        )


class MetricsHandler(LpeApiHandler):
    admin_route = "lpe/api/metrics"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        manager = await self.manager()
        self.send_model(MetricsBody.model_validate(await manager.metrics()))


class OpenApiHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        manager = await self.manager()
        models = {op.job_type: op.input_model for op in manager.registry}
        document = build_document(rest_routes(), models, version=__version__)
        self.send_model(DocumentBody.model_validate(document))


class SchedulesHandler(LpeApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Every recurring schedule the viewer may see (with jobs_per_user, their own), oldest first."""
        viewer = await self.viewer()
        schedules = await (await self.manager()).schedules.list(username=viewer.only)
        self.send_model(SchedulesBody(schedules=[ScheduleBody.of(schedule) for schedule in schedules]))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Create a schedule, the viewer's: 201 with it (its URL in ``Location``); 400 naming the field."""
        request = validate_request(ScheduleRequest, self.json_object())
        viewer = await self.viewer()
        schedule = await (await self.manager()).schedules.create(
            request.job_type,
            request.input,
            cron=request.cron,
            interval_s=request.interval_s,
            timezone=request.timezone,
            catch_up=request.catch_up,
            title=request.title,
            priority=request.priority or 0,
            max_attempts=request.max_attempts,
            username=viewer.username,
        )
        self.set_header("Location", f"{self.base_url}lpe/api/schedules/{schedule.id}")
        self.send_model(ScheduleBody.of(schedule), status=201)


class ScheduleHandler(LpeApiHandler):
    # With jobs_per_user another user's schedule is a 404 schedule_not_found, as a job is.

    @web.authenticated
    @authorized
    async def get(self, schedule_id: str) -> None:
        schedules, viewer = (await self.manager()).schedules, await self.viewer()
        schedule = await schedules.get(checked_schedule_id(schedule_id), username=viewer.only)
        fires = await schedules.fires(schedule.id, limit=_RECENT_FIRES)
        self.send_model(
            ScheduleWithFiresBody.model_validate(
                {**schedule.to_dict(), "recent_fires": [fire.to_dict() for fire in fires]}
            )
        )

    @web.authenticated
    @authorized
    async def patch(self, schedule_id: str) -> None:
        """``{paused: true}`` pauses it, ``{paused: false}`` resumes it: 200 with the schedule."""
        schedule_id = checked_schedule_id(schedule_id)
        request = validate_request(SchedulePatchRequest, self.json_object())
        schedules, viewer = (await self.manager()).schedules, await self.viewer()
        change = schedules.pause if request.paused else schedules.resume
        self.send_model(ScheduleBody.of(await change(schedule_id, username=viewer.only)))

    @web.authenticated
    @authorized
    async def delete(self, schedule_id: str) -> None:
        viewer = await self.viewer()
        await (await self.manager()).schedules.delete(checked_schedule_id(schedule_id), username=viewer.only)
        self.set_status(204)
        self.finish()


_RECENT_FIRES = 20
_SCHEDULE_ID = re.compile(SCHEDULE_ID_PATTERN)


def checked_schedule_id(schedule_id: str) -> str:
    """``schedule_id`` if it can name a schedule; else :class:`ScheduleNotFound` for the id cut short."""
    if _SCHEDULE_ID.match(schedule_id):
        return schedule_id
    raise ScheduleNotFound(schedule_id[:16] + "...")


_SUBMIT_ERRORS = (400, 403, 413, 429, 503)


def rest_routes(job_types: JobTypes = JOB_TYPES) -> list[Route]:
    """Every REST route of the extension: the fixed ones, then one submit route per declared job type.

    Each operation lists every status it can answer; :func:`build_document` turns the table into the
    OpenAPI document, and the app registers the same table.
    """
    submitted: dict[int, type[BaseModel] | None] = {200: JobWithStepsBody, 202: SubmittedBody}
    return [
        Route(
            "lpe/api/jobs",
            JobsHandler,
            {
                "get": Operation(
                    "List jobs, newest first",
                    {200: JobPageBody},
                    (400, 403, 503),
                    query=JobsQuery,
                    job_type_params=("type",),
                ),
                "post": Operation(
                    "Submit a job of any type: {type, input, wait, max_attempts, priority, run_at, delay_s, depends_on, "
                    "inputs_from}",
                    submitted,
                    _SUBMIT_ERRORS,
                    body=SubmitRequest,
                    query=WaitRequest,
                    description="`wait`, `max_attempts`, `priority`, `run_at` and `delay_s` may be given in "
                    "the body or the query (the body wins). A higher `priority` starts first, equal ones "
                    "oldest first. With `run_at` or `delay_s` the job waits `pending`, its `scheduled_at` "
                    "set, until then, and can be cancelled meanwhile."
                    " With `depends_on` (job ids, in the body) the job waits `pending` (`waiting_on` counts the "
                    "parents not completed yet) and is cancelled if one fails or is cancelled; "
                    "`inputs_from` ({field: '<job id>.<result path>'}) and the type's declared mappings "
                    "fill input fields from a parent's result when it starts (docs/chains.md).",
                ),
            },
        ),
        Route(
            "lpe/api/jobs/{job_id}",
            JobHandler,
            {
                "get": Operation("A job with its steps", {200: JobWithStepsBody}, (403, 404, 503)),
                "patch": Operation(
                    "Change a pending job's priority",
                    {200: JobBody},
                    (400, 403, 404, 409, 413, 503),
                    body=PriorityRequest,
                    description="`{priority}`: the job's place in the queue follows at once (higher "
                    "first, equal ones oldest first). A job that is no longer pending is 409.",
                ),
                "delete": Operation("Delete a finished job", {204: None}, (403, 404, 409, 503)),
            },
        ),
        Route(
            "lpe/api/jobs/{job_id}/cancel",
            CancelHandler,
            {
                "post": Operation(
                    "Cancel a pending or running job",
                    {200: JobBody, 202: JobBody},
                    (400, 403, 404, 409, 413, 503),
                    body=CancelRequest,
                    body_required=False,
                    query=CancelRequest,
                    description=(
                        "A pending job is cancelled at once (200). A running one is told to stop, and the "
                        "server waits up to `wait` seconds (default 2) for it to end: 200 with the job "
                        "`cancelled` if it did, else 202 with it still `running` and `cancel_requested` "
                        "true; it ends `cancelled` at its next await. A finished job is 409."
                    ),
                )
            },
        ),
        *(
            Route(
                f"lpe/api/{spec.rest_path}",
                CreateJobHandler,
                {
                    "post": Operation(
                        spec.summary or f"Start a {spec.name} job",
                        submitted,
                        _SUBMIT_ERRORS,
                        query=WaitRequest,
                        description=(spec.description + " " if spec.description else "")
                        + "The body is the job's input; `wait`, `max_attempts`, `priority`, `run_at` and "
                        + "`delay_s` may be given in it or in the query; `depends_on` and `inputs_from` "
                        + "in it (docs/chains.md).",
                    )
                },
                job_type=spec.name,
            )
            for spec in job_types
        ),
        Route(
            "lpe/api/schedules",
            SchedulesHandler,
            {
                "get": Operation(
                    "List the recurring schedules with their next fire times",
                    {200: SchedulesBody},
                    (403, 503),
                ),
                "post": Operation(
                    "Create a recurring schedule: {job_type, input, cron | interval_s, timezone, catch_up}",
                    {201: ScheduleBody},
                    (400, 403, 413, 503),
                    body=ScheduleRequest,
                    description="The input is checked against the job type's, as at submit. Each slot (a "
                    "match of `cron` in `timezone`, or every `interval_s` seconds from now) submits one job, "
                    "once: its description names the schedule and the slot. After downtime `catch_up` "
                    "`skip` fires none of the slots that passed, `once` fires the latest of them once.",
                ),
            },
        ),
        Route(
            "lpe/api/schedules/{schedule_id}",
            ScheduleHandler,
            {
                "get": Operation(
                    "A recurring schedule with its latest fires",
                    {200: ScheduleWithFiresBody},
                    (403, 404, 503),
                ),
                "patch": Operation(
                    "Pause or resume a recurring schedule",
                    {200: ScheduleBody},
                    (400, 403, 404, 413, 503),
                    body=SchedulePatchRequest,
                ),
                "delete": Operation(
                    "Delete a recurring schedule (the jobs it created stay)", {204: None}, (403, 404, 503)
                ),
            },
        ),
        Route(
            "lpe/api/job-types",
            JobTypesHandler,
            {"get": Operation("The job types and their input fields", {200: JobTypesBody}, (403, 503))},
        ),
        Route(
            "lpe/api/catalog",
            CatalogHandler,
            {"get": Operation("Personas, namespaces, styles and languages", {200: CatalogBody}, (403, 503))},
        ),
        Route(
            "lpe/api/analytics",
            AnalyticsHandler,
            {
                "get": Operation(
                    "Aggregates over a time range: counts, success rate, durations, tokens, cost, cache hits",
                    {200: AnalyticsBody},
                    (400, 403, 503),
                    query=AnalyticsQuery,
                    description="Over the jobs created from `since` (inclusive; default 30 days before "
                    "`until`) to `until` (exclusive; default now), grouped by any of `day` (UTC), `type`, "
                    "`model`, `status`, with the totals. See docs/cost-and-analytics.md.",
                )
            },
        ),
        Route(
            "lpe/api/cache",
            CacheHandler,
            {
                "get": Operation(
                    "What the LLM result cache holds, and its bounds",
                    {200: CacheStatsBody},
                    (403, 503),
                    description="Entries, their stored size, the hits they answered, the oldest and newest, "
                    "and the bounds in force. See docs/caching.md.",
                ),
                "delete": Operation(
                    "Empty the LLM result cache",
                    {200: CacheClearedBody},
                    (403, 503),
                    description="Every later LLM call is made anew until its reply is cached again. Jobs "
                    "and their results are untouched.",
                ),
            },
        ),
        Route(
            "lpe/api/status",
            StatusHandler,
            {"get": Operation("Version, LLM and queue counts", {200: StatusBody}, (403, 503))},
        ),
        Route(
            "lpe/api/metrics",
            MetricsHandler,
            {
                "get": Operation(
                    "This server's job and LLM figures",
                    {200: MetricsBody},
                    (403, 503),
                    description="The figures the server's Prometheus endpoint `/metrics` serves as `lpe_*` "
                    "metrics, as JSON: jobs submitted, finished, retried and their durations per type, "
                    "LLM requests, errors, retries, latency, tokens and cost per model, since the server "
                    "started; and the database's pending and running jobs, read now (docs/metrics.md).",
                )
            },
        ),
        Route(
            "lpe/api/openapi.json",
            OpenApiHandler,
            {"get": Operation("This document", {200: DocumentBody}, (403, 503))},
        ),
        Route(
            "lpe/api/catalog/{kind}/{name}",
            CatalogEntryHandler,
            {
                "delete": Operation(
                    "Delete a persona, namespace or style you added (built-in ones stay)",
                    {204: None},
                    (400, 403, 503),
                )
            },
        ),
    ]
