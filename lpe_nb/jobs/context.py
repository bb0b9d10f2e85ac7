"""StepContext: what a running operation sees of the engine.

An operation reports progress (published at once, persisted throttled), streams partial text, and runs its
work as named steps: each finished step is persisted before the next starts, and on a resumed job a step
that already finished returns its stored output instead of running again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

from lpe_nb.errors import JobInterrupted
from lpe_nb.jobs.model import JobRecord, Progress, StepRecord, to_iso

__all__ = ["JobInterrupted", "RunState", "StepContext"]

T = TypeVar("T")


@dataclass(eq=False)
class RunState:
    """The manager's in-memory view of one job it is running."""

    job: JobRecord
    owner: str
    seq: int  # the last sequence number handed out
    progress: Progress
    published_seq: int = 0  # the last sequence number subscribers have been sent
    live_progress: Progress | None = None  # the last progress sent, streamed text included
    finished: dict[str, StepRecord] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    in_operation: bool = False
    slot_released: bool = False
    cancel_requested: bool = False
    progress_dirty: bool = False

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


class ContextHost(Protocol):
    """The part of the manager a StepContext uses."""

    stream_interval_s: float

    @property
    def stopping(self) -> bool: ...

    def now(self) -> datetime: ...

    def publish_progress(self, run: RunState, progress: Progress, *, persist: bool) -> None: ...

    def is_watched(self, job_id: str) -> bool: ...

    async def save_step(self, run: RunState, record: StepRecord) -> None: ...


class StepContext:
    """Handed to an operation as its first argument; not shared between jobs."""

    def __init__(self, run: RunState, host: ContextHost, parsed_input: Any) -> None:
        self._run = run
        self._host = host
        self.input = parsed_input
        self._step_usage: dict[str, int] = {}
        self._last_stream_at = 0.0
        self.resumed_steps: frozenset[str] = frozenset(run.finished)

    @property
    def job_id(self) -> str:
        return self._run.job.id

    @property
    def job_type(self) -> str:
        return self._run.job.type

    @property
    def attempt(self) -> int:
        return self._run.job.attempts

    @property
    def steps(self) -> list[StepRecord]:
        """The finished steps so far, in order (including those restored on resume)."""
        return sorted(self._run.finished.values(), key=lambda s: s.index)

    @property
    def usage(self) -> dict[str, int]:
        """Token usage summed over every finished step of the job."""
        total: dict[str, int] = {}
        for step in self._run.finished.values():
            for key, value in step.usage.items():
                total[key] = total.get(key, 0) + value
        return total

    def report(
        self, current_step: str, *, completed_steps: int, total_steps: int, details: Any = None
    ) -> None:
        """Report where the job is. The percentage never goes down and never passes 100."""
        previous = self._run.progress
        progress = Progress(
            current_step=current_step,
            total_steps=total_steps,
            completed_steps=max(completed_steps, previous.completed_steps)
            if total_steps == previous.total_steps
            else completed_steps,
            percentage=max(previous.percentage, Progress.percent_of(completed_steps, total_steps)),
            details=details,
            timestamp=to_iso(self._host.now()),
            seq=self._run.next_seq(),
        )
        self._host.publish_progress(self._run, progress, persist=True)

    def stream_text(self, partial_text: str, *, final: bool = False) -> None:
        """Publish the text generated so far in the current step (at most every ``stream_interval_s``).

        Streamed text rides on progress events and is never persisted; only the step's output is.
        """
        if final or self._stream_due():
            self._publish_stream(partial_text)

    def text_streamer(self) -> Callable[[str], None] | None:
        """An ``on_delta`` callback for an LLM call that accumulates deltas and streams the text so far.

        None when nobody watches this job: a streamed reply costs the client far more CPU per call than a
        plain one, and a batch of unwatched jobs should not pay for text no one sees.
        """
        if not self._host.is_watched(self.job_id):
            return None
        parts: list[str] = []

        def on_delta(delta: str) -> None:
            if not delta:  # the LLM retried after a broken stream: its reply starts over
                parts.clear()
            parts.append(delta)
            if self._stream_due():  # join only when publishing: a long reply has thousands of deltas
                self._publish_stream("".join(parts))

        return on_delta

    def _stream_due(self) -> bool:
        return time.monotonic() - self._last_stream_at >= self._host.stream_interval_s

    def _publish_stream(self, partial_text: str) -> None:
        self._last_stream_at = time.monotonic()
        base = self._run.progress
        details = dict(base.details) if isinstance(base.details, Mapping) else {"step": base.details}
        details["partial_text"] = partial_text
        progress = replace(
            base, details=details, timestamp=to_iso(self._host.now()), seq=self._run.next_seq()
        )
        self._host.publish_progress(self._run, progress, persist=False)

    def add_usage(self, usage: Mapping[str, int]) -> None:
        """Attribute token usage to the step that is running."""
        for key, value in usage.items():
            self._step_usage[key] = self._step_usage.get(key, 0) + int(value)

    def finished_step(self, name: str) -> StepRecord | None:
        return self._run.finished.get(name)

    async def run_step(self, name: str, work: Callable[[], Awaitable[T]], *, input: Any = None) -> T:
        """Run ``work`` as the checkpointed step ``name`` (unique within the job) and return its output.

        If the step finished in an earlier attempt, its stored output is returned and ``work`` is not run.
        The output must be JSON-serializable; it is stored before this returns.
        """
        done = self._run.finished.get(name)
        if done is not None:
            restored: T = done.output
            return restored
        if self._host.stopping:
            raise JobInterrupted(
                f"job {self.job_id} interrupted before step {name!r}: the manager is stopping"
            )
        self._step_usage = {}
        started = self._host.now()
        clock = time.perf_counter()
        output = await work()
        record = StepRecord(
            job_id=self.job_id,
            index=len(self._run.finished),
            name=name,
            input=input,
            output=output,
            usage=dict(self._step_usage),
            started_at=to_iso(started),
            completed_at=to_iso(self._host.now()),
            duration_ms=round((time.perf_counter() - clock) * 1000),
            attempt=self.attempt,
        )
        await self._host.save_step(self._run, record)
        self._run.finished[name] = record
        return output
