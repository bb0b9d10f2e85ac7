"""``Analytics``: the job history's figures over a time range, as a summary, charts and a table.

It reads ``client.analytics`` twice per refresh (grouped as chosen, and by day and status for the
charts) on the client's own loop, draws the charts in a worker thread (matplotlib, see
:mod:`lpe_nb.widgets._plots` for why), and only then touches the widgets: the kernel's loop never waits
on the database or on matplotlib.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from lpe_nb.client import AnalyticsGroup, format_usd
from lpe_nb.client import AnalyticsReport as Report

from ._client import resolve_client
from ._plots import PLOTS_EXTRA, analytics_png, plots_available
from .results import close_children, error_html, esc

if TYPE_CHECKING:
    from lpe_nb.client import Client

__all__ = ["Analytics"]

RANGES = (("last 24 hours", 1), ("last 7 days", 7), ("last 30 days", 30), ("last 90 days", 90))
GROUPS = (("job type", "type"), ("model", "model"), ("status", "status"), ("nothing", ""))


class Analytics(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """Counts, success rate, duration p50/p95, tokens, cost and cache hit rate of the jobs created in the
    last ``days`` days (1, 7, 30 or 90), grouped by ``group_by`` (``type``, ``model``, ``status`` or
    ``""``), with charts when matplotlib is installed (``pip install 'lpe-nb[analytics]'``).

    Changing the range or the grouping, or clicking Refresh, reads the figures again; :meth:`refresh`
    does it from code and returns a future that completes once they are shown. ``report`` is the last
    report read (a :class:`lpe_nb.jobs.analytics.Analytics`; ``report.rows()`` for a DataFrame).
    """

    def __init__(
        self, client: Client | None = None, *, days: int = 7, group_by: str = "type", plots: bool = True
    ) -> None:
        super().__init__()
        self.client = resolve_client(client)
        self.range = widgets.Dropdown(description="jobs of the", options=list(RANGES), value=days)
        self.group_by = widgets.Dropdown(description="grouped by", options=list(GROUPS), value=group_by)
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.message = widgets.HTML()
        self.summary = widgets.HTML()
        self.plots = plots and plots_available()
        self.chart = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))
        self.chart.layout.display = "none"  # until there is a chart to show
        self.table = widgets.HTML()
        note = "" if self.plots or not plots else f"<small>Charts: {esc(PLOTS_EXTRA)}</small>"
        self.children = [
            widgets.HBox([self.range, self.group_by, self.refresh_button]),
            self.message,
            self.summary,
            self.chart,
            widgets.HTML(note),
            self.table,
        ]
        self.add_class("lpe-analytics")
        self.report: Report | None = None
        self._pending: concurrent.futures.Future[None] | None = None
        self.range.observe(lambda _change: self.refresh(), names="value")
        self.group_by.observe(lambda _change: self.refresh(), names="value")
        self.refresh_button.on_click(lambda _button: self.refresh())
        self.refresh()

    def refresh(self) -> concurrent.futures.Future[None]:
        """Read the figures again and show them; the future completes once they are shown (or with the
        error, which the widget also shows). A refresh still under way is superseded."""
        if self._pending is not None:
            self._pending.cancel()
        future: concurrent.futures.Future[None] = self.client.run_background(
            self._load(self.range.value, self.group_by.value)
        )
        self._pending = future
        return future

    def close(self) -> None:
        if getattr(self, "_pending", None) is not None:  # ipywidgets may call close() half-built
            self._pending.cancel()  # type: ignore[union-attr]
        close_children(self)
        super().close()

    # -- on the client's loop --------------------------------------------------------------------------

    async def _load(self, days: int, group_by: str) -> None:
        until = datetime.now(timezone.utc)
        since = until - timedelta(days=days)
        client = self.client.async_client
        try:
            report = await client.analytics(since=since, until=until, group_by=[group_by] if group_by else [])
            daily = await client.analytics(since=since, until=until, group_by=["day", "status"])
            png = await asyncio.to_thread(analytics_png, report, daily) if self.plots else b""
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.message.value = error_html(f"reading the analytics failed: {exc}")
            raise
        self.report = report
        with contextlib.ExitStack() as stack:
            for widget in (self.message, self.summary, self.chart, self.table):
                stack.enter_context(widget.hold_sync())
            self.message.value = ""
            self.summary.value = summary_html(report, days)
            if png:
                self.chart.value = png
                self.chart.layout.display = None
            self.table.value = table_html(report)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def summary_html(report: Report, days: int) -> str:
    """One line of the range's totals."""
    t = report.totals
    span = RANGES_BY_DAYS.get(days, f"last {days} days")
    parts = [
        f"<b>{t.jobs}</b> job{'s' if t.jobs != 1 else ''} in the {esc(span)}",
        f"<b>{_percent(t.success_rate)}</b> succeeded",
        f"p50 <b>{_seconds(t.duration_p50_s)}</b>, p95 <b>{_seconds(t.duration_p95_s)}</b>",
        f"<b>{t.total_tokens:,}</b> tokens",
        f"cost <b>{esc(format_usd(t.cost_usd))}</b>",
        f"<b>{t.cache_hit_rate:.0%}</b> of LLM calls from the cache",
    ]
    return f"<div class='lpe-analytics-summary'>{' · '.join(parts)}</div>"


RANGES_BY_DAYS = {days: label for label, days in RANGES}

_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("jobs", lambda g: str(g.jobs)),
    ("succeeded", lambda g: _percent(g.success_rate)),
    ("failed", lambda g: str(g.failed)),
    ("p50", lambda g: _seconds(g.duration_p50_s)),
    ("p95", lambda g: _seconds(g.duration_p95_s)),
    ("tokens", lambda g: f"{g.total_tokens:,}"),
    ("cost", lambda g: format_usd(g.cost_usd)),
    ("cache hits", lambda g: f"{g.cache_hit_rate:.0%}"),
)


def table_html(report: Report) -> str:
    """The groups and the totals as an HTML table (every value escaped)."""
    keys = list(report.group_by)
    cell = "style='padding: 2px 10px; text-align: right'"
    head = "".join(f"<th style='text-align: left'>{esc(k)}</th>" for k in keys)
    head += "".join(f"<th {cell}>{esc(name)}</th>" for name, _ in _COLUMNS)

    def row(group: AnalyticsGroup, label: list[str], *, bold: bool = False) -> str:
        weight = " style='font-weight: bold'" if bold else ""
        names = "".join(f"<td style='padding: 2px 10px 2px 0'>{esc(v)}</td>" for v in label)
        figures = "".join(f"<td {cell}>{esc(render(group))}</td>" for _, render in _COLUMNS)
        return f"<tr{weight}>{names}{figures}</tr>"

    body = "".join(row(g, [str(g.key.get(k) or "-") for k in keys]) for g in report.groups)
    total_label = ["total", *[""] * (len(keys) - 1)] if keys else []
    body += row(report.totals, total_label, bold=True)
    return f"<table class='lpe-analytics-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
