""":class:`JobProgress`: one job, live: bar, step, timing, streamed text, Cancel, then its result.

Displayed once; afterwards only traits change. Events arrive on a background thread (the sync client's
loop) or on the kernel's loop (an ``AsyncJob``); each one only folds into a
:class:`~lpe_nb.widgets._view.ViewState` under a lock, and a :class:`~lpe_nb.widgets._throttle.Throttle`
renders the latest state at most every 100 ms, each render inside ``hold_sync`` so that it costs one
message per child widget that changed. The terminal state is always rendered. While the job runs a
:class:`~lpe_nb.widgets._throttle.Ticker` pokes the throttle every second, so elapsed and time left count
on between events; it stops at the terminal state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from lpe_nb.client import AsyncJob, Job, JobEvent, JobStatus
from lpe_nb.errors import InvalidTransition, LpeError

from ._throttle import DEFAULT_INTERVAL_S, TICK_INTERVAL_S, Throttle, Ticker
from ._view import BAR_STYLES, ViewState, status_html, step_html
from .results import close_children, error_html, esc, render_result

__all__ = ["JobHandle", "JobProgress"]

log = logging.getLogger("lpe_nb.widgets")

JobHandle = Job | AsyncJob


class JobProgress(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """Live progress of ``job`` (a :class:`Job` or an :class:`AsyncJob`) and, when done, its result.

    A ``Job`` is watched on its client's thread; an ``AsyncJob`` on the running event loop (create
    the widget in a cell or a coroutine of the loop its client uses). :meth:`wait_rendered` blocks until the
    terminal state is on screen, for notebooks run headlessly and for tests; :meth:`on_done` runs code then.
    """

    def __init__(
        self, job: JobHandle, *, interval_s: float = DEFAULT_INTERVAL_S, tick_s: float = TICK_INTERVAL_S
    ) -> None:
        super().__init__()
        self.job = job
        self.events_received = 0
        self._lock = threading.Lock()
        self._state = ViewState(status=job.status, progress=job.progress, error=job.error_message)
        if job.status is JobStatus.COMPLETED:
            self._state.result = job.result  # terminal: no refresh, no blocking
        self._state.seed_times(job.data)  # started_at: elapsed time counts from the job's real start
        self._done = False
        self._done_callbacks: list[Callable[[JobProgress], None]] = []
        self._rendered_terminal = threading.Event()
        self._result_shown = False

        self.title = widgets.HTML(_title_html(job))
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=100.0, layout=widgets.Layout(width="50%"))
        self.status_label = widgets.HTML()
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", tooltip="Cancel this job")
        self.step_label = widgets.HTML()
        self.stream = widgets.Textarea(
            # width auto: a flex child as wide as the box; "100%" plus the margins stuck out of it
            disabled=True,
            layout=widgets.Layout(display="none", width="auto", height="8em"),
        )
        self.error = widgets.HTML(layout=widgets.Layout(display="none"))
        self.result_box = widgets.VBox()
        self.children = [
            self.title,
            widgets.HBox([self.bar, self.status_label, self.cancel_button]),
            self.step_label,
            self.stream,
            self.error,
            self.result_box,
        ]
        self._synced = [self.bar, self.status_label, self.cancel_button, self.step_label, self.stream]
        self._synced += [self.stream.layout, self.error, self.error.layout, self.result_box]
        self.cancel_button.on_click(self._on_cancel_click)

        self._throttle = Throttle(self._render, interval_s)
        self._ticker = Ticker(self._tick, tick_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch: concurrent.futures.Future[None] | asyncio.Task[None] = self._start_watching()
        self._throttle.poke()  # the state known now, at once; events follow
        if not job.status.is_terminal:
            self._ticker.start()

    # -- public ----------------------------------------------------------------------------------------

    @property
    def status(self) -> JobStatus:
        """The latest status received (the screen shows it within ``interval_s``)."""
        with self._lock:
            return self._state.status

    @property
    def result(self) -> Any:
        """The result as received once the job completed; None before, or if it failed or was cancelled."""
        with self._lock:
            return self._state.result if self._state.status is JobStatus.COMPLETED else None

    def wait_rendered(self, timeout: float | None = None) -> bool:
        """Block until the terminal state (and result) is rendered and :meth:`on_done` callbacks ran;
        False on timeout. Not from the thread delivering events (the client's loop, or this widget's
        loop for an AsyncJob): that would block the events it waits for."""
        return self._rendered_terminal.wait(timeout)

    def on_done(self, callback: Callable[[JobProgress], None]) -> None:
        """Call ``callback(self)`` once the terminal state is rendered (at once if it already is).

        It runs on the rendering thread: keep it short and do not call the *sync* client from it when the
        job is a ``Job`` (that thread may be the client's own loop; use the async client there).
        """
        with self._lock:
            if not self._done:
                self._done_callbacks.append(callback)
                return
        callback(self)

    def cancel(self) -> None:
        """Cancel the job (what the Cancel button does); a job that already finished is left alone."""
        with self._lock:
            if self._state.status.is_terminal:
                return
            self._state.cancelling = True
        self._throttle.poke()
        if isinstance(self.job, Job):
            try:
                self.job.cancel()
            except InvalidTransition:
                pass  # it finished meanwhile: its terminal event says how
            except (LpeError, RuntimeError) as exc:
                self._refused(exc)
        else:
            assert self._loop is not None
            future = asyncio.run_coroutine_threadsafe(self.job.cancel(), self._loop)
            future.add_done_callback(self._after_async_cancel)

    def close(self) -> None:
        """Stop watching and rendering, then close this widget and its children."""
        if hasattr(self, "_watch"):  # ipywidgets also calls close() from __del__, maybe half-built
            self._stop_watching()
            self._ticker.stop()
            self._throttle.close()
            close_children(self)
        super().close()

    # -- events (any thread) ---------------------------------------------------------------------------

    def _on_event(self, event: JobEvent) -> None:
        with self._lock:
            self.events_received += 1
            self._state.apply(event, time.monotonic())
        self._throttle.poke()

    def _tick(self) -> None:
        """Every second, from the ticker's thread: re-render so that elapsed and left (or a scheduled job's
        "starts in") move on."""
        with self._lock:
            state = self._state
            moving = state.status is JobStatus.RUNNING or (
                state.status is JobStatus.PENDING and state.starts_at is not None
            )
        if moving:
            self._throttle.poke()

    def _on_watch_end(self, future: concurrent.futures.Future[None] | asyncio.Future[None]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        with self._lock:
            if self._state.status.is_terminal:
                return
            reason = f"{type(exc).__name__}: {exc}" if exc is not None else "the client stopped"
            self._state.note = f"No longer following this job ({reason})."
        self._throttle.poke()

    def _after_async_cancel(self, future: concurrent.futures.Future[Any]) -> None:
        exc = None if future.cancelled() else future.exception()
        if exc is not None and not isinstance(exc, InvalidTransition):
            self._refused(exc)

    def _refused(self, exc: BaseException) -> None:
        with self._lock:
            self._state.cancelling = False
            self._state.note = f"Cancel failed: {exc}"
        self._throttle.poke()

    def _on_cancel_click(self, _button: Any) -> None:
        self.cancel()

    # -- watching --------------------------------------------------------------------------------------

    def _start_watching(self) -> concurrent.futures.Future[None] | asyncio.Task[None]:
        if isinstance(self.job, Job):
            future = self.job.watch(self._on_event)
            future.add_done_callback(self._on_watch_end)
            return future
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "JobProgress of an AsyncJob must be created on its client's running event loop; "
                "pass a Job (from lpe_nb.connect()) otherwise"
            ) from None
        task = self._loop.create_task(self._pump(self.job))
        task.add_done_callback(self._on_watch_end)
        return task

    async def _pump(self, job: AsyncJob) -> None:
        async for event in job.events():
            self._on_event(event)

    def _stop_watching(self) -> None:
        watch = self._watch
        if isinstance(watch, asyncio.Task):
            assert self._loop is not None
            with contextlib.suppress(RuntimeError):  # the loop is already closed: nothing to stop
                self._loop.call_soon_threadsafe(watch.cancel)
        else:
            watch.cancel()

    # -- rendering (one thread at a time, via the throttle) --------------------------------------------

    def _render(self) -> None:
        with self._lock:
            state = replace(self._state)
        terminal, partial = state.status.is_terminal, state.partial_text
        with contextlib.ExitStack() as stack:
            for widget in self._synced:
                stack.enter_context(widget.hold_sync())
            self.bar.value = (
                100.0 if state.status is JobStatus.COMPLETED else float(state.progress.percentage)
            )
            self.bar.bar_style = BAR_STYLES[state.status]
            self.status_label.value = status_html(state)
            self.cancel_button.disabled = terminal or state.cancelling
            cancelling = state.cancelling and not terminal
            self.cancel_button.description = "Cancelling…" if cancelling else "Cancel"
            self.step_label.value = step_html(state, time.monotonic())
            self.stream.value = partial or ""
            self.stream.layout.display = None if partial is not None else "none"
            problem = state.error if state.status is JobStatus.FAILED else state.note
            self.error.value = error_html(problem) if problem else ""
            self.error.layout.display = None if problem else "none"
            if state.status is JobStatus.COMPLETED and not self._result_shown:
                self._result_shown = True
                self.result_box.children = (render_result(self.job.type, state.result),)
        if terminal:
            self._finish()

    def _finish(self) -> None:
        self._ticker.stop()  # the time shown is final
        with self._lock:
            if self._done:
                return
            self._done = True
            callbacks, self._done_callbacks = self._done_callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("a JobProgress on_done callback failed")
        self._rendered_terminal.set()


def _title_html(job: JobHandle) -> str:
    title = job.data.title or job.type.replace("_", " ").capitalize()
    return f"<b>{esc(title)}</b> <code>{esc(job.id[:8])}</code>"
