"""JobsDashboard on a real engine: lists recent jobs, filters by status, cancels, opens, stops on close."""

from __future__ import annotations

import threading

import pytest

from lpe_nb.client import Client
from lpe_nb.errors import JobFailed
from lpe_nb.jobs import JobStatus
from lpe_nb.widgets import JobsDashboard
from tests.widgets.helpers import NARRATIVE, WAIT_S, start_failing, texts, wait_running


def test_the_dashboard_lists_filters_opens_and_stops(client: Client) -> None:
    first = client.projection(NARRATIVE).wait(WAIT_S)
    second = client.translation(NARRATIVE, "french").wait(WAIT_S)
    failed = start_failing(client)
    with pytest.raises(JobFailed):
        failed.wait(WAIT_S)
    dashboard = JobsDashboard(client)
    try:
        assert dashboard.polling
        dashboard.refresh().result(WAIT_S)
        assert dashboard.job_ids == [failed.id, second.id, first.id]  # newest first
        row = dashboard.row(first.id)
        assert row.bar.bar_style == "success" and "completed 100%" in row.status.value
        assert "Projection" in row.label.value
        # a finished job has nothing to cancel: its Cancel is hidden (its place kept, so Open lines up)
        assert row.cancel_button.disabled and row.cancel_button.layout.visibility == "hidden"
        # one line: the short id first, never wrapped, the title cut with an ellipsis if too long
        assert "white-space: nowrap" in row.label.value and "text-overflow: ellipsis" in row.label.value
        assert row.label.value.index(first.id[:8]) < row.label.value.index("<b>Projection")
        assert dashboard.row(failed.id).bar.bar_style == "danger"

        dashboard.status_filter.value = "failed"
        dashboard.refresh().result(WAIT_S)
        assert dashboard.job_ids == [failed.id]
        dashboard.status_filter.value = "all"
        dashboard.refresh().result(WAIT_S)
        assert len(dashboard.job_ids) == 3

        dashboard.row(second.id).open_button.click()
        opened = dashboard.opened
        assert opened is not None and dashboard.detail.children == (dashboard.close_detail_button, opened)
        # right below the filters, above the rows: not below twenty rows, off-screen
        children = list(dashboard.children)
        assert children.index(dashboard.detail) < children.index(dashboard.table)
        assert opened.wait_rendered(WAIT_S) and "Back-translated" in texts(opened.result_box)
        dashboard.row(first.id).open_button.click()  # another Open replaces it
        assert dashboard.opened is not opened and dashboard.detail.children[1] is dashboard.opened
        form = dashboard.new_job("translation")  # so does New job
        assert dashboard.detail.children == (dashboard.close_detail_button, form) and dashboard.opened is None
        dashboard.close_detail_button.click()
        assert dashboard.detail.children == () and dashboard.form is None
    finally:
        dashboard.close()
    assert dashboard.wait_stopped(WAIT_S) and not dashboard.polling


def test_cancel_from_the_dashboard_cancels_the_job(slow_client: Client) -> None:
    job = slow_client.projection(NARRATIVE)
    wait_running(job)
    dashboard = JobsDashboard(slow_client)
    try:
        dashboard.refresh().result(WAIT_S)
        row = dashboard.row(job.id)
        assert not row.cancel_button.disabled and "running" in row.status.value
        assert row.cancel_button.layout.visibility is None
        row.cancel_button.click()
        with pytest.raises(JobFailed):
            job.wait(WAIT_S)
        assert slow_client.job(job.id).status is JobStatus.CANCELLED
        dashboard.refresh().result(WAIT_S)
        assert "cancelled" in row.status.value and row.bar.bar_style == "warning"
        assert row.cancel_button.disabled and row.cancel_button.layout.visibility == "hidden"
    finally:
        dashboard.close()
    assert dashboard.wait_stopped(WAIT_S)


def test_the_background_task_shows_new_jobs_without_a_refresh(client: Client) -> None:
    dashboard = JobsDashboard(client, interval_s=0.1)
    try:
        dashboard.refresh().result(WAIT_S)
        assert dashboard.job_ids == []
        appeared = threading.Event()
        dashboard.table.observe(lambda change: appeared.set() if change["new"] else None, "children")
        job = client.projection(NARRATIVE)
        assert appeared.wait(WAIT_S)  # listed by the periodic task: nobody called refresh()
        assert dashboard.job_ids == [job.id]
    finally:
        dashboard.close()
