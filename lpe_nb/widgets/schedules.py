""":class:`SchedulesView`: the recurring schedules, one row each, with Pause / Resume and Delete.

Small on purpose: a row says what a schedule runs, when (``every 60 s`` or its cron and timezone), when it
next fires, how many slots it fired and its catch-up policy. Refresh (or any button) reads them again;
creating one is ``client.schedule(...)`` (docs/scheduling.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from lpe_nb.errors import LpeError

from ._client import resolve_client
from ._view import starts_in
from .results import close_children, error_html, esc

if TYPE_CHECKING:
    from lpe_nb.client import Client, Schedule

__all__ = ["ScheduleRow", "SchedulesView"]


class ScheduleRow:
    """One schedule's line: what and when, its next fire time, Pause or Resume, and Delete."""

    def __init__(self, view: SchedulesView, schedule: Schedule) -> None:
        self.schedule_id = schedule.id
        self.label = widgets.HTML(layout=widgets.Layout(width="70%"))
        self.toggle_button = widgets.Button(layout=widgets.Layout(width="auto"))
        self.delete_button = widgets.Button(
            description="Delete", icon="trash", layout=widgets.Layout(width="auto")
        )
        self.toggle_button.on_click(lambda _button: view.toggle(self.schedule_id))
        self.delete_button.on_click(lambda _button: view.delete(self.schedule_id))
        self.box = widgets.HBox([self.label, self.toggle_button, self.delete_button])
        self.show(schedule)

    def show(self, schedule: Schedule) -> None:
        data = schedule.data
        if schedule.paused:
            when = "<i>paused</i>"
        else:
            soon = starts_in(data.next_fire_at)
            when = f"next {esc(data.next_fire_at or '(none)')}" + (f" ({esc(soon[7:])})" if soon else "")
        self.label.value = (
            f"<code>{esc(schedule.id[:12])}</code> <b>{esc(data.title)}</b> ({esc(schedule.job_type)}), "
            f"{esc(schedule.describe())}, {when}; fired {schedule.fire_count}, catch-up {data.catch_up.value}"
        )
        self.toggle_button.description = "Resume" if schedule.paused else "Pause"
        self.toggle_button.icon = "play" if schedule.paused else "pause"

    def close(self) -> None:
        for widget in (*self.box.children, self.box):
            widget.close()


class SchedulesView(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """The recurring schedules of ``client`` (default: the shared ``lpe_nb.connect()``), oldest first."""

    def __init__(self, client: Client | None = None) -> None:
        super().__init__()
        self.client = resolve_client(client)
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _button: self.refresh())
        self.message = widgets.HTML()
        self.table = widgets.VBox()
        self.rows: dict[str, ScheduleRow] = {}
        self.children = [widgets.HBox([widgets.HTML("<b>Recurring schedules</b>"), self.refresh_button]),
                         self.message, self.table]  # fmt: skip
        self.refresh()

    @property
    def schedule_ids(self) -> list[str]:
        """The ids shown, in order."""
        return list(self.rows)

    def refresh(self) -> None:
        """Read the schedules again and show them."""
        try:
            schedules = self.client.schedules()
        except LpeError as exc:
            self.message.value = error_html(f"listing the schedules failed: {exc}")
            return
        self.message.value = "" if schedules else "<i>no schedules: client.schedule(...) makes one</i>"
        for gone in set(self.rows) - {schedule.id for schedule in schedules}:
            self.rows.pop(gone).close()
        for schedule in schedules:
            row = self.rows.get(schedule.id)
            if row is None:
                self.rows[schedule.id] = ScheduleRow(self, schedule)
            else:
                row.show(schedule)
        self.rows = {schedule.id: self.rows[schedule.id] for schedule in schedules}
        self.table.children = tuple(row.box for row in self.rows.values())

    def toggle(self, schedule_id: str) -> None:
        """Pause a running schedule or resume a paused one (its row's button), then refresh."""
        self._act(schedule_id, lambda s: s.resume() if s.paused else s.pause())

    def delete(self, schedule_id: str) -> None:
        """Delete a schedule (its row's Delete; the jobs it created stay), then refresh."""
        self._act(schedule_id, lambda s: s.delete())

    def _act(self, schedule_id: str, action: Any) -> None:
        try:
            action(self.client.get_schedule(schedule_id))
        except LpeError as exc:
            self.refresh()
            self.message.value = error_html(str(exc))
            return
        self.refresh()

    def close(self) -> None:
        if hasattr(self, "rows"):  # ipywidgets also calls close() from __del__, maybe half-built
            for row in self.rows.values():
                row.close()
            close_children(self)
        super().close()
