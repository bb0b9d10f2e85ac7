"""The Analytics widget's charts, drawn by matplotlib into a PNG.

Why matplotlib and a PNG: an ``ipywidgets.Image`` holding PNG bytes renders wherever ipywidgets do
(JupyterLab, Notebook 7, VS Code, Voilà) with no front-end extension, no JavaScript library loaded from
a CDN, and no renderer to configure (plotly needs its renderer and, in some front ends, its extension;
bokeh and altair load JavaScript that a locked-down VS Code or an offline server may not have). A PNG is
also what the notebook stores, so a saved notebook shows the charts on GitHub. matplotlib is drawn with
its object API on an Agg canvas: no pyplot, so no global figure state, no GUI backend, nothing shared
with the user's own plots in the kernel.

matplotlib is an optional dependency (``pip install 'lpe-nb[analytics]'``): :func:`plots_available` says
whether it is installed, and the widget shows its tables without it.
"""

from __future__ import annotations

import importlib.util
import io
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from lpe_nb.client import AnalyticsGroup
from lpe_nb.client import AnalyticsReport as Analytics

__all__ = ["PLOTS_EXTRA", "analytics_png", "plots_available"]

PLOTS_EXTRA = "pip install 'lpe-nb[analytics]'"  # what to install for the charts

_STATUS_COLOURS = (
    ("completed", "#16a34a"),
    ("failed", "#dc2626"),
    ("cancelled", "#9ca3af"),
    ("pending", "#2563eb"),
    ("running", "#f59e0b"),
)


def plots_available() -> bool:
    """Whether matplotlib is installed (the charts need it; the tables do not)."""
    return importlib.util.find_spec("matplotlib") is not None


def analytics_png(by_group: Analytics, by_day_status: Analytics, *, dpi: int = 96) -> bytes:
    """Four charts as one PNG: jobs per day by status, cost per day, duration p50/p95 per group and
    tokens per group (with its cache hit rate). ``by_group`` is grouped by one name (or none),
    ``by_day_status`` by day and status, over the same range."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 6.4), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    (jobs_axes, cost_axes), (time_axes, token_axes) = figure.subplots(2, 2)
    days = _by_day(by_day_status)
    span = (date.fromisoformat(by_day_status.since[:10]), date.fromisoformat(by_day_status.until[:10]))
    _jobs_per_day(jobs_axes, days, span)
    _cost_per_day(cost_axes, days, span)
    label = by_group.group_by[0] if by_group.group_by else ""
    groups = by_group.groups or [by_group.totals]
    names = [_name(group, label) for group in groups]
    _durations(time_axes, names, groups, label)
    _tokens(token_axes, names, groups, label)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _name(group: AnalyticsGroup, label: str) -> str:
    if not label:
        return "all jobs"
    value = group.key.get(label)
    return "(no LLM step)" if value is None and label == "model" else str(value)


def _by_day(report: Analytics) -> dict[date, dict[str, AnalyticsGroup]]:
    days: dict[date, dict[str, AnalyticsGroup]] = defaultdict(dict)
    for group in report.groups:
        day, status = group.key.get("day"), group.key.get("status")
        if day and status:
            days[date.fromisoformat(day)][status] = group
    return dict(sorted(days.items()))


def _empty(axes: Any, title: str) -> None:
    axes.set_title(title, loc="left", fontsize=11)
    axes.text(0.5, 0.5, "no jobs in this range", ha="center", va="center", color="#6b7280",
              transform=axes.transAxes)  # fmt: skip
    axes.set_xticks([])
    axes.set_yticks([])


def _date_axis(axes: Any, span: tuple[date, date]) -> None:
    """Days on x, over the whole range (a quiet day is an empty slot, not a missing one)."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(maxticks=8)  # type: ignore[no-untyped-call]  # matplotlib leaves it untyped
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]  # same
    margin = timedelta(hours=14)  # a bar is 0.8 day wide, centred on its day
    first, last = (datetime.combine(day, datetime.min.time()) for day in span)
    axes.set_xlim(first - margin, last + margin)


