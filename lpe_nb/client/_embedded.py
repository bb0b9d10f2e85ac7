""":class:`EmbeddedBackend`: jobs run by this process's engine (:class:`~lpe_nb.client._host.EngineHost`).

Usable from any event loop: each call hops onto the host's loop and back, so the caller's loop never
blocks and the engine always runs on the one loop it started on.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from lpe_nb.jobs import JobEvent, JobPage, JobRecord, StepRecord, SubscriptionClosed
from lpe_nb.jobs.analytics import Analytics
from lpe_nb.jobs.store import CacheStats
from lpe_nb.operations import JobTypeInfo

from ._backend import NO_OPTIONS, EventDeduper, SubmitOptions
from ._host import EngineHost
from ._schedule_backends import EmbeddedSchedules

if TYPE_CHECKING:
    from lpe_nb.operations.catalog import Kind

__all__ = ["EmbeddedBackend"]


class EmbeddedBackend(EmbeddedSchedules):
    """A :class:`~lpe_nb.client._backend.Backend` over this process's engine on a database."""

    def __init__(self, host: EngineHost) -> None:
        self.host = host
        self._closed = False

    @classmethod
    async def open(cls, db_path: str | os.PathLike[str] | None = None, **options: Any) -> EmbeddedBackend:
        """This process's engine on ``db_path`` (default ``~/.lpe/jobs.db`` or ``$LPE_DB_PATH``), started
        if needed; ``options`` go to :func:`~lpe_nb.embedded.open_engine` when it starts."""
        return cls(await asyncio.to_thread(EngineHost.acquire, db_path, **options))

    @property
    def engine(self) -> Any:
        return self.host.engine

    @property
    def location(self) -> str:
        return self.host.key

    async def submit(
        self,
        job_type: str,
        data: dict[str, Any],
        options: SubmitOptions = NO_OPTIONS,
    ) -> str:
        manager = self.engine.manager
        return await self.host.thread.hop(
            manager.submit(
                job_type,
                data,
                max_attempts=options.max_attempts,
                priority=options.priority or 0,
                run_at=options.run_at,
                delay_s=options.delay_s,
                cache=True if options.cache is None else options.cache,
                depends_on=options.depends_on,
                inputs_from=options.inputs_from,
            )
        )

    async def set_priority(self, job_id: str, priority: int) -> JobRecord:
        return await self.host.thread.hop(self.engine.manager.set_priority(job_id, priority))

    async def job_types(self) -> list[JobTypeInfo]:
        return list(self.engine.infos())

    async def get(self, job_id: str) -> tuple[JobRecord, list[StepRecord]]:
        return await self.host.thread.hop(self.engine.manager.get_with_steps(job_id))

    async def list_jobs(
        self, *, status: Sequence[str] | None, job_type: str | None, limit: int, cursor: str | None
    ) -> JobPage:
        manager = self.engine.manager
        return await self.host.thread.hop(
            manager.list_jobs(status=status, job_type=job_type, limit=limit, cursor=cursor)
        )

    async def analytics(
        self, *, since: datetime | str | None, until: datetime | str | None, group_by: Sequence[str]
    ) -> Analytics:
        manager = self.engine.manager
        return await self.host.thread.hop(manager.analytics(since=since, until=until, group_by=group_by))

    async def cache_stats(self) -> CacheStats:
        return await self.host.thread.hop(self.engine.manager.cache.stats())

    async def clear_cache(self) -> int:
        return await self.host.thread.hop(self.engine.manager.cache.clear())

    async def catalog(self) -> dict[str, Any]:
        # read from the job store on the engine's loop: entries other processes saved count too
        described: dict[str, Any] = await self.host.thread.hop(self.engine.catalog.listing())
        return described

    async def delete_catalog_entry(self, kind: str, name: str) -> None:
        # the catalog checks the kind itself (InvalidInput on `kind`)
        await self.host.thread.hop(self.engine.catalog.remove(cast("Kind", kind), name))

    async def cancel(self, job_id: str) -> JobRecord:
        return await self.host.thread.hop(self.engine.manager.cancel(job_id))

    async def delete(self, job_id: str) -> None:
        await self.host.thread.hop(self.engine.manager.delete(job_id))

    async def metrics(self) -> dict[str, Any]:
        figures: dict[str, Any] = await self.host.thread.hop(self.engine.manager.metrics())
        return figures

    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        events = self._events_on_host(job_id)  # stepped only on the host's loop
        try:
            while True:
                try:
                    event = await self.host.thread.hop(_next(events))
                except StopAsyncIteration:
                    return
                yield event
        finally:
            await self.host.thread.hop(events.aclose())

    async def _events_on_host(self, job_id: str) -> AsyncGenerator[JobEvent, None]:
        seen = EventDeduper()
        manager = self.engine.manager
        while True:
            # A subscription whose reader fell behind is closed as overflowed: subscribe again, which
            # starts with the current state, and skip what was delivered already.
            with await manager.subscribe([job_id]) as sub:
                try:
                    async for event in sub:
                        if not seen.is_new(event):
                            continue
                        yield event
                        if event.is_terminal:
                            return
                except SubscriptionClosed:
                    continue  # overflowed (a plain close ends the iteration instead)
            return  # the engine is stopping

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self.host.release)  # the last user stops the engine: not on this loop


async def _next(events: Any) -> JobEvent:
    event: JobEvent = await events.__anext__()
    return event
