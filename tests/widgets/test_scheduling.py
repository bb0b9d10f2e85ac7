"""Scheduled jobs in the widgets: the wait is shown as "starts in ...", the form sets a delay."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from lpe_nb.client import Client, JobStatus
from lpe_nb.widgets import JobForm, JobProgress, JobsDashboard
from lpe_nb.widgets._view import starts_in
from tests.widgets.helpers import NARRATIVE, WAIT_S, record


def until(predicate: Callable[[], bool]) -> None:
    """Poll a rendered value (the widget renders on its own thread) until ``predicate`` holds."""
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, "not rendered in time"
        time.sleep(0.02)


def test_starts_in_counts_down_to_the_scheduled_time() -> None:
    soon = datetime.now(timezone.utc) + timedelta(minutes=4, seconds=30)
    assert starts_in(soon.isoformat()) in ("starts in 4 min 30 s", "starts in 4 min 29 s")
    assert starts_in((datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()) == "starting"
    assert starts_in(None) is None


def test_a_scheduled_job_shows_when_it_starts_and_can_be_cancelled(client: Client) -> None:
    job = client.projection(NARRATIVE, delay_s=3600)
    progress = JobProgress(job)
    dashboard = JobsDashboard(client)
    try:
        until(lambda: "scheduled: starts in 59 min" in progress.step_label.value)  # counts down each second
        dashboard.refresh().result(WAIT_S)
        assert "pending, starts in 59 min" in dashboard.row(job.id).status.value
        dashboard.row(job.id).cancel_button.click()
        assert client.job(job.id).status is JobStatus.CANCELLED
        assert progress.wait_rendered(WAIT_S) and "stopped at" in progress.step_label.value
    finally:
        dashboard.close()
        progress.close()


def test_the_generic_form_sets_a_delay(client: Client) -> None:
    form = JobForm(client, "translation")
    form.inputs["text"].value, form.inputs["intermediate_language"].value = NARRATIVE, "german"
    assert form.delay_s.value == 0
    form.delay_s.value = 600
    progress = form.run()
    assert progress is not None and form.job is not None
    scheduled_at = record(client, form.job.id).scheduled_at
    assert scheduled_at is not None and datetime.fromisoformat(scheduled_at) > datetime.now(timezone.utc)
    client.cancel(form.job.id)
    form.close()
