"""The ``lpe_nb`` Jupyter server extension: configuration, routes and the job engine's lifecycle.

Configure it like any Jupyter app, e.g. in ``jupyter_server_config.py``::

    c.LpeExtensionApp.db_path = "/data/lpe/jobs.db"
    c.LpeExtensionApp.llm_base_url = "http://localhost:11434/v1"

or on the command line (``--LpeExtensionApp.concurrency=4``). LLM settings left unset fall back to the
``LPE_LLM_*`` environment variables (see :mod:`lpe_nb.llm.config`); the API key is read from the
environment only, so it never lands in a config file.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Enum, Float, Int, List, Unicode

from lpe_nb._heap import freeze_start_up_heap
from lpe_nb._server_file import read_note, remove_note, write_note
from lpe_nb.embedded import DB_URL_ENV
from lpe_nb.errors import InvalidInput, LpeError
from lpe_nb.jobs import DispatchMode, ManagerSettings, default_db_path
from lpe_nb.jobs.settings import CacheSettings
from lpe_nb.llm import LlmSettings
from lpe_nb.llm.pricing import parse_price_rules
from lpe_nb.metrics.prometheus import register_prometheus
from lpe_nb.operations import load_job_modules
from lpe_nb.server_ext.engine import EngineConfig, ServerEngine
from lpe_nb.server_ext.handlers import ENGINE_SETTING, NOT_FOUND_PATTERN, NotFoundHandler, rest_routes
from lpe_nb.server_ext.metrics import METRICS_PATH, PrometheusScrapeHandler
from lpe_nb.server_ext.quotas import QuotaSettings
from lpe_nb.server_ext.users import UserSettings
from lpe_nb.server_ext.ws import WS_PATH, JobsWebSocket

__all__ = [
    "ACTIVITY_SETTING",
    "LIFECYCLE_SCHEMA_ID",
    "SERVER_TOKEN_ENV",
    "SERVER_URL_ENV",
    "LpeExtensionApp",
]

LIFECYCLE_SCHEMA_ID = "https://lpe-nb.org/events/job-lifecycle"
LIFECYCLE_SCHEMA_PATH = Path(__file__).parent / "events" / "job-lifecycle.yaml"
SERVER_URL_ENV = "LPE_SERVER_URL"  # exported for the kernels this server starts
SERVER_TOKEN_ENV = "LPE_SERVER_TOKEN"
ACTIVITY_SETTING = "lpe_last_activity"  # ServerApp.last_activity() reads every *_last_activity setting
_DISPATCH_MODES: dict[str, DispatchMode] = {"auto": "auto", "always": True, "never": False}


log = logging.getLogger(__name__)  # the server's handlers and level once started (_log_to_server)


class LpeExtensionApp(ExtensionApp):
    """Hosts the job manager in the Jupyter server and serves its REST API and WebSocket."""

    name = "lpe_nb"
    description = "Asynchronous, durable jobs for long-running LLM work"
    load_other_extensions = True

    db_path = Unicode("", help="SQLite file of jobs and the user catalog (default ~/.lpe/jobs.db).").tag(
        config=True
    )
    db_url = Unicode(
        "",
        help="The job database as a URL, over db_path: postgresql://user@host/db for one database shared by "
        "many servers and workers (the postgres extra; docs/deployment.md), or sqlite:///path "
        "(default $LPE_DB_URL). The user catalog is there too.",
    ).tag(config=True)
    synchronous = Enum(
        ["NORMAL", "FULL"], "NORMAL", help="SQLite synchronous mode: FULL also survives a power cut."
    ).tag(config=True)
    concurrency = Int(8, help="Jobs running at once.").tag(config=True)
    retention_days = Float(
        30.0, allow_none=True, help="Delete finished jobs after this many days (None keeps them)."
    ).tag(config=True)
    shutdown_grace_s = Float(
        3.0, help="Seconds running jobs get to reach a step boundary at shutdown before being requeued."
    ).tag(config=True)
    max_body_bytes = Int(1_000_000, help="Largest request body accepted (413 above).").tag(config=True)
    activity_interval_s = Float(
        30.0, help="How often running jobs mark the server active, so idle culling spares it."
    ).tag(config=True)
    ws_send_timeout_s = Float(
        10.0,
        help="A WebSocket client whose socket takes no byte for this many seconds while the server has "
        "frames for it is dropped (1008).",
    ).tag(config=True)
    max_pending_jobs_per_user = Int(
        10_000,
        help="Jobs one user may have waiting to start; more submissions get 429 with Retry-After "
        "(0: no limit).",
    ).tag(config=True)
    max_submits_per_minute_per_user = Int(
        30_000, help="Jobs one user may submit in any 60 s; more get 429 with Retry-After (0: no limit)."
    ).tag(config=True)
    ws_max_unsent_bytes = Int(
        1024 * 1024,
        help="Bytes a WebSocket client may fall behind before it is dropped (1008): once its socket is "
        "full, what waits for it plus every frame published for it since, superseded progress included "
        "(the kernel's socket buffer, capped at 64 KiB, comes on top).",
    ).tag(config=True)
    ws_max_queued_events = Int(
        256, help="Status events a WebSocket client may fall behind before it is dropped (1008)."
    ).tag(config=True)

    dispatch = Enum(
        ["auto", "always", "never"],
        "auto",
        help="Whether this server runs the database's jobs: 'auto' when no other process does (else it serves "
        "every route as a peer and takes over when that process exits), 'always' (503 dispatcher_busy while "
        "another process does), 'never' (submit, read, cancel and watch only).",
    ).tag(config=True)

    gc_freeze = Bool(
        True,
        help="Once started, move the objects the server holds then (Jupyter's, its extensions', their "
        "modules') out of the garbage collector's full passes (gc.freeze, once per process): a full pass "
        "then scans only what was made since, instead of pausing the server's loop 0.1-0.3 s every few "
        "thousand submissions. What was frozen is never collected as a cycle: set False to keep the "
        "default collector.",
    ).tag(config=True)

    jobs_per_user = Bool(
        False,
        help="Each user lists, reads, cancels, deletes and watches only the jobs they submitted, and sees "
        "only the catalog entries they made (a database shared by many users, e.g. on a JupyterHub); "
        "another user's job is a 404. Off: everyone who can use this server sees every job.",
    ).tag(config=True)
    admin_users = List(
        Unicode(),
        help="User names that see and act on every user's jobs and catalog entries when jobs_per_user is on.",
    ).tag(config=True)
    authorizer_admins = Bool(
        False,
        help="With jobs_per_user: also treat as an admin whoever the server's authorizer allows the "
        "request's action (read, write) on the resource 'lpe_admin'. Only for a granular authorizer "
        "(e.g. JupyterHub custom scopes): the default one and JupyterHub's allow everything to everyone.",
    ).tag(config=True)

    job_modules = List(
        Unicode(),
        help="Modules to import that declare job types (besides $LPE_JOB_MODULES and the "
        "lpe_nb.job_types entry points), e.g. ['mylab.jobs'].",
    ).tag(config=True)

    llm_provider = Enum(["auto", "openai", "mock"], None, allow_none=True, help="LLM provider.").tag(
        config=True
    )
    llm_model = Unicode(None, allow_none=True, help="Model name sent to the endpoint.").tag(config=True)
    llm_base_url = Unicode(None, allow_none=True, help="OpenAI-compatible base URL (…/v1).").tag(config=True)
    llm_timeout_s = Float(None, allow_none=True, help="Seconds per LLM HTTP attempt.").tag(config=True)
    llm_concurrency = Int(None, allow_none=True, help="LLM calls in flight at once.").tag(config=True)
    mock_latency_s = Float(None, allow_none=True, help="Simulated seconds per mock LLM call.").tag(
        config=True
    )
    llm_cache = Bool(
        None,
        allow_none=True,
        help="Answer an LLM call identical to an earlier one from the result cache, at no cost "
        "($LPE_LLM_CACHE, else on; docs/caching.md).",
    ).tag(config=True)
    llm_cache_max_age_days = Float(
        None,
        allow_none=True,
        help="A cached reply older than this is never served ($LPE_LLM_CACHE_MAX_AGE_DAYS, else 30).",
    ).tag(config=True)
    llm_cache_max_entries = Int(
        None, allow_none=True, help="Cached replies kept at most ($LPE_LLM_CACHE_MAX_ENTRIES, else 10000)."
    ).tag(config=True)
    llm_cache_max_mb = Float(
        None, allow_none=True, help="MiB of cached replies kept at most ($LPE_LLM_CACHE_MAX_MB, else 64)."
    ).tag(config=True)
    llm_prices = List(
        Dict(),
        help="Prices over the default table, USD per million tokens: [{'model': 'llama3*', 'input': 0, "
        "'output': 0, 'base_url': optional}] (see docs/cost-and-analytics.md; also $LPE_LLM_PRICES).",
    ).tag(config=True)

    engine: ServerEngine | None = None
    _previous_environment: dict[str, str | None] = {}

    def _cache_settings(self) -> CacheSettings:
        """The result cache's settings: these traits over the environment; InvalidInput names the trait."""
        mib = self.llm_cache_max_mb
        try:
            return CacheSettings.from_env(
                enabled=self.llm_cache,
                max_age_days=self.llm_cache_max_age_days,
                max_entries=self.llm_cache_max_entries,
                max_bytes=None if mib is None else round(mib * 1024 * 1024),
            )
        except InvalidInput as exc:
            traits = {"enabled": "llm_cache", "max_bytes": "llm_cache_max_mb"}  # else llm_cache_<name>
            raise InvalidInput(
                {
                    name if name.startswith("LPE_") else traits.get(name, f"llm_cache_{name}"): problem
                    for name, problem in exc.fields.items()
                }
            ) from None

    def engine_config(self) -> EngineConfig:
        """The engine's configuration from these traits; raises :class:`InvalidInput` naming the trait."""
        problems: dict[str, str] = {}
        if self.max_body_bytes < 1:
            problems["max_body_bytes"] = "must be at least 1"
        if self.activity_interval_s <= 0:
            problems["activity_interval_s"] = "must be positive"
        if self.ws_send_timeout_s <= 0:
            problems["ws_send_timeout_s"] = "must be positive"
        for name in ("max_pending_jobs_per_user", "max_submits_per_minute_per_user"):
            if getattr(self, name) < 0:
                problems[name] = "must be 0 (no limit) or more"
        if self.ws_max_unsent_bytes < 1024:
            problems["ws_max_unsent_bytes"] = "must be at least 1024"
        if self.ws_max_queued_events < 1:
            problems["ws_max_queued_events"] = "must be at least 1"
        if problems:
            raise InvalidInput(problems)
        manager = ManagerSettings(
            concurrency=self.concurrency,
            retention_days=self.retention_days,
            shutdown_grace_s=self.shutdown_grace_s,
            cache=self._cache_settings(),
        )
        llm = LlmSettings.from_env(
            provider=self.llm_provider,
            model=self.llm_model,
            base_url=self.llm_base_url,
            timeout_s=self.llm_timeout_s,
            max_concurrency=self.llm_concurrency,
            mock_latency_s=self.mock_latency_s,
            prices=parse_price_rules(self.llm_prices, field="llm_prices") if self.llm_prices else None,
        )
        return EngineConfig(
            db_path=Path(self.db_path).expanduser() if self.db_path else default_db_path(),
            db_url=self.db_url.strip() or os.environ.get(DB_URL_ENV, "").strip() or None,
            synchronous="FULL" if self.synchronous == "FULL" else "NORMAL",
            manager=manager,
            llm=llm,
            max_body_bytes=self.max_body_bytes,
            activity_interval_s=self.activity_interval_s,
            ws_send_timeout_s=self.ws_send_timeout_s,
            quotas=QuotaSettings(
                max_pending_jobs=self.max_pending_jobs_per_user,
                max_submits_per_minute=self.max_submits_per_minute_per_user,
            ),
            ws_max_unsent_bytes=self.ws_max_unsent_bytes,
            ws_max_queued_events=self.ws_max_queued_events,
            job_modules=tuple(self.job_modules),
            dispatch=_DISPATCH_MODES[self.dispatch],
            users=UserSettings(
                jobs_per_user=self.jobs_per_user,
                admin_users=frozenset(self.admin_users),
                authorizer_admins=self.authorizer_admins,
            ),
        )

    def initialize_settings(self) -> None:
        assert self.serverapp is not None
        self._log_to_server(self.serverapp.log)
        event_logger = self.serverapp.event_logger
        assert event_logger is not None  # created by ServerApp.initialize, before extensions load
        event_logger.register_event_schema(LIFECYCLE_SCHEMA_PATH)

        def emit(action: str, data: dict[str, Any]) -> None:
            event_logger.emit(schema_id=LIFECYCLE_SCHEMA_ID, data=data)

        self.engine = ServerEngine(self.engine_config(), touch=self._touch, emit=emit)
        register_prometheus()  # the lpe_* metrics on the server's /metrics (docs/metrics.md)
        self.settings[ENGINE_SETTING] = self.engine
        # Before the server answers any request (it does so before the extensions' async start), so no
        # kernel is ever started without the variables; the start re-exports once the port is final.
        self._export_for_kernels(self.serverapp)

    def initialize_handlers(self) -> None:
        load_job_modules(self.job_modules)  # their types get routes too
        self.handlers.extend((route.pattern, route.handler, route.kwargs) for route in rest_routes())
        self.handlers.append((WS_PATH, JobsWebSocket))
        self.handlers.append((METRICS_PATH, PrometheusScrapeHandler))  # before Jupyter's own /metrics
        self.handlers.append((NOT_FOUND_PATTERN, NotFoundHandler))  # last: only what nothing else matched

    def _touch(self) -> None:
        if self.serverapp is not None and self.serverapp.web_app is not None:
            self.serverapp.web_app.settings[ACTIVITY_SETTING] = datetime.now(timezone.utc)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Start dispatching on the server's loop, resuming jobs a previous server left unfinished."""
        self._export_for_kernels(serverapp)  # the bound port may differ from the configured one
        if self.gc_freeze:
            frozen = freeze_start_up_heap()
            if frozen:
                log.debug("lpe_nb: %d objects out of the garbage collector's full passes", frozen)
        if self.engine is not None:
            try:
                await self.engine.start()
            except LpeError as exc:
                # Said once, here; the routes answer 503 with the same message until it can be opened.
                self.log.error("lpe_nb: the job engine cannot start: %s", exc)
                return
            # The CLI and scripts on this database find a server through the note, with its live events.
            # A live server that left one first keeps it: either serves the database. A database that is
            # not a file (PostgreSQL) has no note: every process on it is an engine of its own.
            if self.engine.config.db_url is not None or read_note(self.engine.config.db_path) is not None:
                return
            token = getattr(serverapp.identity_provider, "token", "") or None
            try:
                write_note(self.engine.config.db_path, serverapp.connection_url, token)
            except OSError as exc:
                self.log.warning("lpe_nb: cannot leave a note beside the database for the CLI: %s", exc)

    async def stop_extension(self) -> None:
        """Stop the manager: running jobs are requeued with their finished steps and resume next time."""
        self._restore_environment()
        try:
            if self.engine is not None and self.engine.config.db_url is None:
                remove_note(self.engine.config.db_path)
                await self.engine.stop()
        finally:
            self._stop_logging_to_server()

    _log_handlers: list[logging.Handler] = []
    _log_level: int = logging.NOTSET

    def _log_to_server(self, server_log: logging.Logger) -> None:
        # lpe_nb logs under its own names ("lpe_nb.server_ext.engine": which database, which LLM, a
        # fallback...), which have no handler in a server: Python then prints only warnings, bare. Give
        # them the server's handlers and level, as jupyter_server does for tornado's loggers; they still
        # propagate to the root logger, which has no handler in a server (so nothing shows twice).
        package = logging.getLogger("lpe_nb")
        self._log_level = package.level
        self._log_handlers = [h for h in server_log.handlers if h not in package.handlers]
        for handler in self._log_handlers:
            package.addHandler(handler)
        package.setLevel(server_log.getEffectiveLevel())

    def _stop_logging_to_server(self) -> None:
        package = logging.getLogger("lpe_nb")
        for handler in self._log_handlers:
            package.removeHandler(handler)
        package.setLevel(self._log_level)
        self._log_handlers = []

    def _export_for_kernels(self, serverapp: Any) -> None:
        # Kernels inherit the server's environment: this is how `lpe_nb.connect()` in a kernel finds the
        # server that started it, whatever else runs on the machine.
        if not self._previous_environment:  # exported twice: keep what was there before the first
            self._previous_environment = {
                name: os.environ.get(name) for name in (SERVER_URL_ENV, SERVER_TOKEN_ENV)
            }
        os.environ[SERVER_URL_ENV] = serverapp.connection_url
        token = getattr(serverapp.identity_provider, "token", "")
        if token:
            os.environ[SERVER_TOKEN_ENV] = token
        else:
            os.environ.pop(SERVER_TOKEN_ENV, None)

    def _restore_environment(self) -> None:
        for name, value in self._previous_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._previous_environment = {}

    def current_activity(self) -> list[str] | None:
        """The running jobs' ids, or None when idle (the server's idle shutdown waits while there are any)."""
        running = self.engine.running_job_ids if self.engine is not None else []
        return running or None
