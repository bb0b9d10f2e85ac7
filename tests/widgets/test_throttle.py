"""At most 10 front-end updates a second per widget, whatever the event rate; the last state always shown."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from lpe_nb.client import Client, EmbeddedBackend
from lpe_nb.jobs import JobStatus, StepContext
from lpe_nb.llm.mock import MockLLM
from lpe_nb.widgets import JobProgress, JobsDashboard
from lpe_nb.widgets._throttle import Throttle
from tests.widgets.helpers import SETTINGS, WAIT_S, SendLog, texts

BURST_EVENTS = 2000  # ~1,000 progress events a second for ~2 s


async def burst(ctx: StepContext, data: Any) -> dict[str, Any]:
    """A custom job type that reports progress about once a millisecond."""
    total = int(data["events"])
    for i in range(total):
        ctx.report(f"tick {i}", completed_steps=i + 1, total_steps=total, details={"tick": i})
        await asyncio.sleep(0.001)
    return {"events": total}


def start_burst(client: Client) -> str:
    backend = client.async_client.backend
    assert isinstance(backend, EmbeddedBackend)
    backend.engine.manager.registry.register("burst", burst, replace=True)
    return client.run_background(backend.submit("burst", {"events": BURST_EVENTS})).result(WAIT_S)


def test_a_thousand_events_a_second_make_at_most_ten_updates_a_second_per_widget(client: Client) -> None:
    job = client.job(start_burst(client))
    started = time.monotonic()
    progress = JobProgress(job)
    log = SendLog(
        {
            "bar": progress.bar,
            "status": progress.status_label,
            "step": progress.step_label,
            "cancel": progress.cancel_button,
            "result": progress.result_box,
        }
    )
    assert progress.wait_rendered(WAIT_S)
    took = time.monotonic() - started
    assert progress.status is JobStatus.COMPLETED and progress.bar.bar_style == "success"
    assert progress.bar.value == 100.0 and "&quot;events&quot;: 2000" in texts(progress.result_box)
    # The widget really was flooded: most of the 2,000 events reached it (the bus may coalesce a few).
    assert progress.events_received > BURST_EVENTS / 2, progress.events_received
    assert took > 1.5, took
    for name in ("bar", "step"):
        times = log.times[name]
        # Updated all along (about 10 a second), never more than 10 in any one-second window: the
        # throttle keeps consecutive renders >= 100 ms apart, measured from the end of one to the start of
        # the next, so 11 messages cannot fit in a half-open second however the renders are timed.
        assert len(times) >= 10 * took * 0.6, (name, len(times), took)
        assert log.busiest_second(name) <= 10, (name, log.busiest_second(name))
        assert min(b - a for a, b in itertools.pairwise(times)) >= 0.1
    assert log.busiest_second("status") <= 10 and len(log.times["result"]) == 1
    assert len(log.times["cancel"]) == 1  # disabled once, at the end: unchanged traits send nothing


def test_the_throttle_coalesces_pokes_from_many_threads_and_always_renders_the_last() -> None:
    value = [0]
    rendered: list[tuple[float, int]] = []
    last_render = threading.Event()

    def render() -> None:
        rendered.append((time.monotonic(), value[0]))
        if value[0] == 8 * 5000:
            last_render.set()

    throttle = Throttle(render, interval_s=0.05)
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(5000):
            with lock:
                value[0] += 1
            throttle.poke()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert last_render.wait(WAIT_S)  # the final state is rendered after the burst, by the timer
    starts = [t for t, _ in rendered]
    assert all(b - a >= 0.05 for a, b in itertools.pairwise(starts))
    assert len(rendered) < 1000  # 40,000 pokes coalesced
    throttle.close()
    throttle.poke()
    assert rendered[-1][1] == 8 * 5000


def test_a_dashboard_polling_fast_still_updates_a_row_at_most_ten_times_a_second(tmp_path: Path) -> None:
    # Progress stored every 10 ms (not every second) so that each listing sees a new percentage.
    settings = replace(SETTINGS, progress_persist_interval_s=0.01)
    with Client.embedded(tmp_path / "fast.db", llm=MockLLM(), settings=settings) as client:
        _dashboard_under_load(client)


def _dashboard_under_load(client: Client) -> None:
    job = client.job(start_burst(client))
    dashboard = JobsDashboard(client, interval_s=0.01)  # lists the jobs ~100 times a second
    try:
        dashboard.refresh().result(WAIT_S)
        row = dashboard.row(job.id)
        log = SendLog({"bar": row.bar, "status": row.status, "table": dashboard.table})
        job.wait(WAIT_S)
        dashboard.refresh().result(WAIT_S)
        assert "completed 100%" in row.status.value and row.bar.value == 100.0
        assert len(log.times["bar"]) >= 10  # the background task kept the row live
        assert log.busiest_second("bar") <= 10 and log.busiest_second("status") <= 10
        assert log.times["table"] == []  # same jobs, same order: the rows were updated in place
    finally:
        dashboard.close()
    assert dashboard.wait_stopped(WAIT_S)
