"""``python -m lpe_nb analytics``: a report as an aligned text table, or as JSON."""

from __future__ import annotations

import json
import sys
from typing import IO

from lpe_nb.jobs.analytics import Analytics, AnalyticsGroup
from lpe_nb.llm.pricing import format_usd

__all__ = ["print_analytics"]

_FIGURES = ("jobs", "ok %", "p50 s", "p95 s", "tokens", "cost $", "cache %")


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.0f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _figures(group: AnalyticsGroup) -> list[str]:
    return [
        str(group.jobs),
        _percent(group.success_rate),
        _seconds(group.duration_p50_s),
        _seconds(group.duration_p95_s),
        f"{group.total_tokens:,}",
        format_usd(group.cost_usd).lstrip("$"),
        _percent(group.cache_hit_rate),
    ]


def print_analytics(report: Analytics, *, as_json: bool, out: IO[str] | None = None) -> None:
    """The report's groups then its totals, one aligned line each (key columns left, figures right)."""
    out = out or sys.stdout
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False), file=out)
        return
    names = list(report.group_by)
    header = [*names, *_FIGURES]
    rows = [[str(g.key.get(name) or "-") for name in names] + _figures(g) for g in report.groups]
    total = ["total" if i == 0 else "" for i in range(len(names))] + _figures(report.totals)
    if not names:
        header, total = ["", *_FIGURES], ["total", *_figures(report.totals)]
    widths = [max(len(row[i]) for row in [header, *rows, total]) for i in range(len(header))]
    keys = max(len(names), 1)

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i < keys else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(f"jobs created {report.since[:19]} .. {report.until[:19]} UTC", file=out)
    print(line(header), file=out)
    for row in rows:
        print(line(row), file=out)
    print(line(total), file=out)
