""":class:`JobsDashboard`: the recent jobs, live, filtered by status and type, with Cancel and Open per job
and a New job form for any declared job type.

A background task on the client's loop lists the jobs every ``interval_s`` (and at once when asked: the
filter changed, a job was cancelled); each listing only replaces the stored rows under a lock, and a
:class:`~lpe_nb.widgets._throttle.Throttle` renders them at most every 100 ms. Rows are kept per job id
so a refresh only changes traits; a row widget is created once per job shown.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from lpe_nb.client import format_usd
from lpe_nb.errors import InvalidTransition, LpeError

from ._client import resolve_client
from ._throttle import DEFAULT_INTERVAL_S, Throttle
from ._view import starts_in
from .forms import JobForm
from .progress import JobProgress
from .results import close_children, error_html, esc

if TYPE_CHECKING:
    from lpe_nb.client import AsyncJob, Client

__all__ = ["JobRow", "JobsDashboard"]

STATUSES = ("all", "pending", "running", "completed", "failed", "cancelled")
SORTS = (("newest first", "newest"), ("priority", "priority"))  # the listed jobs, as the claim orders them
_BAR_STYLES = {"pending": "", "running": "info", "completed": "success", "failed": "danger"}
# Absolute within the HTML widget's content box (which ipywidgets positions relatively): the text then
# takes the widget's width instead of widening it over the bar, and its end turns into an ellipsis.
_ONE_LINE = (
    "position: absolute; left: 0; right: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis"
)


class JobRow:
    """One job's line: its short id and title, a small bar, its status, priority arrows (while it is
    pending), Cancel (while it can be cancelled) and Open."""

    def __init__(self, dashboard: JobsDashboard, job_id: str) -> None:
        self.job_id = job_id
        self.label = widgets.HTML(layout=widgets.Layout(width="30%"))
        self.bar = widgets.FloatProgress(min=0.0, max=100.0, layout=widgets.Layout(width="12%"))
        self.status = widgets.HTML(layout=widgets.Layout(width="20%"))  # "pending, waiting for ..." cut
        self.cost = widgets.HTML(layout=widgets.Layout(width="6%"))  # what its steps cost so far
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", layout=_button_layout())
        self.open_button = widgets.Button(description="Open", icon="folder-open", layout=_button_layout())
        # While the job is pending: its priority one up or down (the queue's order follows at once).
        self.priority = 0
        self.raise_button = widgets.Button(
            icon="arrow-up", tooltip="Raise its priority", layout=_button_layout("32px")
        )
        self.lower_button = widgets.Button(
            icon="arrow-down", tooltip="Lower its priority", layout=_button_layout("32px")
        )
        self.cancel_button.on_click(lambda _button: dashboard.cancel(job_id))
        self.open_button.on_click(lambda _button: dashboard.open_job(job_id))
        self.raise_button.on_click(lambda _button: self._shift_priority(dashboard, +1))
        self.lower_button.on_click(lambda _button: self._shift_priority(dashboard, -1))
        self.box = widgets.HBox(
            [self.label, self.bar, self.status, self.cost, self.raise_button, self.lower_button,
             self.cancel_button, self.open_button]
        )  # fmt: skip
        self.synced = [
            self.label, self.bar, self.status, self.cost, self.cancel_button, self.cancel_button.layout,
            self.raise_button.layout, self.lower_button.layout,
        ]  # fmt: skip

    def show(self, job: AsyncJob) -> None:
        status = job.status.value
        # One line whatever the width: the id first and never broken, the title cut with an ellipsis
        # (a long title used to push the id onto a line of its own in JupyterLab).
        self.label.value = (
            f"<div style='{_ONE_LINE}' title='{esc(job.data.title)}'><code>{esc(job.id[:8])}</code> "
            f"{_parents_html(job)}{_priority_badge(job.priority)}<b>{esc(job.data.title)}</b></div>"
        )
        self.bar.value = float(job.progress.percentage)
        self.bar.bar_style = _BAR_STYLES.get(status, "warning")
        waiting = starts_in(job.data.scheduled_at) if status == "pending" else None
        if status == "pending" and job.data.waiting_on:  # a chain: "waiting for <parent title>"
            waiting = job.progress.current_step or "waiting for its parents"
        shown = f"{status}, {waiting}" if waiting else f"{status} {job.progress.percentage:.0f}%"
        self.status.value = f"<div style='{_ONE_LINE}' title='{esc(shown)}'>{esc(shown)}</div>"
        cost = "" if job.data.cost_usd is None else format_usd(job.data.cost_usd)
        self.cost.value = f"<div style='text-align: right' title='cost of its LLM calls'>{esc(cost)}</div>"
        self.cancel_button.disabled = job.is_terminal
        # hidden rather than removed, so the Open buttons stay in one column
        self.cancel_button.layout.visibility = "hidden" if job.is_terminal else None
        self.priority = job.priority
        for button in (self.raise_button, self.lower_button):
            button.layout.visibility = None if status == "pending" else "hidden"

    def _shift_priority(self, dashboard: JobsDashboard, step: int) -> None:
        # From the priority just set, not the last render's: two quick clicks move it by two.
        changed = dashboard.set_priority(self.job_id, self.priority + step)
        if changed is not None:
            self.priority = changed

    def close(self) -> None:
        for widget in (*self.box.children, self.box):
            widget.close()


class JobsDashboard(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """The ``limit`` most recent jobs, refreshed every ``interval_s`` seconds until :meth:`close`.

    ``status_filter`` picks one status (or all); each row's Cancel cancels that job and Open shows its
    :class:`JobProgress` (live, then its result) in ``detail``, right below the filters and above the
    list, where it replaces what was shown there (``close_detail_button`` empties it). :meth:`refresh`
    lists the jobs now.
    """

    def __init__(
        self,
        client: Client | None = None,
        *,
        limit: int = 20,
        interval_s: float = 1.0,
        render_interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        super().__init__()
        self.client = resolve_client(client)
        self.limit = limit
        self.interval_s = interval_s
        self.status_filter = widgets.Dropdown(description="status", options=list(STATUSES), value="all")
        types = [info.name for info in self.client.job_types()]
        self.type_filter = widgets.Dropdown(description="type", options=["all", *types], value="all")
        self.sort = widgets.Dropdown(description="sort", options=list(SORTS), value="newest")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.new_button = widgets.Button(description="New job", icon="plus")
        self.form: JobForm | None = None
        self.message = widgets.HTML()
        self.table = widgets.VBox()
        self.close_detail_button = widgets.Button(
            description="Close",
            icon="times",
            tooltip="Close the job shown above the list",
            layout=widgets.Layout(width="auto", align_self="flex-end"),  # compact, at the right
        )
        self.detail = widgets.VBox()
        self.opened: JobProgress | None = None
        # The detail sits above the list, not below it: with twenty rows, below is off-screen.
        self.children = [
            widgets.HBox(
                [self.status_filter, self.type_filter, self.sort, self.refresh_button, self.new_button]
            ),
            self.message,
            self.detail,
            self.table,
        ]
        self._lock = threading.Lock()
        self._jobs: list[AsyncJob] = []
        self._error: str | None = None
        self._fetched = 0  # listings stored so far; a render shows every one up to its number
        self._waiters: list[tuple[int, concurrent.futures.Future[None]]] = []
        self._rows: dict[str, JobRow] = {}  # only touched by renders (and close, once they stopped)
        self._order: list[str] = []
        self._stopped = threading.Event()
        self._throttle = Throttle(self._render, render_interval_s)
        self.status_filter.observe(lambda _change: self.refresh(), names="value")
        self.type_filter.observe(lambda _change: self.refresh(), names="value")
        self.sort.observe(lambda _change: self._throttle.poke(), names="value")
        self.new_button.on_click(lambda _button: self.new_job())
        self.close_detail_button.on_click(lambda _button: self.close_detail())
        self.refresh_button.on_click(lambda _button: self.refresh())
        self._poll: concurrent.futures.Future[None] = self.client.run_background(self._poll_forever())

    # -- public ----------------------------------------------------------------------------------------

    @property
    def job_ids(self) -> list[str]:
        """The ids of the jobs shown, as last rendered: newest first, or by ``sort`` (priority: highest
        first, equal ones oldest first, the order they are started in)."""
        return list(self._order)

    def row(self, job_id: str) -> JobRow:
        """The row of a job shown (its ``cancel_button``, ``open_button``, ``status``, ``bar``)."""
        return self._rows[job_id]

    def refresh(self) -> concurrent.futures.Future[None]:
        """List the jobs now; the future completes once that listing is rendered."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        fetch = self.client.run_background(self._fetch())

        def rendered_after(listing: concurrent.futures.Future[int]) -> None:
            if listing.cancelled():
                done.cancel()
                return
            if (exc := listing.exception()) is not None:
                done.set_exception(exc)
                return
            with self._lock:
                self._waiters.append((listing.result(), done))
            self._throttle.poke()  # a render that already showed it completes the future at once

        fetch.add_done_callback(rendered_after)
        return done

    def cancel(self, job_id: str) -> None:
        """Cancel one job (its row's Cancel), then refresh."""
        try:
            self.client.cancel(job_id)
        except InvalidTransition:
            pass  # it finished meanwhile; the refresh shows how
        except LpeError as exc:
            self._set_error(f"cancelling {job_id[:8]} failed: {exc}")
        self.refresh()

    def set_priority(self, job_id: str, priority: int) -> int | None:
        """Change a pending job's priority (its row's arrows), then refresh; returns the new priority, or
        None if it could not change (a job that started meanwhile keeps the one it started with)."""
        changed = None
        try:
            changed = self.client.set_priority(job_id, priority).priority
        except InvalidTransition:
            pass  # it started meanwhile; the refresh shows it
        except LpeError as exc:
            self._set_error(f"changing the priority of {job_id[:8]} failed: {exc}")
        self.refresh()
        return changed

    def new_job(self, job_type: str | None = None) -> JobForm:
        """Show a form for a new job of any type above the list (the New job button); its Run starts it,
        and the list shows it at once."""
        form = JobForm(self.client, job_type)
        form.run_button.on_click(lambda _button: self.refresh())
        self._show_detail(form)
        self.form = form
        return form

    def open_job(self, job_id: str) -> JobProgress | None:
        """Show one job's live progress and result above the list (its row's Open), instead of what
        was shown there."""
        try:
            job = self.client.job(job_id)
        except LpeError as exc:
            self._set_error(str(exc))
            return None
        opened = JobProgress(job)
        self._show_detail(opened)
        self.opened = opened
        return opened

    def close_detail(self) -> None:
        """Close the job or form shown above the list (its Close button); the job itself runs on."""
        self._show_detail(None)

    def _show_detail(self, widget: Any) -> None:
        previous = [w for w in (self.opened, self.form) if w is not None]
        self.opened = self.form = None
        self.detail.children = () if widget is None else (self.close_detail_button, widget)
        for old in previous:
            old.close()

    @property
    def polling(self) -> bool:
        """Whether the background refresh task is still running."""
        return not self._stopped.is_set()

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Block until the refresh task has ended (after :meth:`close`); False on timeout."""
        return self._stopped.wait(timeout)

    def close(self) -> None:
        """Stop the refresh task and the renders, and close the widgets (the client stays open)."""
        if hasattr(self, "_poll"):  # ipywidgets also calls close() from __del__, maybe half-built
            self._poll.cancel()
            self._throttle.close()
            self._show_detail(None)
            self.close_detail_button.close()
            for row in list(self._rows.values()):
                row.close()
            close_children(self)
        super().close()

    # -- on the client's loop --------------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        try:
            while True:
                with contextlib.suppress(Exception):  # _fetch shows it; a later listing may work
                    await self._fetch()
                await asyncio.sleep(self.interval_s)
        finally:
            self._stopped.set()

    async def _fetch(self) -> int:
        status, job_type = self.status_filter.value, self.type_filter.value
        try:
            jobs = await self.client.async_client.jobs(
                status=None if status == "all" else status,
                type=None if job_type == "all" else job_type,
                limit=self.limit,
            )
        except Exception as exc:
            self._set_error(f"listing the jobs failed: {exc}")
            raise
        with self._lock:
            self._jobs, self._error = jobs, None
            self._fetched += 1
            number = self._fetched
        self._throttle.poke()
        return number

    # -- rendering (one thread at a time, via the throttle) --------------------------------------------

    def _set_error(self, message: str) -> None:
        with self._lock:
            self._error = message
        self._throttle.poke()

    def _render(self) -> None:
        with self._lock:
            jobs, error, number = list(self._jobs), self._error, self._fetched
        if self.sort.value == "priority":
            jobs.sort(key=lambda job: (-job.priority, job.data.created_at))
        rows = []
        for job in jobs:
            row = self._rows.get(job.id)
            if row is None:
                row = self._rows[job.id] = JobRow(self, job.id)
            rows.append((row, job))
        gone = [self._rows.pop(job_id) for job_id in set(self._rows) - {job.id for job in jobs}]
        with contextlib.ExitStack() as stack:
            for widget in [self.message, self.table] + [w for row, _ in rows for w in row.synced]:
                stack.enter_context(widget.hold_sync())
            for row, job in rows:
                row.show(job)
            boxes = tuple(row.box for row, _ in rows)
            if boxes != tuple(self.table.children):
                self.table.children = boxes
            self.message.value = error_html(error) if error else ""
        for row in gone:
            row.close()
        self._order = [job.id for job in jobs]
        self._complete_waiters(number)

    def _complete_waiters(self, rendered: int) -> None:
        with self._lock:
            ready = [future for number, future in self._waiters if number <= rendered]
            self._waiters = [(n, f) for n, f in self._waiters if n > rendered]
        for future in ready:
            if not future.done():
                future.set_result(None)


def _parents_html(job: AsyncJob) -> str:
    """The chain on a job's line, before its title (which an ellipsis may cut): the short ids of the jobs
    it waits for, or waited for."""
    if not job.depends_on:
        return ""
    ids = ", ".join(f"<code>{esc(parent[:8])}</code>" for parent in job.depends_on)
    return f"<span title='it waits for these jobs' style='opacity: 0.75'>&#x2937; after {ids}</span> "


def _priority_badge(priority: int) -> str:
    """A job's priority before its title, unless it is the default 0."""
    if priority == 0:
        return ""
    return f"<span title='priority' style='opacity: 0.7'>[{'+' if priority > 0 else ''}{priority}]</span> "


def _button_layout(width: str = "auto") -> Any:
    # Never shrunk: the label, bar and status give way first, so "Cancel" and "Open" stay whole.
    return widgets.Layout(width=width, flex="0 0 auto")
