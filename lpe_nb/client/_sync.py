""":class:`Client`: the async client's API, synchronous, run on one private event-loop thread.

The caller's event loop (a Jupyter kernel's, say) is never used, patched or re-entered: each call is
handed to the client's own loop with ``asyncio.run_coroutine_threadsafe`` and the caller blocks on the
result. So it works from plain scripts and from code running inside a loop alike.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

from lpe_nb.jobs import JobEvent, JobRecord, JobStatus, Progress, StepRecord

from ._async_client import AsyncClient
from ._display import mimebundle
from ._job import AsyncJob, JobList, summary

__all__ = ["Client", "Job"]

T = TypeVar("T")
_JOIN_TIMEOUT_S = 10.0
_share_lock = threading.Lock()


class _LoopThread:
    """One daemon thread running one event loop until :meth:`stop`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="lpe-client-loop", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the private loop and block for its result; an interrupt cancels it."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a sync Client call from its own loop thread would deadlock; use AsyncClient")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt in a notebook: stop the work too
            raise

    def spawn(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the private loop without waiting; cancel the returned future to stop it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def submit(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """``coro`` on the private loop, as a future of the *calling* loop (for ``await``)."""
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        if self._thread.is_alive():
            self.run(self.loop.shutdown_asyncgens())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(_JOIN_TIMEOUT_S)
        if not self._thread.is_alive():
            self.loop.close()


class Job:
    """The sync twin of :class:`AsyncJob`: the same attributes; ``wait``, ``cancel``, ``refresh`` block.

    ``await job`` also works (it waits on the client's thread without blocking the awaiting loop).
    """

    def __init__(self, job: AsyncJob, runner: _LoopThread) -> None:
        self._job = job
        self._runner = runner

    @property
    def data(self) -> JobRecord:
        """The job's record as last read (title, input, times...)."""
        return self._job.data

    @property
    def id(self) -> str:
        return self._job.id

    @property
    def type(self) -> str:
        return self._job.type

    @property
    def status(self) -> JobStatus:
        return self._job.status

    @property
    def progress(self) -> Progress:
        return self._job.progress

    @property
    def steps(self) -> list[StepRecord]:
        return self._job.steps

    @property
    def error_message(self) -> str | None:
        return self._job.error_message

    @property
    def is_terminal(self) -> bool:
        return self._job.is_terminal

    @property
    def result(self) -> Any:
        """The result; reads the job again if it had not finished when last seen. Raises :class:`JobFailed`
        for a failed or cancelled job, :class:`LpeError` for one still running."""
        if not self._job.is_terminal:
            self.refresh()
        return self._job.result

    def refresh(self) -> Job:
        self._runner.run(self._job.refresh())
        return self

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job finishes (``TimeoutError`` after ``timeout`` s); raises :class:`JobFailed`."""
        self._runner.run(self._job.wait(timeout))
        return self

    def cancel(self) -> Job:
        self._runner.run(self._job.cancel())
        return self

    def events(self) -> Iterator[JobEvent]:
        """The current state, then live events, ending with the terminal status (blocking iterator)."""
        events = self._job.events()
        try:
            while True:
                try:
                    yield self._runner.run(next_event(events))
                except StopAsyncIteration:
                    return
        finally:
            self._runner.run(events.aclose())  # type: ignore[attr-defined]  # an async generator

    def watch(self, on_event: Callable[[JobEvent], None]) -> concurrent.futures.Future[None]:
        """Call ``on_event(event)`` for the current state and each live event, on the client's loop
        thread, until the terminal status; returns at once. Cancel the future to stop watching."""

        async def pump() -> None:
            async for event in self._job.events():
                on_event(event)

        return self._runner.spawn(pump())

    def __await__(self) -> Generator[Any, None, Job]:
        yield from self._runner.submit(self._job.wait()).__await__()
        return self

    def __repr__(self) -> str:
        return summary(self._job.data)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """A live progress widget in a notebook; one line elsewhere."""
        return mimebundle(self, repr(self), include, exclude)


async def next_event(events: Any) -> JobEvent:
    """The next event of an async iterator, as a coroutine another thread can hand to this loop."""
    event: JobEvent = await events.__anext__()
    return event


class Client:
    """The sync API: the same methods as :class:`AsyncClient`, returning :class:`Job` handles.

    ``connector`` makes the async client; it runs on the private loop, which owns every connection.
    Thread-safe: calls from several threads are serialized by the private loop.
    """

    def __init__(self, connector: Callable[[], Awaitable[AsyncClient]]) -> None:
        self._runner = _LoopThread()
        try:
            self._client = self._runner.run(_await(connector()))
        except BaseException:
            self._runner.stop()
            raise
        self._users = [1]  # shared by share(): the open handles on this runner and client
        self._closed = False

    def share(self) -> Client:
        """Another handle on the same connection (or embedded engine); each handle is closed once."""
        twin = object.__new__(Client)
        twin._runner, twin._client, twin._users, twin._closed = self._runner, self._client, self._users, False
        with _share_lock:
            self._users[0] += 1
        return twin

    @property
    def closed(self) -> bool:
        return self._closed or self._runner.loop.is_closed()

    @classmethod
    def remote(cls, url: str, token: str | None = None, **options: Any) -> Client:
        async def connector() -> AsyncClient:
            return AsyncClient.remote(url, token, **options)

        return cls(connector)

    @classmethod
    def embedded(cls, db_path: Any = None, **options: Any) -> Client:
        """An engine in this process on ``db_path``; ``options`` as for :meth:`AsyncClient.embedded`."""
        return cls(lambda: AsyncClient.embedded(db_path, **options))

    @property
    def location(self) -> str:
        return self._client.location

    def _job(self, coro: Coroutine[Any, Any, AsyncJob]) -> Job:
        return Job(self._runner.run(coro), self._runner)

    def projection(
        self,
        narrative: str,
        *,
        persona: str | None = None,
        namespace: str | None = None,
        style: str | None = None,
    ) -> Job:
        return self._job(
            self._client.projection(narrative, persona=persona, namespace=namespace, style=style)
        )

    def translation(
        self, text: str, intermediate_language: str, *, source_language: str | None = None
    ) -> Job:
        return self._job(
            self._client.translation(text, intermediate_language, source_language=source_language)
        )

    def multi_translation(
        self, text: str, intermediate_languages: Sequence[str], *, source_language: str | None = None
    ) -> Job:
        return self._job(
            self._client.multi_translation(text, intermediate_languages, source_language=source_language)
        )

    def maieutic(self, narrative: str, *, goal: str | None = None, max_turns: int | None = None) -> Job:
        return self._job(self._client.maieutic(narrative, goal=goal, max_turns=max_turns))

    def maieutic_answer(
        self, session_id: str, answers: list[str], *, project: bool = False, **config: str
    ) -> Job:
        return self._job(self._client.maieutic_answer(session_id, answers, project=project, **config))

    def configure(self, attribute: str, brief: str, context: str | None = None) -> Job:
        return self._job(self._client.configure(attribute, brief, context))

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
        return JobList((Job(job, self._runner) for job in found), found.next_cursor)

    def catalog(self) -> dict[str, Any]:
        return self._runner.run(self._client.catalog())

    def cancel(self, job_id: str) -> Job:
        return self._job(self._client.cancel(job_id))

    def delete(self, job_id: str) -> None:
        self._runner.run(self._client.delete(job_id))

    def run_background(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run an async-client coroutine on the private loop without blocking (widgets poll this way);
        ``client.async_client`` is the :class:`AsyncClient` to call. Cancel the future to stop it."""
        return self._runner.spawn(coro)

    @property
    def async_client(self) -> AsyncClient:
        """The async client living on the private loop; use it only inside :meth:`run_background`."""
        return self._client

    def close(self) -> None:
        """Close the connections (or stop the embedded engine) and the private thread, once the last
        shared handle is closed. Idempotent."""
        with _share_lock:
            if self._closed:
                return
            self._closed = True
            self._users[0] -= 1
            if self._users[0] > 0 or self._runner.loop.is_closed():
                return
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
