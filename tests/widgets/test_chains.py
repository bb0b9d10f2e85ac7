"""Chains in the widgets: a dependent's progress says which job it waits for, the dashboard shows the
chain on each dependent's line, and the wait ends when its parent does."""

from __future__ import annotations

import time
from collections.abc import Callable

from lpe_nb.client import Client, JobStatus
from lpe_nb.widgets import JobProgress, JobsDashboard
from tests.widgets.helpers import NARRATIVE, WAIT_S


def until(predicate: Callable[[], bool]) -> None:
    """Poll a rendered value (the widget renders on its own thread) until ``predicate`` holds."""
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, "not rendered in time"
        time.sleep(0.02)


def test_a_dependent_shows_the_parent_it_waits_for_and_ends_with_it(client: Client) -> None:
    parent = client.projection(NARRATIVE, delay_s=3600)
    child = parent.then("translation", intermediate_language="french")
    progress = JobProgress(child)
    dashboard = JobsDashboard(client)
    try:
        until(lambda: f"waiting for {parent.data.title}" in progress.step_label.value)
        assert "waiting_for" not in progress.step_label.value  # the ids stay out of the sentence
        dashboard.refresh().result(WAIT_S)
        row = dashboard.row(child.id)
        assert f"after <code>{parent.id[:8]}</code>" in row.label.value
        assert f"pending, waiting for {parent.data.title}" in row.status.value
        assert "after" not in dashboard.row(parent.id).label.value  # the parent waits for nobody
        parent.cancel()
        assert progress.wait_rendered(WAIT_S) and progress.status is JobStatus.CANCELLED
        assert "stopped at waiting for" in progress.step_label.value
    finally:
        dashboard.close()
        progress.close()


def test_a_released_dependent_runs_to_its_result(client: Client) -> None:
    parent = client.projection(NARRATIVE)
    child = parent.then("translation", intermediate_language="german")
    progress = JobProgress(child)
    try:
        assert progress.wait_rendered(WAIT_S) and progress.status is JobStatus.COMPLETED
        assert progress.result["original_text"] == parent.wait(WAIT_S).result["final_projection"]
    finally:
        progress.close()
