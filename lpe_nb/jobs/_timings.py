"""How long steps take: what the manager expects each step of a job to take, from the steps before it.

:class:`StepTimings` caches, per (job type, model), the median duration of each step name over the newest
jobs of that type (:meth:`JobStore.median_step_seconds`). A job reads it once, when its operation plans its
steps (:meth:`StepContext.plan`): never per progress event. An entry is read again from the store once a
step of that type finished since it was read (the next job then knows how long this one's steps took),
or after ``refresh_s`` (for jobs that other processes ran). :class:`StepPlan` turns the expectations into
a weighted percentage and a time-left estimate.

Not thread-safe: use it on the event loop of the manager that owns it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import statistics
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lpe_nb.errors import LpeError

if TYPE_CHECKING:
    from lpe_nb.jobs.store import JobStore

__all__ = ["Estimate", "StepPlan", "StepTimings", "step_kind"]

log = logging.getLogger("lpe_nb.jobs.manager")

_KIND_PREFIX = re.compile(r"^.*\.")  # "french.forward_translation": the language is not the kind of step
_KIND_SUFFIX = re.compile(r"_\d+$")  # "question_3": nor is the depth


def step_kind(name: str) -> str:
    """What a step is, whatever it is run for: ``french.forward_translation`` -> ``forward_translation``,
    ``question_3`` -> ``question``. A step never seen by name is expected to take what its kind takes."""
    return _KIND_SUFFIX.sub("", _KIND_PREFIX.sub("", name))


@dataclass(frozen=True, slots=True)
class Estimate:
    """How long a job has left, at one moment, in seconds; ``None`` where there is no data yet.

    ``rest_s`` is the part owed to the steps after the running (or next) one: it does not shrink while
    that step runs, so a front end ticking between events shows ``max(eta_s - waited, rest_s)``.
    """

    eta_s: float | None
    rest_s: float | None
    total_s: float | None

    def as_details(self) -> dict[str, float | None]:
        """The progress ``details`` keys every front end reads (``eta_s``, ``eta_rest_s``,
        ``estimated_total_s``), rounded to a tenth of a second."""
        return {
            "eta_s": _tenth(self.eta_s),
            "eta_rest_s": _tenth(self.rest_s),
            "estimated_total_s": _tenth(self.total_s),
        }


@dataclass
class StepPlan:
    """The steps one job will run, in order, and what each is expected to take.

    ``history`` maps step names to the median seconds earlier jobs of the type took (from
    :class:`StepTimings`). Each step's *weight* in the percentage is fixed when the plan is made (its
    history, else its kind's, else the mean of the known ones, else equal weights), so the bar moves by the
    share of the work really done: set-up that is not a step weighs nothing. The time-left estimate also
    learns from the job itself: a step with no history is expected to take the mean of this job's
    finished steps, or before any has finished, the mean of the planned steps that have a history.
    """

    steps: Sequence[str]
    history: Mapping[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(init=False)
    _by_kind: dict[str, float] = field(init=False)
    _known_mean: float | None = field(init=False)

    def __post_init__(self) -> None:
        kinds: dict[str, list[float]] = {}
        for name, seconds in self.history.items():
            kinds.setdefault(step_kind(name), []).append(seconds)
        self._by_kind = {kind: statistics.median(values) for kind, values in kinds.items()}
        known = {name: self.expected_from_history(name) for name in self.steps}
        values = [v for v in known.values() if v is not None]
        self._known_mean = statistics.fmean(values) if values else None
        # A weight of 0 would make a step invisible; a step of 0 s in the history weighs a millisecond.
        fallback = max(self._known_mean or 1.0, 0.001)
        self.weights = {name: max(v, 0.001) if v is not None else fallback for name, v in known.items()}

    def expected_from_history(self, name: str) -> float | None:
        """Seconds ``name`` took in earlier jobs (its own median, else its kind's), or None."""
        seconds = self.history.get(name)
        return seconds if seconds is not None else self._by_kind.get(step_kind(name))

    def percentage(self, finished: Collection[str]) -> float:
        """The weighted share of the planned steps in ``finished``, 0..100."""
        total = sum(self.weights.values())
        done = sum(weight for name, weight in self.weights.items() if name in finished)
        return round(min(100.0, 100.0 * done / total), 1) if total > 0 else 100.0

    def estimate(self, finished: Mapping[str, float], running: tuple[str, float] | None = None) -> Estimate:
        """Time left with ``finished`` (step name -> seconds it took) done and ``running`` (name, seconds
        since it started) under way."""
        own = [seconds for name, seconds in finished.items() if name in self.weights]
        fallback = statistics.fmean(own) if own else self._known_mean
        total = 0.0
        expected: list[tuple[str, float]] = []
        for name in self.steps:
            seconds = self.expected_from_history(name)
            if seconds is None:
                seconds = fallback
            if seconds is None:
                return Estimate(None, None, None)
            total += finished.get(name, seconds)
            if name not in finished:
                expected.append((name, seconds))
        if not expected:
            return Estimate(0.0, 0.0, total)
        (first, first_s), rest = expected[0], expected[1:]
        rest_s = sum(seconds for _, seconds in rest)
        if running is not None and running[0] == first:
            first_s = max(0.0, first_s - running[1])
        return Estimate(first_s + rest_s, rest_s, total)


class StepTimings:
    """Expected step durations per (job type, model), cached; see the module docstring.

    A failure to read them is logged and gives no data (the estimate says so); it never fails a job.
    """

    def __init__(
        self,
        store: JobStore,
        *,
        refresh_s: float = 60.0,
        last_jobs: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self.last_jobs = last_jobs
        self.reads = 0  # store reads so far: tests check that events do not cause any
        self._clock = clock
        self._cache: dict[tuple[str, str | None], tuple[float, dict[str, float]]] = {}
        self._stale_types: set[str] = set()
        self._loading: dict[tuple[str, str | None], asyncio.Future[dict[str, float]]] = {}

    def step_finished(self, job_type: str) -> None:
        """A step of ``job_type`` was saved: read that type's timings again before the next job uses them."""
        self._stale_types.add(job_type)

    async def expected(self, job_type: str, model: str | None) -> dict[str, float]:
        """Step name -> median seconds for ``job_type`` on ``model`` (empty until there is data)."""
        key = (job_type, model)
        cached = self._cache.get(key)
        if (
            cached is not None
            and job_type not in self._stale_types
            and self._clock() - cached[0] < self.refresh_s
        ):
            return cached[1]
        loading = self._loading.get(key)
        if loading is None:  # jobs starting together share one read
            loading = asyncio.ensure_future(self._load(key))
            self._loading[key] = loading
            loading.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(loading)  # one job cancelled must not cancel the others' read

    async def _load(self, key: tuple[str, str | None]) -> dict[str, float]:
        job_type, model = key
        # Marked fresh before reading: a step saved during the read makes the next job read again.
        self._stale_types.discard(job_type)
        self.reads += 1
        try:
            found = await self.store.median_step_seconds(job_type, model=model, last_jobs=self.last_jobs)
        except LpeError as exc:
            log.warning("cannot read step timings of %s jobs: %s; no time-left estimate", job_type, exc)
            found = {}
        for other in [k for k in self._cache if k[0] == job_type and k != key]:
            del self._cache[other]  # stale for the same reason; read again when asked
        self._cache[key] = (self._clock(), found)
        return found


def _tenth(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
