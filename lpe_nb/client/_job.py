""":class:`AsyncJob`: an async handle on one job, kept up to date by the events it reads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterable
from dataclasses import replace
from typing import Any, TypeVar

from lpe_nb._aio import with_timeout
from lpe_nb.errors import JobFailed, LpeError
from lpe_nb.jobs import JobEvent, JobRecord, JobStatus, Progress, StepRecord

from ._backend import Backend
from ._display import mimebundle

__all__ = ["AsyncJob", "JobList", "summary"]

T = TypeVar("T")


def summary(data: JobRecord) -> str:
    """One line: type, short id, status and percentage."""
    return f"<Job {data.type} {data.id[:8]} {data.status.value} {data.progress.percentage:g}%>"


class JobList(list[T]):
    """A page of job handles, newest first; ``next_cursor`` fetches the next page (None at the end)."""

    def __init__(self, jobs: Iterable[T], next_cursor: str | None) -> None:
        super().__init__(jobs)
        self.next_cursor = next_cursor


class AsyncJob:
    """A job handle: ``status``, ``progress``, ``result``, ``steps``; ``await job`` waits for it.

    The attributes are the last state read (on creation, :meth:`refresh`, or while :meth:`events` or
    :meth:`wait` run). Use it on the loop of the client that made it.
    """

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

    @property
    def result(self) -> Any:
        """The result of a completed job; raises :class:`JobFailed` if it failed or was cancelled, and
        :class:`LpeError` if it has not finished (``await job.wait()`` first)."""
        return _result_of(self.data)

    async def refresh(self) -> AsyncJob:
        """Read the job and its steps again; returns self."""
        self.data, self.steps = await self._backend.get(self.id)
        return self

    async def events(self) -> AsyncIterator[JobEvent]:
        """The current state, then live events in order, ending with the terminal status."""
        async for event in self._backend.events(self.id):
            self._apply(event)
            yield event

    async def wait(self, timeout: float | None = None) -> AsyncJob:
        """Wait until the job finishes (``timeout`` in seconds, ``TimeoutError`` after it); returns self.

        Raises :class:`JobFailed` if it ended failed or cancelled.
        """
        if not self.is_terminal:
            try:
                await with_timeout(self._until_terminal(), timeout)
            except TimeoutError:
                raise TimeoutError(f"job {self.id} did not finish within {timeout} s") from None
        await self.refresh()
        _result_of(self.data)  # raises JobFailed
        return self

    async def _until_terminal(self) -> None:
        async for event in self.events():
            if event.is_terminal:
                return

    def __await__(self) -> Generator[Any, None, AsyncJob]:
        return self.wait().__await__()

    async def cancel(self) -> AsyncJob:
        """Cancel the job (a running one stops in its current step); returns self with the new status."""
        self.data = await self._backend.cancel(self.id)
        return self

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
        """A live progress widget in a notebook (watching on the kernel's loop); one line elsewhere."""
        return mimebundle(self, repr(self), include, exclude)


def _result_of(data: JobRecord) -> Any:
    if data.status is JobStatus.COMPLETED:
        return data.result_data
    if data.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise JobFailed(data.id, data.status.value, data.error_message)
    raise LpeError(f"job {data.id} is {data.status.value}; wait for it before reading its result")
