""":class:`Client`: the async client's API, blocking, run on one private event-loop thread.

The caller's event loop (a Jupyter kernel's, say) is never used, patched or re-entered: each call is
handed to the client's own loop and the caller blocks on the result. So it works from plain scripts and
from code running inside a loop alike.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

from lpe_nb._loop_thread import LoopThread
from lpe_nb.errors import LpeError
from lpe_nb.jobs.analytics import Analytics
from lpe_nb.jobs.store import CacheStats
from lpe_nb.operations import JobTypeInfo

from ._async_client import AsyncClient
from ._base import BaseClient
from ._chain import Parents, PipelineStep
from ._job import AsyncJob, Job, JobList
from ._schedule import Scheduling

__all__ = ["Client"]

T = TypeVar("T")


class Client(Scheduling, BaseClient):
    """The sync API: the same methods as :class:`AsyncClient`, returning :class:`Job` handles.

    ``connector`` makes the async client on the private loop, which owns every connection.
    Thread-safe: calls from several threads are serialized by the private loop.
    """

    def __init__(self, connector: Callable[[], Awaitable[AsyncClient]]) -> None:
        self._runner = LoopThread()
        try:
            self._client = self._runner.run(_await(connector()))
            super().__init__(self._client.backend)
        except BaseException:
            self._runner.stop()
            raise
        self._closed = False

    @classmethod
    def remote(cls, url: str, token: str | None = None, **options: Any) -> Client:
        async def connector() -> AsyncClient:
            return AsyncClient.remote(url, token, **options)

        return cls(connector)

    @classmethod
    def embedded(cls, db_path: str | os.PathLike[str] | None = None, **options: Any) -> Client:
        """This process's engine on ``db_path``; ``options`` as for :meth:`AsyncClient.embedded`."""
        return cls(lambda: AsyncClient.embedded(db_path, **options))

    @property
    def closed(self) -> bool:
        return self._closed or self._runner.loop.is_closed()

    def _job(self, coro: Coroutine[Any, Any, AsyncJob]) -> Job:
        handle = self._runner.run(coro)
        return Job(handle._backend, handle.data, handle.steps, self._runner)

    def _known_infos(self) -> list[JobTypeInfo]:
        if self._infos is None:
            with contextlib.suppress(LpeError):  # unreachable: the submit itself will say so
                self._infos = self._runner.run(self._client.job_types())
        return super()._known_infos()

    def __getattr__(self, name: str) -> Callable[..., Job]:
        return self._generated(name, self.submit)

    def submit(
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
    ) -> Job:
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
        return self._job(
            self._client.submit(
                job_type,
                input_data,
                max_attempts=max_attempts,
                priority=priority,
                run_at=run_at,
                delay_s=delay_s,
                cache=cache,
                depends_on=depends_on,
                inputs_from=inputs_from,
                **fields,
            )
        )

    def pipeline(self, *steps: PipelineStep) -> list[Job]:
        """Submit a chain: each step waits for the one before and takes its result (see
        :meth:`AsyncClient.pipeline`); returns the handles in order."""
        handles = self._runner.run(self._client.pipeline(*steps))
        return [Job(h._backend, h.data, h.steps, self._runner) for h in handles]

    def job_types(self) -> list[JobTypeInfo]:
        """The job types the backend runs, with their input fields."""
        self._infos = self._runner.run(self._client.job_types())
        return list(self._infos)

    def job(self, job_id: str) -> Job:
        return self._job(self._client.job(job_id))

    def jobs(
        self,
        *,
        status: str | Sequence[str] | None = None,
        type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobList[Job]:
        found = self._runner.run(self._client.jobs(status=status, type=type, limit=limit, cursor=cursor))
        return JobList((Job(h._backend, h.data, h.steps, self._runner) for h in found), found.next_cursor)

    def analytics(
        self,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        group_by: str | Sequence[str] = (),
    ) -> Analytics:
        """Aggregates over a time range, grouped by day, type, model or status (see
        :meth:`AsyncClient.analytics`)."""
        return self._runner.run(self._client.analytics(since=since, until=until, group_by=group_by))

    def cache_stats(self) -> CacheStats:
        """What the LLM result cache holds, and its bounds (see :meth:`AsyncClient.cache_stats`)."""
        return self._runner.run(self._client.cache_stats())

    def clear_cache(self) -> int:
        """Empty the LLM result cache; returns how many entries it had."""
        return self._runner.run(self._client.clear_cache())

    def catalog(self) -> dict[str, Any]:
        return self._runner.run(self._client.catalog())

    def delete_catalog_entry(self, kind: str, name: str) -> None:
        self._runner.run(self._client.delete_catalog_entry(kind, name))

    def cancel(self, job_id: str) -> Job:
        return self._job(self._client.cancel(job_id))

    def set_priority(self, job_id: str, priority: int) -> Job:
        """Change a pending job's priority; raises :class:`InvalidTransition` once it is not pending."""
        return self._job(self._client.set_priority(job_id, priority))

    def delete(self, job_id: str) -> None:
        self._runner.run(self._client.delete(job_id))

    def metrics(self) -> dict[str, Any]:
        """The engine's figures (see :meth:`AsyncClient.metrics`)."""
        return self._runner.run(self._client.metrics())

    def metrics_text(self) -> str:
        """The engine's figures in Prometheus's text format."""
        return self._runner.run(self._client.metrics_text())

    def run_background(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run an async-client coroutine on the private loop without blocking (widgets poll this way);
        ``client.async_client`` is the :class:`AsyncClient` to call. Cancel the future to stop it."""
        return self._runner.spawn(coro)

    @property
    def async_client(self) -> AsyncClient:
        """The async client living on the private loop; use it only inside :meth:`run_background`."""
        return self._client

    def close(self) -> None:
        """Close the connections (or let go of the embedded engine) and the private thread. Idempotent."""
        if self._closed or self._runner.loop.is_closed():
            self._closed = True
            return
        self._closed = True
        try:
            self._runner.run(self._client.aclose())
        finally:
            self._runner.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self.location}>"


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable
