"""Run the LPE job types on an embedded engine in this process: the small public Python entry.

::

    async with open_engine() as engine:            # ~/.lpe/jobs.db (or $LPE_DB_PATH), LLM from the env
        job_id = await engine.projection("Rosa Parks refused to give up her seat.", persona="storyteller")
        job = await engine.manager.wait(job_id, timeout_s=120)
        print(job.result_data["final_projection"])

    job = run_job("translation", {"text": "...", "intermediate_language": "french"})  # from a script
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lpe_nb.jobs import JobManager, JobRecord, ManagerSettings, default_db_path, open_store
from lpe_nb.llm import LLM, LlmSettings, make_llm
from lpe_nb.operations import Catalog, CatalogStore, build_registry

__all__ = ["Engine", "open_engine", "resolve_db_path", "run_job"]


def resolve_db_path(db_path: str | os.PathLike[str] | None = None) -> Path:
    """``db_path``, else ``$LPE_DB_PATH``, else the engine's default (``~/.lpe/jobs.db``)."""
    if db_path is not None:
        return Path(db_path).expanduser()
    env = os.environ.get("LPE_DB_PATH", "").strip()
    return Path(env).expanduser() if env else default_db_path()


@dataclass
class Engine:
    """A running manager with the LPE job types, its catalog and its LLM. Submit helpers return job ids."""

    manager: JobManager
    catalog: Catalog
    llm: LLM

    async def projection(
        self,
        narrative: str,
        *,
        persona: str = "neutral",
        namespace: str = "lamish-galaxy",
        style: str = "standard",
    ) -> str:
        data = {"narrative": narrative, "persona": persona, "namespace": namespace, "style": style}
        return await self.manager.submit("projection", data)

    async def translation(
        self, text: str, intermediate_language: str, *, source_language: str = "english"
    ) -> str:
        data = {
            "text": text,
            "intermediate_language": intermediate_language,
            "source_language": source_language,
        }
        return await self.manager.submit("translation", data)

    async def multi_translation(
        self, text: str, intermediate_languages: list[str], *, source_language: str = "english"
    ) -> str:
        data = {
            "text": text,
            "intermediate_languages": intermediate_languages,
            "source_language": source_language,
        }
        return await self.manager.submit("multi_translation", data)

    async def maieutic(self, narrative: str, *, goal: str = "understand", max_turns: int = 5) -> str:
        return await self.manager.submit(
            "maieutic", {"narrative": narrative, "goal": goal, "max_turns": max_turns}
        )

    async def maieutic_answer(
        self, session_id: str, answers: list[str], *, project: bool = False, **config: str
    ) -> str:
        data: dict[str, Any] = {"session_id": session_id, "answers": answers, "project": project, **config}
        return await self.manager.submit("maieutic_answer", data)

    async def configure(self, attribute: str, brief: str, *, context: str = "") -> str:
        return await self.manager.submit(
            "configuration", {"attribute": attribute, "brief": brief, "context": context}
        )


@contextlib.asynccontextmanager
async def open_engine(
    db_path: str | os.PathLike[str] | None = None,
    *,
    llm_settings: LlmSettings | None = None,
    llm: LLM | None = None,
    concurrency: int | None = None,
    settings: ManagerSettings | None = None,
) -> AsyncIterator[Engine]:
    """A started engine on ``db_path`` (see :func:`resolve_db_path`); stopped and closed on exit.

    The LLM is ``llm`` if given (not closed here), else ``make_llm(llm_settings)`` (the environment's, the
    mock when nothing is configured). Raises :class:`DispatcherBusy` if another process dispatches there.
    """
    path = resolve_db_path(db_path)
    own_llm = llm is None
    the_llm = make_llm(llm_settings) if llm is None else llm
    try:
        async with open_store(path) as store:
            catalog = await Catalog.load(CatalogStore(path))
            registry = build_registry(the_llm, catalog, read_job=store.get_job)
            if settings is None:
                settings = (
                    ManagerSettings() if concurrency is None else ManagerSettings(concurrency=concurrency)
                )
            manager = JobManager(store, registry, settings=settings)
            async with manager:
                yield Engine(manager, catalog, the_llm)
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
