"""StepContext: what a running operation sees of the engine.

An operation reports progress (published at once to whoever watches the job, persisted throttled; a
report nobody takes at once is built only if it is read before the next one replaces it), streams partial
text, and runs its work as named steps: each finished step is persisted before the next starts, and on a
resumed job a step that already finished returns its stored output instead of running again. An operation
that plans its steps (:meth:`StepContext.plan`) gets progress weighted by how long each step is expected to
take, and a time-left estimate in every report's details.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeVar

from lpe_nb.errors import InvalidInput, JobInterrupted
from lpe_nb.jobs._timings import StepPlan
from lpe_nb.jobs.events import JobEvent
from lpe_nb.jobs.model import JobRecord, Progress, StepRecord, to_iso

__all__ = ["JobInterrupted", "RunState", "StepContext"]

T = TypeVar("T")


@dataclass(eq=False)
class RunState:
    """The manager's in-memory view of one job it is running."""

    job: JobRecord
    owner: str
    seq: int  # the last sequence number handed out
    # The latest progress reported, whose numbers (step, counts, percentage, seq) are always current; a
    # report nobody takes at once keeps its details and timestamp unbuilt until `progress` is read.
    reported: Progress
    published_seq: int = 0  # the last sequence number subscribers have been sent
    live_progress: Progress | None = None  # the last progress sent, streamed text included
    # the snapshot last sent to a watcher, for (job, published_seq, progress): 300 clients watching at
    # once share its events and their frames (issue 15)
    snapshot: tuple[JobRecord, int, Progress, tuple[JobEvent, ...]] | None = None
    finished: dict[str, StepRecord] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    in_operation: bool = False
    slot_released: bool = False
    cancel_requested: bool = False
    progress_dirty: bool = False
    _unbuilt: Callable[[], Progress] | None = None  # builds `reported` in full

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    @property
    def progress(self) -> Progress:
        """The latest progress reported, built in full (the first read of a deferred report builds it)."""
        build = self._unbuilt
        if build is not None:
            self._unbuilt = None
            self.reported = build()
        return self.reported

    @progress.setter
    def progress(self, progress: Progress) -> None:
        self.reported, self._unbuilt = progress, None

    def defer_progress(self, numbers: Progress, build: Callable[[], Progress]) -> None:
        """Make ``numbers`` the latest progress, with ``build()`` (the same numbers, its details and
        timestamp) run only if it is read before the next report replaces it (issue 16: most reports of an
        unwatched job are superseded before the throttled save reads one)."""
        self.reported, self._unbuilt = numbers, build

    def progress_builder(self) -> Callable[[], Progress]:
        """What builds the latest progress, now or later (for a report derived from it)."""
        build = self._unbuilt
        if build is not None:
            return build
        progress = self.reported
        return lambda: progress


class _Moment(NamedTuple):
    """What a report's details depend on, taken when it is made, so that they can be built later (a named
    tuple: made at every report, and half the cost of a frozen dataclass)."""

    finished_count: int  # run.finished only grows, in order: its first entries then
    running: tuple[str, float] | None  # the step under way and when it began (monotonic)
    running_hits: int  # cache hits of that step so far
    monotonic: float
    wall: datetime


class ContextHost(Protocol):
    """The part of the manager a StepContext uses."""

    stream_interval_s: float

    @property
    def stopping(self) -> bool: ...

    def now(self) -> datetime: ...

    def publish_progress(self, run: RunState, progress: Progress, *, persist: bool) -> None: ...

    def report_progress(self, run: RunState, numbers: Progress, build: Callable[[], Progress]) -> None: ...

    def is_watched(self, job_id: str) -> bool: ...

    async def save_step(self, run: RunState, record: StepRecord) -> None: ...

    async def expected_step_seconds(self, job_type: str, model: str | None) -> Mapping[str, float]: ...


