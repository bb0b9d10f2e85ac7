"""What a :class:`~lpe_nb.widgets.JobProgress` shows, as plain data and text: no widgets, no threads.

:class:`ViewState` is the latest known state of one job (events fold into it); the functions turn it into
the labels' HTML. Kept apart from the widget so the rules (the time left, which step number to show) read
alone.

The time left is the engine's estimate (``eta_s`` in the progress details, from how long the same steps
took in earlier jobs of the type on the same model), counted down from the moment it was made: between
events the widget re-renders every second, so elapsed and left move while a long LLM call runs. It never
goes below what the steps after the running one are expected to take (``eta_rest_s``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from lpe_nb.client import JobEvent, JobRecord, JobStatus, Progress

from .results import esc

__all__ = ["BAR_STYLES", "ViewState", "duration", "starts_in", "status_html", "step_html", "time_left"]

BAR_STYLES = {
    JobStatus.PENDING: "",
    JobStatus.RUNNING: "info",
    JobStatus.COMPLETED: "success",
    JobStatus.FAILED: "danger",
    JobStatus.CANCELLED: "warning",
}
# shown elsewhere, or too long
_HIDDEN_DETAILS = frozenset(
    {"partial_text", "step", "index", "of", "eta_s", "eta_rest_s", "estimated_total_s", "retry", "cache_hits"}
    | {"waiting_for"}  # a chain: the step line already names the parent it waits for
)


@dataclass
class ViewState:
    """The latest known state of a job; the widget guards it with a lock."""

    status: JobStatus
    progress: Progress
    seq: int = 0
    result: Any = None
    error: str | None = None
    cancelling: bool = False
    note: str | None = None  # about the watching itself: lost contact, a refused cancel
    started: float | None = None  # time.monotonic() at the job's start, as well as known
    ended: float | None = None
    progress_at: float | None = None  # time.monotonic() when `progress` was reported, as well as known
    starts_at: float | None = None  # time.monotonic() when a scheduled job may start

    @property
    def details(self) -> Mapping[str, Any]:
        details = self.progress.details
        return details if isinstance(details, Mapping) else {}

    @property
    def partial_text(self) -> str | None:
        """The text the running step has streamed so far, if it streams."""
        text = self.details.get("partial_text")
        return text if isinstance(text, str) and self.status is JobStatus.RUNNING else None

    def apply(self, event: JobEvent, now: float) -> None:
        """Fold in one event (as the client's ``AsyncJob`` does: an older ``seq`` is ignored)."""
        if event.seq < self.seq:
            return
        self.seq = event.seq
        if event.kind == "status" and event.status is not None:
            self.status = event.status
            self.result = event.result_data
            self.error = event.error_message
        elif event.progress is not None:
            self.progress = event.progress
            self.progress_at = _monotonic_at(event.progress.timestamp, now)
        if self.status is JobStatus.RUNNING and self.started is None:
            self.started = now
        if self.status.is_terminal and self.ended is None:
            self.ended = now

    def seed_times(self, data: JobRecord) -> None:
        """Start and end from the job's record (ISO times), on this process's monotonic clock."""
        now, wall = time.monotonic(), datetime.now(timezone.utc)
        started = _parse_time(data.started_at)
        if started is not None:
            self.started = now - (wall - started).total_seconds()
        ended = _parse_time(data.completed_at)
        if ended is not None and self.status.is_terminal:
            self.ended = now - (wall - ended).total_seconds()
        self.progress_at = _monotonic_at(self.progress.timestamp, now)
        scheduled = _parse_time(data.scheduled_at)
        if scheduled is not None:
            self.starts_at = now + (scheduled - wall).total_seconds()


def status_html(state: ViewState) -> str:
    status, percent = state.status, f"{state.progress.percentage:.0f}%"
    if status is JobStatus.COMPLETED:
        return "<b style='color: #15803d'>completed</b>"
    if status in (JobStatus.FAILED, JobStatus.CANCELLED):
        color = "#b91c1c" if status is JobStatus.FAILED else "#b45309"
        return f"<b style='color: {color}'>{status.value}</b> at {percent}"
    return f"{status.value} {percent}"


def step_html(state: ViewState, now: float) -> str:
    """``step k of n: label (details) · elapsed · about N left`` (or ``estimating…`` while the engine has
    no data to estimate from); when done, how long it took."""
    progress, details = state.progress, state.details
    index, of = details.get("index"), details.get("of")
    if not (isinstance(index, int) and isinstance(of, int)):  # the operation's own step numbering wins
        index, of = progress.completed_steps, progress.total_steps
    where = f"step {index} of {of}: {progress.current_step}" if of else progress.current_step or "waiting"
    extra = ", ".join(f"{k}: {v}" for k, v in details.items() if k not in _HIDDEN_DETAILS and v is not None)
    hits = details.get("cache_hits")
    if isinstance(hits, int) and hits > 0:  # LLM calls the result cache answered (docs/caching.md)
        extra = ", ".join(filter(None, [extra, f"{hits} from the cache"]))
    if extra:
        where += f" ({extra})"
    retry = details.get("retry")  # between two attempts: "retrying step 3 of 5 (attempt 2 of 5) in 8 s: ..."
    if (
        state.status is JobStatus.RUNNING
        and isinstance(retry, Mapping)
        and isinstance(retry.get("message"), str)
    ):
        where = retry["message"]
    if state.status is JobStatus.PENDING and state.starts_at is not None:  # waits for its time
        wait_s = state.starts_at - now
        where = f"scheduled: starts in {duration(wait_s)}" if wait_s > 0 else "scheduled: starting"
    if state.status is JobStatus.COMPLETED:
        where = "done"
    elif state.status.is_terminal:
        where = f"stopped at {where}"
    parts = [where]
    if state.started is not None:
        elapsed = (state.ended if state.ended is not None else now) - state.started
        parts.append(f"{duration(elapsed)} elapsed")
    if state.status is JobStatus.RUNNING and "eta_s" in details:  # a job type that plans its steps
        left = time_left(state, now)
        if left is None:
            parts.append("estimating…")
        elif left >= 1:
            parts.append(f"about {duration(left)} left")
        elif time_left(state, now - 1) == 0:  # already nothing left a second ago
            parts.append("taking longer than usual")
        else:
            parts.append("almost done")
    return "<small>" + " · ".join(esc(part) for part in parts) + "</small>"


def starts_in(scheduled_at: str | None) -> str | None:
    """``starts in 4 min 05 s`` for a job waiting for its time (``scheduled_at``, ISO); None otherwise."""
    moment = _parse_time(scheduled_at)
    if moment is None:
        return None
    left = (moment - datetime.now(timezone.utc)).total_seconds()
    return f"starts in {duration(left)}" if left > 0 else "starting"


def time_left(state: ViewState, now: float) -> float | None:
    """Seconds left at ``now`` (monotonic): the engine's estimate less the time since it was made, but
    never less than the steps after the running one need; None when there is no estimate."""
    eta_s, rest_s = state.details.get("eta_s"), state.details.get("eta_rest_s")
    if not isinstance(eta_s, (int, float)):
        return None
    waited = max(0.0, now - state.progress_at) if state.progress_at is not None else 0.0
    floor = float(rest_s) if isinstance(rest_s, (int, float)) else 0.0
    return max(float(eta_s) - waited, floor, 0.0)


def duration(seconds: float) -> str:
    """``4.2 s``, ``37 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds < 10:
        return f"{max(0.0, seconds):.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _monotonic_at(timestamp: str, now: float) -> float | None:
    """``timestamp`` (ISO, UTC) on this process's monotonic clock, taking ``now`` as the present; never in
    the future, so a server clock ahead of ours cannot lengthen the time left."""
    moment = _parse_time(timestamp)
    if moment is None:
        return None
    return now - max(0.0, (datetime.now(timezone.utc) - moment).total_seconds())


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
