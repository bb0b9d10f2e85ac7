"""The job engine as the server extension runs it: :func:`lpe_nb.embedded.open_engine`, owned by the server.

The extension app builds one :class:`ServerEngine` per server and the handlers reach it through
``web_app.settings``. Besides owning the engine, it runs one *watcher* task subscribed to every job's status
events (not their progress, which is then built only for jobs someone watches): it marks the server active
on each (and on a timer while jobs run, since one LLM call can outlast the idle culler's patience), emits
the lifecycle events on the server's event bus, and tells the per-user
:class:`~lpe_nb.server_ext.quotas.Quotas` which jobs have left the queue.

Several servers (and CLIs, and kernels) may share one database: one process dispatches, the others are
peers that serve every route and see its jobs move through the database, and one of them takes over if
it exits (``dispatch="auto"``, :mod:`lpe_nb.jobs._role`). A database that cannot be opened is said once in
the log at start; until it can (tried again at most every :data:`RETRY_OPEN_S`), every route answers 503
with that message.

Not thread-safe: everything runs on the server's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lpe_nb._version import __version__
from lpe_nb.embedded import Engine, open_engine
from lpe_nb.errors import LpeError
from lpe_nb.jobs import DispatchMode, JobEvent, JobManager, JobStatus, ManagerSettings
from lpe_nb.jobs.events import SubscriptionClosed
from lpe_nb.jobs.store import Synchronous
from lpe_nb.llm import LlmSettings
from lpe_nb.server_ext._memory import TrimAfterClosing
from lpe_nb.server_ext._turns import WebSocketTurns
from lpe_nb.server_ext.quotas import Quotas, QuotaSettings
from lpe_nb.server_ext.users import UserSettings

__all__ = ["RETRY_OPEN_S", "EngineConfig", "ServerEngine", "Socket", "lifecycle_action"]

log = logging.getLogger(__name__)

_WATCHER_MAX_PENDING = 10_000  # status events the watcher may lag behind before it resubscribes
_MAX_REMEMBERED_TYPES = 4096
RETRY_OPEN_S = 5.0  # a database that failed to open is tried again on a request at most this often


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything the engine needs, already validated by the app's traits."""

    db_path: Path
    synchronous: Synchronous
    manager: ManagerSettings
    llm: LlmSettings
    max_body_bytes: int = 1_000_000
    activity_interval_s: float = 30.0
    ws_send_timeout_s: float = 10.0
    ws_max_unsent_bytes: int = 1024 * 1024
    ws_max_queued_events: int = 256
    ws_max_watches: int = 1000
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    users: UserSettings = field(default_factory=UserSettings)  # whose jobs each user sees
    job_modules: tuple[str, ...] = ()
    dispatch: DispatchMode = "auto"
    db_url: str | None = None  # over db_path for the jobs and the user catalog (a PostgreSQL database)


class Socket(Protocol):
    """What the engine needs of an open WebSocket: a way to close it at shutdown."""

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


def lifecycle_action(event: JobEvent) -> str | None:
    """The lifecycle action a status event stands for, or None (progress, snapshots, requeues)."""
    if event.kind != "status" or event.snapshot or event.status is None:
        return None
    if event.status is JobStatus.PENDING:
        return "created" if event.seq == 1 else None  # a requeued job has moved past seq 1
    if event.status is JobStatus.RUNNING:
        return "started"
    action: str = event.status.value  # completed, failed, cancelled
    return action


