""":class:`BridgedBackend`: an async backend for any event loop over a sync :class:`Client`'s engine.

A database has one dispatching engine per process. ``aconnect()`` without a server therefore does not start
a second engine on the caller's loop: it shares the one ``connect()`` runs on its private loop thread, and
each call hops there and back (``asyncio.wrap_future``), so the caller's loop never blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any, TypeVar

from lpe_nb.jobs import JobEvent, JobPage, JobRecord, StepRecord

from ._backend import Backend
from ._sync import Client, next_event

__all__ = ["BridgedBackend"]

T = TypeVar("T")


class BridgedBackend:
    """The backend of ``client`` (a shared handle, closed with this backend), usable from any loop."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._inner: Backend = client.async_client.backend

    @property
    def location(self) -> str:
        return self._inner.location

    async def _there(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the client's loop; cancelling the caller cancels it there too."""
        return await asyncio.wrap_future(self._client.run_background(coro))

    async def submit(self, job_type: str, data: dict[str, Any]) -> str:
        return await self._there(self._inner.submit(job_type, data))

    async def get(self, job_id: str) -> tuple[JobRecord, list[StepRecord]]:
        return await self._there(self._inner.get(job_id))

    async def list_jobs(
        self, *, status: Sequence[str] | None, job_type: str | None, limit: int, cursor: str | None
    ) -> JobPage:
        return await self._there(
            self._inner.list_jobs(status=status, job_type=job_type, limit=limit, cursor=cursor)
        )

    async def catalog(self) -> dict[str, Any]:
        return await self._there(self._inner.catalog())

    async def cancel(self, job_id: str) -> JobRecord:
        return await self._there(self._inner.cancel(job_id))

    async def delete(self, job_id: str) -> None:
        await self._there(self._inner.delete(job_id))

    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        events = self._inner.events(job_id)  # an async generator, stepped only on the client's loop
        try:
            while True:
                try:
                    event = await self._there(next_event(events))
                except StopAsyncIteration:
                    return
                yield event
        finally:
            await self._there(events.aclose())  # type: ignore[attr-defined]  # an async generator

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)  # the last handle stops the engine: not on this loop
