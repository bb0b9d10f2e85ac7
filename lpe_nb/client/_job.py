"""Job handles: :class:`AsyncJob` (``await``) and :class:`Job` (blocking), over one :class:`BaseJob`.

The base holds everything that is not I/O: the record last read, its steps, the properties, folding in
events, the display. Each verb is written once, as a coroutine on the base (``_wait``, ``_refresh``...);
``AsyncJob`` awaits it and ``Job`` runs it on its client's loop thread.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from lpe_nb._aio import with_timeout
from lpe_nb._loop_thread import LoopThread
from lpe_nb.errors import JobFailed, LpeError
from lpe_nb.jobs import JobEvent, JobRecord, JobStatus, Progress, StepRecord
from lpe_nb.operations.spec import merged_input

from ._backend import Backend, SubmitOptions
from ._display import mimebundle

__all__ = ["AsyncJob", "BaseJob", "Job", "JobList", "summary"]

_THEN_OPTIONS = ("priority", "max_attempts", "run_at", "delay_s", "cache")  # then()'s submit options

T = TypeVar("T")


def summary(data: JobRecord) -> str:
    """One line: type, short id, status and percentage."""
    return f"<Job {data.type} {data.id[:8]} {data.status.value} {data.progress.percentage:g}%>"


class JobList(list[T]):
    """A page of job handles, newest first; ``next_cursor`` fetches the next page (None at the end)."""

    def __init__(self, jobs: Iterable[T], next_cursor: str | None) -> None:
        super().__init__(jobs)
        self.next_cursor = next_cursor


class BaseJob:
    """What both handles share: ``status``, ``progress``, ``result``, ``steps``, as last read (on
    creation, on refresh, or while events are read)."""

    def __init__(self, backend: Backend, data: JobRecord, steps: list[StepRecord] | None = None) -> None:
        self._backend = backend
        self.data = data
        self.steps: list[StepRecord] = list(steps or [])

    @property
    def id(self) -> str:
        return self.data.id

    @property
    def type(self) -> str:
        return self.data.type

    @property
    def priority(self) -> int:
        """Higher starts first among pending jobs (as last read)."""
        return self.data.priority

    @property
    def scheduled_at(self) -> datetime | None:
        """When this pending job may start (UTC), if it waits for a time; None once it may (as last read)."""
        at = self.data.scheduled_at
        return None if at is None else datetime.fromisoformat(at)

    @property
    def depends_on(self) -> tuple[str, ...]:
        """The ids of the jobs this one waits for, or waited for (docs/chains.md)."""
        return self.data.depends_on

    @property
    def status(self) -> JobStatus:
        return self.data.status

    @property
    def progress(self) -> Progress:
        """The last progress seen: ``percentage`` (0..100), ``current_step``, ``completed_steps``..."""
        return self.data.progress

    @property
    def error_message(self) -> str | None:
        return self.data.error_message

    @property
    def is_terminal(self) -> bool:
        return self.data.is_terminal

    def _result(self) -> Any:
        if self.data.status is JobStatus.COMPLETED:
            return self.data.result_data
        if self.data.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise JobFailed(self.data.id, self.data.status.value, self.data.error_message)
        raise LpeError(
            f"job {self.data.id} is {self.data.status.value}; wait for it before reading its result"
        )

    # -- the verbs, once -------------------------------------------------------------------------------

    async def _refresh(self) -> None:
        self.data, self.steps = await self._backend.get(self.id)

    async def _events(self) -> AsyncIterator[JobEvent]:
        async for event in self._backend.events(self.id):
            self._apply(event)
            yield event

    async def _wait(self, timeout: float | None) -> None:
        if not self.is_terminal:
            try:
                await with_timeout(self._until_terminal(), timeout)
            except TimeoutError:
                raise TimeoutError(f"job {self.id} did not finish within {timeout} s") from None
        await self._refresh()
        self._result()  # raises JobFailed

    async def _until_terminal(self) -> None:
        async for event in self._events():
            if event.is_terminal:
                return

    async def _then(
        self,
        job_type: str,
        input_data: dict[str, Any] | None,
        inputs_from: Mapping[str, str] | None,
        options: dict[str, Any],
    ) -> tuple[JobRecord, list[StepRecord]]:
        own = {name: f"{self.id}.{path}" if path else self.id for name, path in (inputs_from or {}).items()}
        fields = {name: options.pop(name) for name in list(options) if name not in _THEN_OPTIONS}
        job_id = await self._backend.submit(
            job_type,
            merged_input(input_data, fields),
            SubmitOptions(depends_on=[self.id], inputs_from=own or None, **options),
        )
        return await self._backend.get(job_id)

    async def _cancel(self) -> None:
        self.data = await self._backend.cancel(self.id)

    async def _set_priority(self, priority: int) -> None:
        self.data = await self._backend.set_priority(self.id, priority)

    def _apply(self, event: JobEvent) -> None:
        if event.seq < self.data.seq:
            return
        if event.kind == "status" and event.status is not None:
            self.data = replace(
                self.data,
                status=event.status,
                result_data=event.result_data,
                error_message=event.error_message,
                seq=event.seq,
            )
        elif event.progress is not None:
            self.data = replace(self.data, progress=event.progress, seq=event.seq)

    def __repr__(self) -> str:
        return summary(self.data)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """A live progress widget in a notebook (once :mod:`lpe_nb.widgets` is imported); one line elsewhere."""
        return mimebundle(self, repr(self), include, exclude)


class AsyncJob(BaseJob):
    """A job handle for async code: ``await job`` waits for it. Use it on its client's loop."""

    @property
    def result(self) -> Any:
        """The result of a completed job; raises :class:`JobFailed` if it failed or was cancelled, and
        :class:`LpeError` if it has not finished (``await job.wait()`` first)."""
        return self._result()

    async def refresh(self) -> AsyncJob:
        """Read the job and its steps again; returns self."""
        await self._refresh()
        return self

    def events(self) -> AsyncIterator[JobEvent]:
        """The current state, then live events in order, ending with the terminal status."""
        return self._events()

    async def wait(self, timeout: float | None = None) -> AsyncJob:
        """Wait until the job finishes (``TimeoutError`` after ``timeout`` s); raises :class:`JobFailed`
        if it ended failed or cancelled. Returns self."""
        await self._wait(timeout)
        return self

    def __await__(self) -> Generator[Any, None, AsyncJob]:
        return self.wait().__await__()

    async def cancel(self) -> AsyncJob:
        """Cancel the job (a running one stops in its current step); returns self with the new status."""
        await self._cancel()
        return self

    async def then(
        self,
        job_type: str,
        input_data: dict[str, Any] | None = None,
        /,
        *,
        inputs_from: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> AsyncJob:
        """Submit a ``job_type`` job that waits for this one and takes its result: by the type's declared
        mapping (a projection's ``final_projection`` becomes a translation's ``text``...), or by
        ``inputs_from`` (``{field: "<path in this job's result>"}``). ``fields`` are its input and the
        submit options (``priority``, ``max_attempts``, ``run_at``, ``delay_s``, ``cache``). If this job
        fails or is cancelled, the new one is cancelled. Returns its handle (docs/chains.md)."""
        data, steps = await self._then(job_type, input_data, inputs_from, fields)
        return AsyncJob(self._backend, data, steps)

    async def set_priority(self, priority: int) -> AsyncJob:
        """Change the priority of this pending job; raises :class:`InvalidTransition` once it is not
        pending. Returns self."""
        await self._set_priority(priority)
        return self


class Job(BaseJob):
    """A job handle whose verbs block (on its client's private loop, never the caller's);
    ``await job`` also works and does not block the awaiting loop."""

    def __init__(
        self, backend: Backend, data: JobRecord, steps: list[StepRecord] | None, runner: LoopThread
    ) -> None:
        super().__init__(backend, data, steps)
        self._runner = runner

    @property
    def result(self) -> Any:
        """The result; reads the job again if it had not finished when last seen. Raises :class:`JobFailed`
        for a failed or cancelled job, :class:`LpeError` for one still running."""
        if not self.is_terminal:
            self.refresh()
        return self._result()

    def refresh(self) -> Job:
        self._runner.run(self._refresh())
        return self

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job finishes (``TimeoutError`` after ``timeout`` s); raises :class:`JobFailed`."""
        self._runner.run(self._wait(timeout))
        return self

    def cancel(self) -> Job:
        self._runner.run(self._cancel())
        return self

    def then(
        self,
        job_type: str,
        input_data: dict[str, Any] | None = None,
        /,
        *,
        inputs_from: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> Job:
        """Submit a ``job_type`` job that waits for this one and takes its result (see
        :meth:`AsyncJob.then`); returns its handle."""
        data, steps = self._runner.run(self._then(job_type, input_data, inputs_from, fields))
        return Job(self._backend, data, steps, self._runner)

    def set_priority(self, priority: int) -> Job:
        """Change the priority of this pending job; raises :class:`InvalidTransition` once it is not
        pending. Returns self."""
        self._runner.run(self._set_priority(priority))
        return self

    def events(self) -> Iterator[JobEvent]:
        """The current state, then live events, ending with the terminal status (blocking iterator)."""
        events = self._events()
        try:
            while True:
                try:
                    yield self._runner.run(_next(events))
                except StopAsyncIteration:
                    return
        finally:
            self._runner.run(events.aclose())  # type: ignore[attr-defined]  # an async generator

    def watch(self, on_event: Callable[[JobEvent], None]) -> concurrent.futures.Future[None]:
        """Call ``on_event(event)`` for the current state and each live event, on the client's loop
        thread, until the terminal status; returns at once. Cancel the future to stop watching."""

        async def pump() -> None:
            async for event in self._events():
                on_event(event)

        return self._runner.spawn(pump())

    def __await__(self) -> Generator[Any, None, Job]:
        yield from self._runner.hop(self._wait(None)).__await__()
        return self


async def _next(events: Any) -> JobEvent:
    """The next event of an async iterator, as a coroutine another thread can hand to this loop."""
    event: JobEvent = await events.__anext__()
    return event
