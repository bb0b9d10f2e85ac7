""":class:`AsyncClient`: submit, list, read, cancel and watch jobs with ``await``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

from lpe_nb.jobs import JobEvent, ManagerSettings
from lpe_nb.llm import LLM, LlmSettings

from ._backend import Backend
from ._embedded import EmbeddedBackend
from ._job import AsyncJob, JobList
from ._remote import RemoteBackend

__all__ = ["AsyncClient"]


class AsyncClient:
    """The async API over a backend (a server, or an engine in this process). ``async with`` closes it.

    Options left as None take the operation's defaults (see ``catalog()["defaults"]``).
    Not thread-safe: use it on the loop that created it.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def remote(cls, url: str, token: str | None = None, **options: Any) -> AsyncClient:
        """A client of the server at ``url`` (with its base_url); ``options`` go to :class:`RemoteBackend`."""
        return cls(RemoteBackend(url, token, **options))

    @classmethod
    async def embedded(
        cls,
        db_path: str | os.PathLike[str] | None = None,
        *,
        llm: LLM | None = None,
        llm_settings: LlmSettings | None = None,
        settings: ManagerSettings | None = None,
    ) -> AsyncClient:
        """A client with its own engine on ``db_path`` (default ``~/.lpe/jobs.db``), stopped by :meth:`aclose`."""
        return cls(await EmbeddedBackend.open(db_path, llm=llm, llm_settings=llm_settings, settings=settings))

    @property
    def location(self) -> str:
        return self.backend.location

    async def _submit(self, job_type: str, data: dict[str, Any]) -> AsyncJob:
        job_id = await self.backend.submit(job_type, {k: v for k, v in data.items() if v is not None})
        return await self.job(job_id)

    async def projection(
        self,
        narrative: str,
        *,
        persona: str | None = None,
        namespace: str | None = None,
        style: str | None = None,
    ) -> AsyncJob:
        """Start a projection of ``narrative`` into the persona, namespace and style."""
        data = {"narrative": narrative, "persona": persona, "namespace": namespace, "style": style}
        return await self._submit("projection", data)

    async def translation(
        self, text: str, intermediate_language: str, *, source_language: str | None = None
    ) -> AsyncJob:
        """Start a round-trip translation of ``text`` through ``intermediate_language``."""
        data = {
            "text": text,
            "intermediate_language": intermediate_language,
            "source_language": source_language,
        }
        return await self._submit("translation", data)

    async def multi_translation(
        self, text: str, intermediate_languages: Sequence[str], *, source_language: str | None = None
    ) -> AsyncJob:
        """Start round trips of ``text`` through 2..6 languages, compared: which elements survive most."""
        data = {
            "text": text,
            "intermediate_languages": list(intermediate_languages),
            "source_language": source_language,
        }
        return await self._submit("multi_translation", data)

    async def maieutic(
        self, narrative: str, *, goal: str | None = None, max_turns: int | None = None
    ) -> AsyncJob:
        """Start a maieutic session: questions about ``narrative``; answer with :meth:`maieutic_answer`."""
        return await self._submit("maieutic", {"narrative": narrative, "goal": goal, "max_turns": max_turns})

    async def maieutic_answer(
        self, session_id: str, answers: list[str], *, project: bool = False, **config: str
    ) -> AsyncJob:
        """Answer the questions of the maieutic job ``session_id``; ``project=True`` also projects."""
        data: dict[str, Any] = {"session_id": session_id, "answers": answers, "project": project, **config}
        return await self._submit("maieutic_answer", data)

    async def configure(self, attribute: str, brief: str, context: str | None = None) -> AsyncJob:
        """Generate a new ``attribute`` (persona, namespace or style) from a ``brief``."""
        return await self._submit(
            "configuration", {"attribute": attribute, "brief": brief, "context": context}
        )

    async def job(self, job_id: str) -> AsyncJob:
        """A handle on an existing job, with its steps; raises :class:`JobNotFound`."""
        data, steps = await self.backend.get(job_id)
        return AsyncJob(self.backend, data, steps)

    async def jobs(
        self,
        *,
        status: str | Sequence[str] | None = None,
        type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobList[AsyncJob]:
        """Jobs newest first, optionally only these statuses and this type; ``limit`` 1..500 per page.

        The list's ``next_cursor``, passed back as ``cursor``, gives the next page (None after the last).
        """
        statuses = [status] if isinstance(status, str) else status
        page = await self.backend.list_jobs(status=statuses, job_type=type, limit=limit, cursor=cursor)
        return JobList((AsyncJob(self.backend, data) for data in page.jobs), page.next_cursor)

    async def catalog(self) -> dict[str, Any]:
        """Personas, namespaces, styles, defaults and languages."""
        return await self.backend.catalog()

    async def cancel(self, job_id: str) -> AsyncJob:
        """Cancel a pending or running job; raises :class:`InvalidTransition` if it already finished."""
        return AsyncJob(self.backend, await self.backend.cancel(job_id))

    async def delete(self, job_id: str) -> None:
        """Delete a finished job and its steps; raises :class:`InvalidTransition` if it has not finished."""
        await self.backend.delete(job_id)

    def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """A job's current state and then its live events, ending with its terminal status."""
        return self.backend.events(job_id)

    async def aclose(self) -> None:
        await self.backend.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncClient {self.location}>"
