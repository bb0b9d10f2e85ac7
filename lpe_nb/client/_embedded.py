""":class:`EmbeddedBackend`: jobs run by an engine inside this process (:func:`lpe_nb.embedded.open_engine`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

from lpe_nb.embedded import Engine, open_engine
from lpe_nb.jobs import JobEvent, JobPage, JobRecord, ManagerSettings, StepRecord, SubscriptionClosed
from lpe_nb.llm import LLM, LlmSettings

from ._backend import EventDeduper

__all__ = ["EmbeddedBackend"]


class EmbeddedBackend:
    """A :class:`~lpe_nb.client._backend.Backend` over an in-process engine; open with :meth:`open`.

    Not thread-safe: use it on the loop that opened it (the sync ``Client`` guarantees this).
    """

    def __init__(self, engine: Engine, stack: contextlib.AsyncExitStack, location: str) -> None:
        self.engine = engine
        self._stack = stack
        self._location = location

    @classmethod
    async def open(
        cls,
        db_path: str | os.PathLike[str] | None = None,
        *,
        llm: LLM | None = None,
        llm_settings: LlmSettings | None = None,
        settings: ManagerSettings | None = None,
    ) -> EmbeddedBackend:
        """Start an engine on ``db_path`` (default ``~/.lpe/jobs.db`` or ``$LPE_DB_PATH``)."""
        stack = contextlib.AsyncExitStack()
        try:
            engine = await stack.enter_async_context(
                open_engine(db_path, llm=llm, llm_settings=llm_settings, settings=settings)
            )
        except BaseException:
            await stack.aclose()
            raise
        return cls(engine, stack, engine.manager.store.location)

    @property
    def location(self) -> str:
        return self._location

    async def submit(self, job_type: str, data: dict[str, Any]) -> str:
        return await self.engine.manager.submit(job_type, data)

    async def get(self, job_id: str) -> tuple[JobRecord, list[StepRecord]]:
        return await self.engine.manager.get_with_steps(job_id)

    async def list_jobs(
        self, *, status: Sequence[str] | None, job_type: str | None, limit: int, cursor: str | None
    ) -> JobPage:
        return await self.engine.manager.list_jobs(
            status=status, job_type=job_type, limit=limit, cursor=cursor
        )

    async def catalog(self) -> dict[str, Any]:
        return self.engine.catalog.describe()

    async def cancel(self, job_id: str) -> JobRecord:
        return await self.engine.manager.cancel(job_id)

    async def delete(self, job_id: str) -> None:
        await self.engine.manager.delete(job_id)

    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        seen = EventDeduper()
        while True:
            # A subscription whose reader fell behind is closed as overflowed: subscribe again, which
            # starts with the current state, and skip what was delivered already.
            with await self.engine.manager.subscribe([job_id]) as sub:
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
        await self._stack.aclose()
