"""The figures one engine keeps about its jobs and LLM calls: plain counters and fixed-bucket histograms.

A :class:`Meter` is fed where things happen (the manager submits, the dispatcher finishes and retries, a
step is saved, the LLM provider makes a request) and read as a JSON-ready snapshot. Feeding it is an
attribute increment and a ``bisect`` into a tuple: the per-type and per-model holders are made once, the
first time a name is seen. The gauges (pending and running jobs) are not counted here: they are the
store's own O(1) counts, read when the meter is :meth:`Meter.refresh`\\ ed.

Not thread-safe for writes: a meter is fed on its engine's event loop only. A snapshot taken from another
thread may see a histogram between its count and its sum.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "DURATION_BUCKETS_S",
    "LLM_LATENCY_BUCKETS_S",
    "Histogram",
    "JobTypeFigures",
    "Meter",
    "ModelFigures",
    "current_meter",
    "metered_by",
]

DURATION_BUCKETS_S: tuple[float, ...] = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
"""Upper bounds of the job and step duration buckets: LLM jobs take seconds to an hour."""

LLM_LATENCY_BUCKETS_S: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
"""Upper bounds of the LLM request latency buckets."""


class Histogram:
    """Counts of observed values per bucket (``value <= bound``, the last bucket unbounded), and their sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def add(self, other: Histogram) -> None:
        """Add ``other``'s observations (same bounds) to these."""
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        self.sum += other.sum

    def to_dict(self) -> dict[str, Any]:
        """``{"count", "sum", "buckets": {"<bound>": cumulative count, ..., "+Inf": count}}``, as Prometheus
        reports a histogram (each bucket counts the values up to its bound)."""
        buckets: dict[str, int] = {}
        running = 0
        for bound, n in zip((*map(_bound_label, self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            buckets[bound] = running
        return {"count": running, "sum": self.sum, "buckets": buckets}


def _bound_label(bound: float) -> str:
    return repr(float(bound))


class JobTypeFigures:
    """What happened to the jobs of one type: submitted, finished by status, retries, durations."""

    __slots__ = ("cache_hits", "cost_usd", "duration", "finished", "retries", "step_durations", "submitted")

    def __init__(self) -> None:
        self.submitted = 0
        self.finished: dict[str, int] = {}  # by final status
        self.retries = 0  # attempts that failed and were tried again
        self.cache_hits = 0  # LLM calls answered by the result cache, as steps report them
        self.cost_usd = 0.0  # what its saved steps' LLM calls cost (those with a price)
        self.duration = Histogram(DURATION_BUCKETS_S)  # claim to outcome, in the process that ran it
        self.step_durations: dict[str, Histogram] = {}

    def step(self, name: str) -> Histogram:
        histogram = self.step_durations.get(name)
        if histogram is None:
            histogram = self.step_durations[name] = Histogram(DURATION_BUCKETS_S)
        return histogram

    def add(self, other: JobTypeFigures) -> None:
        self.submitted += other.submitted
        _add_counts(self.finished, other.finished)
        self.retries += other.retries
        self.cache_hits += other.cache_hits
        self.cost_usd += other.cost_usd
        self.duration.add(other.duration)
        for name, histogram in list(other.step_durations.items()):
            self.step(name).add(histogram)

    def to_dict(self) -> dict[str, Any]:
        return {
            "submitted": self.submitted,
            "finished": dict(self.finished),
            "retries": self.retries,
            "cache_hits": self.cache_hits,
            "cost_usd": self.cost_usd,
            "duration_s": self.duration.to_dict(),
            "steps": {name: {"duration_s": h.to_dict()} for name, h in list(self.step_durations.items())},
        }


class ModelFigures:
    """What the LLM requests to one model did: outcomes, failed calls, retries, latency, tokens, cost."""

    __slots__ = ("cost_usd", "errors", "input_tokens", "latency", "output_tokens", "requests", "retries")

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}  # HTTP requests (mock: calls) by outcome: ok, rate_limited, ...
        self.errors: dict[str, int] = {}  # calls that failed for good, by error code
        self.retries = 0  # requests a call made again after a transient fault
        self.latency = Histogram(LLM_LATENCY_BUCKETS_S)  # per request, answered or not
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0  # of the calls whose model has a price

    def add(self, other: ModelFigures) -> None:
        _add_counts(self.requests, other.requests)
        _add_counts(self.errors, other.errors)
        self.retries += other.retries
        self.latency.add(other.latency)
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "errors": dict(self.errors),
            "retries": self.retries,
            "latency_s": self.latency.to_dict(),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
        }


def _add_counts(into: dict[str, int], other: Mapping[str, int]) -> None:
    for key, n in list(other.items()):
        into[key] = into.get(key, 0) + n


CountSource = Callable[[], Awaitable[Mapping[str, int]]]


class Meter:
    """One engine's figures: per job type, per LLM model, and the database's job counts by status.

    ``count_source`` (set by the engine) reads the store's counts; :meth:`refresh` calls it on the
    engine's loop and keeps the result for :meth:`snapshot`. ``database`` names what the counts are of.
    """

    def __init__(self, *, database: str | None = None) -> None:
        self.database = database
        self.job_types: dict[str, JobTypeFigures] = {}
        self.models: dict[str, ModelFigures] = {}
        self.counts: dict[str, int] = {}  # jobs by status in the database, as of the last refresh
        self.running_here: Callable[[], int] = lambda: 0  # jobs this process runs now
        self.count_source: CountSource | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # where count_source may be awaited
        self._loop_thread: int | None = None

    # -- fed by the engine ------------------------------------------------------------------------------

    def job_type(self, name: str) -> JobTypeFigures:
        figures = self.job_types.get(name)
        if figures is None:
            figures = self.job_types[name] = JobTypeFigures()
        return figures

    def model(self, name: str) -> ModelFigures:
        figures = self.models.get(name)
        if figures is None:
            figures = self.models[name] = ModelFigures()
        return figures

    def job_submitted(self, job_type: str) -> None:
        self.job_type(job_type).submitted += 1

    def job_finished(self, job_type: str, status: str, duration_s: float | None = None) -> None:
        """A job reached ``status`` (completed, failed, cancelled); ``duration_s`` if this process ran it."""
        figures = self.job_type(job_type)
        figures.finished[status] = figures.finished.get(status, 0) + 1
        if duration_s is not None:
            figures.duration.observe(duration_s)

    def job_retried(self, job_type: str) -> None:
        self.job_type(job_type).retries += 1

    def step_finished(
        self,
        job_type: str,
        step: str,
        duration_s: float,
        usage: Mapping[str, int],
        cost_usd: float | None = None,
    ) -> None:
        """A step was saved; ``usage`` is its usage dict, whose ``cache_hits`` (if any) are counted, and
        ``cost_usd`` what its LLM calls cost (None: not priced)."""
        figures = self.job_type(job_type)
        figures.step(step).observe(duration_s)
        hits = usage.get("cache_hits")
        if hits:
            figures.cache_hits += hits
        if cost_usd:
            figures.cost_usd += cost_usd

    def llm_request(self, model: str, outcome: str, latency_s: float) -> None:
        """One request to ``model`` ended with ``outcome`` (``ok`` or what went wrong) after ``latency_s``."""
        figures = self.model(model)
        figures.requests[outcome] = figures.requests.get(outcome, 0) + 1
        figures.latency.observe(latency_s)

    def llm_tokens(self, model: str, input_tokens: int, output_tokens: int, cost_usd: float | None) -> None:
        """What an answered call used, and cost (None: its model has no price)."""
        figures = self.model(model)
        figures.input_tokens += input_tokens
        figures.output_tokens += output_tokens
        if cost_usd:
            figures.cost_usd += cost_usd

    def llm_retry(self, model: str) -> None:
        self.model(model).retries += 1

    def llm_error(self, model: str, code: str) -> None:
        """A call to ``model`` failed for good with the error ``code`` (``llm_unavailable``, ...)."""
        figures = self.model(model)
        figures.errors[code] = figures.errors.get(code, 0) + 1

    # -- read ----------------------------------------------------------------------------------------------

    def bind(self, count_source: CountSource, running_here: Callable[[], int]) -> None:
        """Read the counts with ``count_source`` on the running loop from now on."""
        self.count_source = count_source
        self.running_here = running_here
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    async def refresh(self) -> None:
        """Read the database's job counts now (one O(1) read of the store), on the meter's loop."""
        if self.count_source is not None:
            self.counts = dict(await self.count_source())

    def refresh_from_any_thread(self, timeout_s: float = 2.0) -> None:
        """:meth:`refresh` from a thread other than the meter's loop (a scraper's); from the loop's own
        thread, where it cannot wait, the counts stay as last refreshed."""
        loop = self.loop
        if loop is None or self._loop_thread == threading.get_ident() or loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self.refresh(), loop)
        try:
            future.result(timeout_s)
        except Exception:  # a stopping or busy engine: the last counts stand
            future.cancel()

    def add(self, other: Meter) -> None:
        """Add ``other``'s counters and histograms to these (the counts are not added)."""
        for name, figures in list(other.job_types.items()):
            self.job_type(name).add(figures)
        for name, model in list(other.models.items()):
            self.model(name).add(model)

    def snapshot(self) -> dict[str, Any]:
        """The figures as JSON-ready data (the shape of ``GET lpe/api/metrics``; ``docs/metrics.md``)."""
        return {
            "database": self.database,
            "jobs": {
                "pending": self.counts.get("pending", 0),
                "running": self.counts.get("running", 0),
                "by_status": dict(self.counts),
                "running_here": self.running_here(),
            },
            "job_types": {name: f.to_dict() for name, f in list(self.job_types.items())},
            "llm_models": {name: f.to_dict() for name, f in list(self.models.items())},
        }


_CURRENT: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("lpe_meter", default=None)
_UNATTRIBUTED = Meter()  # LLM calls made outside any engine's job (a test, a script): still counted


def current_meter() -> Meter:
    """The meter of the engine whose job is running in this context (the LLM layer reports to it)."""
    return _CURRENT.get() or _UNATTRIBUTED


def metered_by(meter: Meter) -> None:
    """Make ``meter`` the current one in this context and the tasks it creates from now on."""
    _CURRENT.set(meter)


def unattributed_meter() -> Meter:
    return _UNATTRIBUTED


def merged(meters: Iterable[Meter]) -> Meter:
    """One meter holding the sum of ``meters``' counters."""
    total = Meter()
    for meter in meters:
        total.add(meter)
    return total
