"""The process's figures: every live engine's meter, plus what stopped engines and stray LLM calls counted.

Prometheus counters are per process and must never go down, while engines come and go (a notebook opens
and closes several; tests run many): a stopped engine's figures are folded into a retired total, and the
process total is that plus the live meters. The job counts are the database's, so each database counts
once, however many engines of this process have it open.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lpe_nb.metrics._meter import Meter, merged, unattributed_meter

__all__ = ["live_meters", "process_snapshot", "refresh_gauges", "retire", "track"]

_LIVE: set[Meter] = set()
_RETIRED = Meter()


def track(meter: Meter) -> None:
    """Count ``meter`` in the process's figures from now on (an engine started)."""
    _LIVE.add(meter)


def retire(meter: Meter) -> None:
    """Fold ``meter``'s figures into the process's retired total and empty it (an engine stopped): the
    process's counters stay where they were; the engine's own start again from zero."""
    if meter in _LIVE:
        _LIVE.discard(meter)
        _RETIRED.add(meter)
        meter.job_types.clear()
        meter.models.clear()
        meter.counts = {}


def live_meters() -> list[Meter]:
    return list(_LIVE)


async def refresh_gauges() -> None:
    """Refresh the job counts of the live meters that run on this loop (before a scrape on it)."""
    loop = asyncio.get_running_loop()
    for meter in live_meters():
        if meter.loop is loop:
            await meter.refresh()


def process_snapshot(*, refresh: bool = True) -> dict[str, Any]:
    """The process's figures as :meth:`Meter.snapshot` shapes them; ``refresh`` first reads the counts of
    meters on other threads' loops (a meter on this thread's loop keeps its last counts: see
    :func:`refresh_gauges`)."""
    live = live_meters()
    if refresh:
        for meter in live:
            meter.refresh_from_any_thread()
    total = merged([_RETIRED, unattributed_meter(), *live])
    by_database: dict[str | None, dict[str, int]] = {}
    for meter in live:
        if meter.count_source is not None:
            by_database.setdefault(meter.database, meter.counts)
    counts: dict[str, int] = {}
    for database_counts in by_database.values():
        for status, n in database_counts.items():
            counts[status] = counts.get(status, 0) + n
    total.counts = counts
    running = sum(meter.running_here() for meter in live)
    total.running_here = lambda: running
    total.database = next(iter(by_database)) if len(by_database) == 1 else None
    return total.snapshot()