def _jobs_per_day(axes: Any, days: dict[date, dict[str, AnalyticsGroup]], span: tuple[date, date]) -> None:
    title = "Jobs created per day, by status"
    if not days:
        _empty(axes, title)
        return
    x = list(days)
    bottom = [0] * len(x)
    for status, colour in _STATUS_COLOURS:
        counts = [days[day][status].jobs if status in days[day] else 0 for day in x]
        if any(counts):
            axes.bar(x, counts, bottom=bottom, color=colour, label=status, width=0.8)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axes.set_title(title, loc="left", fontsize=11)
    axes.set_ylim(0, max(bottom) * 1.3)  # room for the legend above the bars
    axes.legend(fontsize=8, frameon=False, loc="upper left", ncols=5)
    axes.yaxis.get_major_locator().set_params(integer=True)
    _date_axis(axes, span)


def _cost_per_day(axes: Any, days: dict[date, dict[str, AnalyticsGroup]], span: tuple[date, date]) -> None:
    title = "Cost per day (USD)"
    if not days:
        _empty(axes, title)
        return
    x = list(days)
    costs = [sum(g.cost_usd or 0.0 for g in days[day].values()) for day in x]
    axes.bar(x, costs, color="#7c3aed", width=0.8)
    if any(costs):
        axes.set_ylim(0, max(costs) * 1.15)
        axes.yaxis.set_major_formatter(lambda value, _pos: f"${value:,.4g}")
    else:
        axes.set_yticks([])
        axes.text(0.5, 0.5, "$0: the mock, local servers and cache hits are free", ha="center",
                  va="center", color="#6b7280", transform=axes.transAxes)  # fmt: skip
    axes.set_title(title, loc="left", fontsize=11)
    _date_axis(axes, span)


def _durations(axes: Any, names: list[str], groups: list[AnalyticsGroup], label: str) -> None:
    title = f"Duration by {label} (s)" if label else "Duration (s)"
    timed = [(n, g) for n, g in zip(names, groups, strict=True) if g.duration_p50_s is not None]
    if not timed:
        _empty(axes, title)
        return
    y = range(len(timed))
    p50 = [g.duration_p50_s or 0.0 for _, g in timed]
    p95 = [g.duration_p95_s or 0.0 for _, g in timed]
    axes.barh([i - 0.2 for i in y], p50, height=0.4, color="#0ea5e9", label="p50")
    axes.barh([i + 0.2 for i in y], p95, height=0.4, color="#0369a1", label="p95")
    axes.set_xlim(0, max([*p95, *p50]) * 1.3 or 1)  # room for the legend at the right
    axes.set_yticks(list(y), [n for n, _ in timed], fontsize=9)
    axes.invert_yaxis()
    axes.set_title(title, loc="left", fontsize=11)
    axes.legend(fontsize=8, frameon=False, loc="lower right")


def _tokens(axes: Any, names: list[str], groups: list[AnalyticsGroup], label: str) -> None:
    title = f"Tokens by {label}, with cache hit rate" if label else "Tokens, with cache hit rate"
    if not any(g.jobs for g in groups):
        _empty(axes, title)
        return
    y = list(range(len(groups)))
    tokens = [g.total_tokens for g in groups]
    bars = axes.barh(y, tokens, height=0.6, color="#f97316")
    for bar, group in zip(bars, groups, strict=True):
        axes.annotate(f" {group.cache_hit_rate:.0%} cached", (bar.get_width(), bar.get_y() + 0.3),
                      va="center", fontsize=8, color="#374151")  # fmt: skip
    axes.set_yticks(y, names, fontsize=9)
    axes.invert_yaxis()
    axes.set_xlim(0, max([*tokens, 1]) * 1.3)  # room for the labels
    axes.xaxis.set_major_formatter(lambda value, _pos: f"{value:,.0f}")
    axes.set_title(title, loc="left", fontsize=11)
