"""The one place that assembles an engine: store, job types, LLM, catalog and manager.

The Jupyter server extension, the clients' embedded engine and the CLI all start their engine here::

    async with open_engine() as engine:            # ~/.lpe/jobs.db (or $LPE_DB_PATH), LLM from the env
        job_id = await engine.projection("Rosa Parks refused to give up her seat.", persona="storyteller")
        job = await engine.manager.wait(job_id, timeout_s=120)
        print(job.result_data["final_projection"])

    job = run_job("translation", {"text": "...", "intermediate_language": "french"})  # from a script

``engine.<method>(...)`` exists for every declared job type (:data:`lpe_nb.operations.JOB_TYPES`), with
the type's required fields as positional arguments; ``engine.submit(job_type, input)`` takes any type.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lpe_nb.jobs import DispatchMode, JobManager, JobRecord, ManagerSettings, default_db_path, open_store
from lpe_nb.jobs.settings import CacheSettings
from lpe_nb.jobs.sqlite import SqliteJobStore
from lpe_nb.jobs.store import Synchronous
from lpe_nb.llm import LLM, CachingLLM, LlmSettings, make_llm
from lpe_nb.operations import (
    JOB_TYPES,
    Catalog,
    JobTypeInfo,
    JobTypes,
    Services,
    load_job_modules,
)
from lpe_nb.operations.spec import generated_method, merged_input

__all__ = ["DB_URL_ENV", "Engine", "open_engine", "resolve_db_path", "run_job"]

DB_URL_ENV = "LPE_DB_URL"  # the job database's URL, over LPE_DB_PATH (a PostgreSQL database, say)


def resolve_db_path(db_path: str | os.PathLike[str] | None = None) -> Path:
    """``db_path``, else ``$LPE_DB_PATH``, else the engine's default (``~/.lpe/jobs.db``)."""
    if db_path is not None:
        return Path(db_path).expanduser()
    env = os.environ.get("LPE_DB_PATH", "").strip()
    return Path(env).expanduser() if env else default_db_path()


@dataclass
class Engine:
    """A running manager with the declared job types, its catalog and its LLM.

    ``submit`` and the generated per-type methods return job ids.
    """

    manager: JobManager
    catalog: Catalog
    llm: LLM
    job_types: JobTypes
    db_path: Path

    async def submit(
        self,
        job_type: str,
        input_data: Any = None,
        /,
        *,
        max_attempts: int | None = None,
        priority: int = 0,
        cache: bool = True,
        **fields: Any,
    ) -> str:
        """Persist and queue a job of ``job_type`` with ``input_data`` (a dict) and/or ``fields``, and its
        own ``max_attempts`` and ``priority`` if given; ``cache=False`` keeps its LLM calls out of the
        result cache (``docs/caching.md``)."""
        data = merged_input(input_data, fields)
        return await self.manager.submit(
            job_type, data, max_attempts=max_attempts, priority=priority, cache=cache
        )

    def infos(self) -> list[JobTypeInfo]:
        return self.job_types.infos()

    def __getattr__(self, name: str) -> Callable[..., Awaitable[str]]:
        return generated_method(
            self.job_types.infos(), name, self.submit, owner=type(self).__name__, options=_SUBMIT_OPTIONS
        )


_SUBMIT_OPTIONS = ("max_attempts", "priority", "cache")  # Engine.submit's keywords beside the input


@contextlib.asynccontextmanager
async def open_engine(
    db_path: str | os.PathLike[str] | None = None,
    *,
    llm_settings: LlmSettings | None = None,
    llm: LLM | None = None,
    concurrency: int | None = None,
    settings: ManagerSettings | None = None,
    synchronous: Synchronous = "NORMAL",
    dispatch: DispatchMode = "auto",
    job_modules: Iterable[str] = (),
    job_types: JobTypes | None = None,
    kind: str = "engine",
    db_url: str | None = None,
) -> AsyncIterator[Engine]:
    """A started engine on ``db_url`` (else ``$LPE_DB_URL``: a ``postgresql://`` or ``sqlite:///`` URL) or
    else ``db_path`` (see :func:`resolve_db_path`); stopped and closed on exit.

    The LLM is ``llm`` if given (not closed here), else ``make_llm(llm_settings)`` (the environment's, the
    mock when nothing is configured); the job types call it through the result cache (``settings.cache``;
    without ``settings``, :meth:`CacheSettings.from_env`). ``job_modules`` (and ``$LPE_JOB_MODULES``, and the
    ``lpe_nb.job_types`` entry points) are imported first, so the job types they declare run here.
    ``dispatch="auto"`` (the default) runs the jobs if no other process on this database does, and is
    otherwise a peer of the one that does (submit, read, cancel and watch work, with its live events) that
    takes over if that process exits; ``True`` raises :class:`DispatcherBusy` instead, ``False`` never
    dispatches. ``kind`` says what runs the engine in its heartbeat row while it dispatches (``api/status``
    lists them): ``engine``, ``jupyter-server`` or ``worker``. Raises :class:`StoreError` if the database
    cannot be used where it is.
    """
    path = resolve_db_path(db_path)
    load_job_modules(job_modules)
    types = JOB_TYPES if job_types is None else job_types
    own_llm = llm is None
    the_llm = make_llm(llm_settings) if llm is None else llm
    try:
        url = db_url if db_url is not None else os.environ.get(DB_URL_ENV, "").strip() or None
        async with open_store(path if url is None else url, synchronous=synchronous) as store:
            if isinstance(store, SqliteJobStore):
                path = store.path
            catalog = await Catalog.load(store)  # the user catalog is in the job store, for every process
            if settings is None:
                cache = CacheSettings.from_env()
                settings = (
                    ManagerSettings(cache=cache)
                    if concurrency is None
                    else ManagerSettings(concurrency=concurrency, cache=cache)
                )
            manager = JobManager(store, settings=settings, dispatch=dispatch, kind=kind)
            cached_llm = CachingLLM(the_llm, manager.cache)  # all job types, every call: docs/caching.md
            types.bind(Services(cached_llm, catalog, manager.get), manager.registry)
            async with manager:
                yield Engine(manager, catalog, the_llm, types, path)
    finally:
        if own_llm:
            await the_llm.aclose()


def run_job(
    job_type: str,
    input_data: Any,
    db_path: str | os.PathLike[str] | None = None,
    *,
    timeout_s: float = 600.0,
    llm_settings: LlmSettings | None = None,
) -> JobRecord:
    """Submit one job and wait for it in a fresh event loop (for scripts, not from inside a running loop)."""

    async def main() -> JobRecord:
        async with open_engine(db_path, llm_settings=llm_settings) as engine:
            job_id = await engine.manager.submit(job_type, input_data)
            return await engine.manager.wait(job_id, timeout_s=timeout_s)

    return asyncio.run(main())