class ServerEngine:
    """Owns the job engine inside the server; ``start()`` once on the server's loop, ``stop()`` at shutdown.

    ``touch()`` is called whenever jobs show activity; ``emit(action, data)`` for each lifecycle event.
    Handlers call :meth:`ready` so a server that never ran the extension start hook still works.
    """

    def __init__(
        self,
        config: EngineConfig,
        *,
        touch: Callable[[], None] = lambda: None,
        emit: Callable[[str, dict[str, Any]], None] = lambda action, data: None,
    ) -> None:
        self.config = config
        self._touch = touch
        self._emit = emit
        self._engine: Engine | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._start_lock: asyncio.Lock | None = None
        self._stopped = False
        self._failure: tuple[LpeError, float] | None = None  # why the last open failed, and when
        self.sockets: set[Socket] = set()
        self.trim_after_closing = TrimAfterClosing()  # the memory a crowd of closed sockets leaves
        self.ws_turns = WebSocketTurns()  # how much of a crowd's work one loop iteration does
        self.quotas = Quotas(config.quotas)  # kept up to date by the watcher
        self._types: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, load the catalog, start dispatching (resuming interrupted jobs). Idempotent."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._engine is not None:
                return
            if self._stopped:
                raise LpeError("the lpe_nb extension has been stopped")
            if self._failure is not None and time.monotonic() - self._failure[1] < RETRY_OPEN_S:
                raise self._failure[0]  # said once in the log already; no new attempt per request
            try:
                await self._open()
            except LpeError as exc:
                self._failure = (exc, time.monotonic())
                raise
            self._failure = None

    async def _open(self) -> None:
        config = self.config
        stack = contextlib.AsyncExitStack()
        try:
            engine = await stack.enter_async_context(
                open_engine(
                    config.db_path,
                    db_url=config.db_url,
                    llm_settings=config.llm,
                    settings=config.manager,
                    synchronous=config.synchronous,
                    job_modules=config.job_modules,
                    dispatch=config.dispatch,
                    kind="jupyter-server",
                )
            )
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._engine = stack, engine
        self._watcher = asyncio.create_task(self._watch_jobs(engine.manager), name="lpe-server-watcher")
        role = (
            "dispatching jobs"
            if engine.manager.is_dispatching
            else "serving as a peer (another process dispatches; this one takes over if it exits) the jobs"
        )
        log.info(
            "lpe_nb %s: %s from %s with the %s LLM %s",
            __version__, role, engine.manager.store.location, engine.llm.provider, engine.llm.model,
        )  # fmt: skip

    async def stop(self) -> None:
        """Close sockets, stop the manager (running jobs go back to the queue), release everything."""
        self._stopped = True
        for socket in list(self.sockets):
            with contextlib.suppress(Exception):  # a socket that is already gone has nothing to close
                socket.close(1001, "server shutting down")
        self.sockets.clear()
        self.trim_after_closing.close()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        stack, self._stack, self._engine = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def ready(self) -> Engine:
        """The started engine (starting it on first use)."""
        if self._engine is None:
            await self.start()
        assert self._engine is not None
        return self._engine

    @property
    def engine(self) -> Engine | None:
        return self._engine

    @property
    def manager(self) -> JobManager | None:
        return None if self._engine is None else self._engine.manager

    @property
    def dispatching(self) -> bool:
        """Whether this server runs the database's jobs now (False while another process does)."""
        return self._engine is not None and self._engine.manager.is_dispatching

    @property
    def running_job_ids(self) -> list[str]:
        return [] if self._engine is None else self._engine.manager.running_job_ids

    # -- the watcher ---------------------------------------------------------------------------------

    async def _watch_jobs(self, manager: JobManager) -> None:
        while True:
            # status events only: what it acts on; a job's progress is then built only for its watchers
            sub = manager.events.subscribe(None, max_pending=_WATCHER_MAX_PENDING, statuses_only=True)
            try:
                while True:
                    try:
                        event = await sub.get(timeout_s=self.config.activity_interval_s)
                    except TimeoutError:
                        if manager.running_job_ids:
                            self._touch()  # a long silent LLM call is still activity
                        continue
                    self._touch()
                    self.quotas.observe(event)
                    action = lifecycle_action(event)
                    if action is not None:
                        await self._emit_safely(manager, action, event)
            except SubscriptionClosed:
                log.warning("lpe_nb: the lifecycle watcher fell behind; some lifecycle events were lost")
                self.quotas.events_lost()
            finally:
                sub.close()

    async def _emit_safely(self, manager: JobManager, action: str, event: JobEvent) -> None:
        data: dict[str, Any] = {"action": action, "job_id": event.job_id, "seq": event.seq}
        job_type = await self._job_type(manager, event.job_id, forget=event.is_terminal)
        if job_type is not None:
            data["job_type"] = job_type
        if event.error_message and action == "failed":
            # The reason is ours (exception type and message), never LLM text; bounded all the same.
            data["error"] = event.error_message[:500]
        try:
            self._emit(action, data)
        except Exception:  # a broken listener must not stop the watcher
            log.exception("lpe_nb: emitting the %s event of job %s failed", action, event.job_id)

    def remember_type(self, job_id: str, job_type: str) -> None:
        """Note a job's type at submit, so its lifecycle events need no database read."""
        self._types[job_id] = job_type
        if len(self._types) > _MAX_REMEMBERED_TYPES:
            del self._types[next(iter(self._types))]

    async def _job_type(self, manager: JobManager, job_id: str, *, forget: bool) -> str | None:
        job_type = self._types.pop(job_id, None) if forget else self._types.get(job_id)
        if job_type is None:
            try:
                job_type = (await manager.get(job_id)).type  # submitted by another process
            except LpeError:
                return None
            if not forget:
                self.remember_type(job_id, job_type)
        return job_type