class StepContext:
    """Handed to an operation as its first argument; not shared between jobs."""

    def __init__(self, run: RunState, host: ContextHost, parsed_input: Any) -> None:
        self._run = run
        self._host = host
        self.input = parsed_input
        self._step_usage: dict[str, int] = {}
        self._step_model: str | None = None
        self._step_cost_usd: float | None = None
        self._last_stream_at = 0.0
        self.resumed_steps: frozenset[str] = frozenset(run.finished)
        self._plan: StepPlan | None = None
        self._running: tuple[str, float] | None = None  # the step under way, and when (monotonic) it began
        self._after_step: list[Callable[[], Awaitable[None]]] = []  # run once the running step is saved
        # The last cache hit's deferred report and the progress it adds its count to (see record_llm_call)
        self._last_hit: tuple[Callable[[], Progress], Callable[[], Progress]] | None = None

    @property
    def job_id(self) -> str:
        return self._run.job.id

    @property
    def job_type(self) -> str:
        return self._run.job.type

    @property
    def username(self) -> str | None:
        """Who submitted the job (None: unknown), for what it makes on their behalf (a catalog entry)."""
        return self._run.job.username

    @property
    def attempt(self) -> int:
        return self._run.job.attempts

    @property
    def use_cache(self) -> bool:
        """Whether this job's LLM calls may be answered from (and stored in) the result cache."""
        return self._run.job.cache

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

    async def plan(self, steps: Sequence[str], *, model: str | None = None) -> None:
        """Declare the steps this job will run (their :meth:`run_step` names, in order) and the model that
        runs them, before reporting progress.

        From then on a report's percentage is the share of the planned work done, each step weighted by
        how long it took in earlier jobs of this type on ``model`` (equal weights until there are any), so
        work that is not a planned step (set-up, saving) weighs nothing; ``completed_steps`` and
        ``total_steps`` count the planned steps unless given, and ``details`` gain ``index`` and ``of``
        (the step under way, or next), ``eta_s`` (seconds left at this report's ``timestamp``, None while
        estimating), ``eta_rest_s`` (of which the steps after that one) and ``estimated_total_s``.
        Earlier timings are read once here, from the manager's cache.
        """
        names = list(steps)
        if len(set(names)) != len(names):
            raise InvalidInput.field("steps", f"step names must be unique, got {names}")
        history = await self._host.expected_step_seconds(self.job_type, model)
        self._plan = StepPlan(names, history)

    def report(
        self,
        current_step: str,
        *,
        completed_steps: int | None = None,
        total_steps: int | None = None,
        details: Any = None,
    ) -> None:
        """Report where the job is. The percentage never goes down and never passes 100.

        Without a :meth:`plan`, ``completed_steps`` and ``total_steps`` are required and give the percentage.
        """
        plan = self._plan
        step_index = None
        if plan is None:
            if completed_steps is None or total_steps is None:
                raise TypeError("report() needs completed_steps and total_steps when no steps are planned")
            percentage = Progress.percent_of(completed_steps, total_steps)
        else:
            done = [name for name in plan.steps if name in self._run.finished]
            completed_steps = len(done) if completed_steps is None else completed_steps
            total_steps = len(plan.steps) if total_steps is None else total_steps
            percentage = plan.percentage(done)
            step_index = min(len(done) + 1, len(plan.steps))
        previous = self._run.reported
        numbers = Progress(
            current_step=current_step,
            total_steps=total_steps,
            completed_steps=max(completed_steps, previous.completed_steps)
            if total_steps == previous.total_steps
            else completed_steps,
            percentage=max(previous.percentage, percentage),
            seq=self._run.next_seq(),
        )
        moment = self._moment()
        if isinstance(details, dict):
            details = dict(details)  # as given now, whatever the operation does with its dict later

        def build() -> Progress:
            built = details
            if plan is not None:
                built = self._with_estimate(built, plan, moment, step_index=step_index)
            return _with(numbers, self._with_cache_hits(built, moment), moment)

        self._host.report_progress(self._run, numbers, build)

    def _moment(self) -> _Moment:
        running = self._running
        # the running step's hits, not yet among the finished steps' usage
        hits = self._step_usage.get("cache_hits", 0) if running is not None else 0
        return _Moment(len(self._run.finished), running, hits, time.monotonic(), self._host.now())

    def _finished_at(self, moment: _Moment) -> list[StepRecord]:
        """The steps that had finished at ``moment``."""
        return list(itertools.islice(self._run.finished.values(), moment.finished_count))

    def _with_estimate(
        self, details: Any, plan: StepPlan, moment: _Moment, *, step_index: int | None = None
    ) -> Any:
        """``details`` with the plan's step numbering (unless the operation gave its own) and the time left
        at ``moment``; details that are not a mapping are left as they are."""
        if details is not None and not isinstance(details, Mapping):
            return details
        merged: dict[str, Any] = dict(details or {})
        if step_index is not None:
            merged.setdefault("index", step_index)
            merged.setdefault("of", len(plan.steps))
        finished = {step.name: step.duration_ms / 1000 for step in self._finished_at(moment)}
        running = None
        if moment.running is not None:
            running = (moment.running[0], moment.monotonic - moment.running[1])
        merged.update(plan.estimate(finished, running).as_details())
        return merged

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
        moment = self._moment()
        if self._plan is not None:  # the time left moves on while the text streams
            details = self._with_estimate(details, self._plan, moment)
        progress = _with(base, details, moment, seq=self._run.next_seq())
        self._host.publish_progress(self._run, progress, persist=False)

    def add_usage(
        self, usage: Mapping[str, int], *, model: str | None = None, cost_usd: float | None = None
    ) -> None:
        """Attribute token usage to the step that is running, with the model that used them and what
        they cost (None: unknown; the step's cost is the sum of the known ones)."""
        for key, value in usage.items():
            self._step_usage[key] = self._step_usage.get(key, 0) + int(value)
        if model is not None:
            self._step_model = model
        if cost_usd is not None:
            self._step_cost_usd = (self._step_cost_usd or 0.0) + cost_usd

    def record_llm_call(self, *, cached: bool) -> None:
        """Count an LLM call of the running step: ``llm_calls`` in its usage, or ``cache_hits`` when the
        result cache answered it; a hit also shows at once in the job's progress (``details.cache_hits``,
        the job's hits so far), and in every later report."""
        self.add_usage({"cache_hits": 1} if cached else {"llm_calls": 1})
        if cached:
            latest = self._run.progress_builder()
            # A hit's report is the one before it with the count replaced: hits in a row, none of them read,
            # all start from the report before the first (not a chain of one closure per hit, which
            # thousands of hits would make too deep to build).
            last = self._last_hit
            base = last[1] if last is not None and last[0] is latest else latest
            numbers = _with(self._run.reported, None, None, seq=self._run.next_seq())
            moment = self._moment()

            def build() -> Progress:
                previous = base()
                return _with(numbers, self._with_cache_hits(previous.details, moment), moment)

            self._host.report_progress(self._run, numbers, build)
            self._last_hit = (build, base)

    def _with_cache_hits(self, details: Any, moment: _Moment) -> Any:
        """``details`` with the job's cache hits at ``moment``, if any (details that are not a mapping
        stay)."""
        hits = moment.running_hits + sum(
            step.usage.get("cache_hits", 0) for step in self._finished_at(moment)
        )
        if not hits or (details is not None and not isinstance(details, Mapping)):
            return details
        return {**(details or {}), "cache_hits": hits}

    def after_step(self, action: Callable[[], Awaitable[None]]) -> bool:
        """Run ``action`` once the running step is saved, and never if the step fails (what the result
        cache stores only then: a reply the step rejected is not kept). False, and nothing queued, when no
        step is running."""
        if self._running is None:
            return False
        self._after_step.append(action)
        return True

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
        self._step_usage, self._step_model, self._step_cost_usd = {}, None, None
        started = self._host.now()
        clock = time.perf_counter()
        self._running = (name, time.monotonic())
        self._after_step = []
        try:
            output = await work()
        finally:
            self._running = None
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
            model=self._step_model,
            cost_usd=self._step_cost_usd,
        )
        await self._host.save_step(self._run, record)
        self._run.finished[name] = record
        actions, self._after_step = self._after_step, []
        for action in actions:
            await action()
        return output


def _with(numbers: Progress, details: Any, moment: _Moment | None, *, seq: int | None = None) -> Progress:
    """``numbers`` with ``details``, the timestamp of ``moment`` (none: the same) and ``seq`` (none: the
    same); built directly: ``dataclasses.replace`` reads every field by name first."""
    return Progress(
        current_step=numbers.current_step,
        total_steps=numbers.total_steps,
        completed_steps=numbers.completed_steps,
        percentage=numbers.percentage,
        details=details,
        timestamp=numbers.timestamp if moment is None else to_iso(moment.wall),
        seq=numbers.seq if seq is None else seq,
    )
