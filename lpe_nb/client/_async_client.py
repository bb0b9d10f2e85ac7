""":class:`AsyncClient`: submit, list, read, cancel and watch jobs with ``await``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

from lpe_nb.jobs import JobEvent
from lpe_nb.jobs.analytics import Analytics
from lpe_nb.jobs.store import CacheStats
from lpe_nb.operations import JobTypeInfo
from lpe_nb.operations.spec import merged_input

from ._backend import SubmitOptions
from ._base import BaseClient
from ._chain import Parents, PipelineStep, parent_ids, pipeline_step
from ._embedded import EmbeddedBackend
from ._job import AsyncJob, BaseJob, JobList
from ._remote import RemoteBackend
from ._schedule import AsyncScheduling

__all__ = ["AsyncClient"]


class AsyncClient(AsyncScheduling, BaseClient):
    """The async API over a backend (a server, or this process's engine). ``async with`` closes it.

    ``await client.projection(narrative, persona=...)`` and the like exist for every job type (see
    :meth:`job_types`); options left as None take the type's defaults. Use it on the loop that made it.
    """

    @classmethod
    def remote(cls, url: str, token: str | None = None, **options: Any) -> AsyncClient:
        """A client of the server at ``url`` (with its base_url); ``options`` go to :class:`RemoteBackend`."""
        return cls(RemoteBackend(url, token, **options))

    @classmethod
    async def embedded(cls, db_path: str | os.PathLike[str] | None = None, **options: Any) -> AsyncClient:
        """A client of this process's engine on ``db_path`` (default ``~/.lpe/jobs.db``), started if needed
        with ``options`` (``llm``, ``llm_settings``, ``settings``... as :func:`~lpe_nb.embedded.open_engine`)."""
        client = cls(await EmbeddedBackend.open(db_path, **options))
        await client.job_types()
        return client

    def __getattr__(self, name: str) -> Callable[..., Awaitable[AsyncJob]]:
        return self._generated(name, self.submit)

    async def submit(
        self,
        job_type: str,
        input_data: dict[str, Any] | None = None,
        /,
        *,
        max_attempts: int | None = None,
        priority: int | None = None,
        run_at: datetime | None = None,
        delay_s: float | None = None,
        cache: bool | None = None,
        depends_on: Parents = None,
        inputs_from: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> AsyncJob:
        """Start a job of ``job_type`` with ``input_data`` and/or ``fields``; raises ``InvalidInput``.

        ``max_attempts`` is the job's own: how many tries in a row that finish no step it may make before
        it fails (default: its type's, else the engine's). ``priority`` (-1000..1000, default 0): a higher
        one starts first, equal ones oldest first. ``run_at`` (timezone-aware) or ``delay_s``: the job
        waits, pending with its ``scheduled_at``, until then; cancel it to drop it.
        ``depends_on`` (job ids or handles): the job waits, pending, until each has completed, and is
        cancelled if one fails or is cancelled; fields its type declares it takes from such a parent's
        result (e.g. a projection's ``final_projection`` as a translation's ``text``) may be left out,
        and ``inputs_from`` (``{field: "<job id>.<result path>"}``) names others (docs/chains.md).
        ``cache=False``: every LLM call of the job is made anew, none answered from the result cache nor
        stored in it (default: identical calls are answered from it at no cost; docs/caching.md).
        """
        job_id = await self.backend.submit(
            job_type,
            merged_input(input_data, fields),
            SubmitOptions(
                max_attempts, priority, run_at, delay_s, cache, parent_ids(depends_on), inputs_from
            ),
        )
        return await self.job(job_id)

    async def pipeline(self, *steps: PipelineStep) -> list[AsyncJob]:
        """Submit a chain: each step waits for the one before and takes its result by its type's declared
        mapping. A step is a job type, ``(job type, input)``, or (first only) a job already submitted::

            session, projection, translation = await client.pipeline(
                ("maieutic_answer", {"session_id": sid, "answers": answers}),
                ("projection", {"style": "poetic"}),
                ("translation", {"intermediate_language": "french"}),
            )

        Returns the handles, in order. Raises :class:`InvalidInput` (naming ``steps.<n>`` or the field) at
        the first step refused; the steps before it stay submitted.
        """
        jobs: list[AsyncJob] = []
        for index, step in enumerate(steps):
            if isinstance(step, BaseJob) and index == 0:
                jobs.append(AsyncJob(step._backend, step.data, step.steps))
                continue
            job_type, data = pipeline_step(step, index)
            jobs.append(await self.submit(job_type, data, depends_on=jobs[-1:] or None))
        return jobs

    async def job_types(self) -> list[JobTypeInfo]:
        """The job types the backend runs, with their input fields (remembered for the per-type methods)."""
        self._infos = await self.backend.job_types()
        return list(self._infos)

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

    async def analytics(
        self,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        group_by: str | Sequence[str] = (),
    ) -> Analytics:
        """Aggregates over the jobs created from ``since`` (default: 30 days before ``until``) to
        ``until`` (default: now; timezone-aware datetimes or ISO 8601 strings with an offset), grouped by
        any of ``day``, ``type``, ``model``, ``status`` (a name, comma-separated names or a list): counts,
        success rate, duration p50/p95, tokens, cost and cache hit rate per group, and the totals.
        ``report.rows()`` gives one dict per group. Raises :class:`InvalidInput` naming a bad argument."""
        groups = [group_by] if isinstance(group_by, str) else list(group_by)
        return await self.backend.analytics(since=since, until=until, group_by=groups)

    async def cache_stats(self) -> CacheStats:
        """What the LLM result cache holds (entries, bytes, hits, oldest and newest) and its bounds."""
        return await self.backend.cache_stats()

    async def clear_cache(self) -> int:
        """Empty the LLM result cache (every later call is made anew); returns how many entries it had."""
        return await self.backend.clear_cache()

    async def catalog(self) -> dict[str, Any]:
        """Personas, namespaces, styles, defaults and languages."""
        return await self.backend.catalog()

    async def delete_catalog_entry(self, kind: str, name: str) -> None:
        """Delete a persona, namespace or style you added (a configuration job's entry); raises
        :class:`InvalidInput` on ``name`` for a built-in or unknown one. Finished jobs that used it keep
        their results."""
        await self.backend.delete_catalog_entry(kind, name)

    async def cancel(self, job_id: str) -> AsyncJob:
        """Cancel a pending or running job; raises :class:`InvalidTransition` if it already finished."""
        return AsyncJob(self.backend, await self.backend.cancel(job_id))

    async def set_priority(self, job_id: str, priority: int) -> AsyncJob:
        """Change a pending job's priority (its place in the queue follows at once); raises
        :class:`InvalidTransition` once it is not pending."""
        return AsyncJob(self.backend, await self.backend.set_priority(job_id, priority))

    async def delete(self, job_id: str) -> None:
        """Delete a finished job and its steps; raises :class:`InvalidTransition` if it has not finished."""
        await self.backend.delete(job_id)

    async def metrics(self) -> dict[str, Any]:
        """The engine's figures (the server's, or this process's): per job type, jobs submitted, finished
        by status, retried, cache hits, cost, job and step durations; per LLM model, requests by outcome,
        errors, retries, latency, tokens and cost; and the database's pending and running jobs, read now.
        ``docs/metrics.md`` describes each figure."""
        return await self.backend.metrics()

    async def metrics_text(self) -> str:
        """:meth:`metrics` in Prometheus's text format, as ``lpe_*`` metrics."""
        from lpe_nb.metrics.prometheus import to_text  # prometheus_client, only when asked for

        return to_text(await self.metrics())

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
