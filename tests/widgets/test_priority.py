"""Priority in the widgets: the generic form sets a job's own, the dashboard shows it and sorts by it."""

from __future__ import annotations

from lpe_nb.client import Client
from lpe_nb.widgets import JobForm, JobsDashboard
from tests.widgets.helpers import NARRATIVE, WAIT_S, record


def test_the_generic_form_sets_the_jobs_priority(client: Client) -> None:
    form = JobForm(client, "translation")
    form.inputs["text"].value, form.inputs["intermediate_language"].value = NARRATIVE, "german"
    assert (form.priority.value, form.priority.min, form.priority.max) == (0, -1000, 1000)
    form.priority.value = 3
    progress = form.run()
    assert progress is not None and form.job is not None
    assert record(client, form.job.id).priority == 3
    assert progress.wait_rendered(WAIT_S)
    form.close()


def test_the_dashboard_shows_priorities_and_sorts_by_them(client: Client) -> None:
    low = client.projection(NARRATIVE, priority=-2).wait(WAIT_S)
    plain = client.projection(NARRATIVE).wait(WAIT_S)
    high = client.projection(NARRATIVE, priority=5).wait(WAIT_S)
    other_high = client.projection(NARRATIVE, priority=5).wait(WAIT_S)
    dashboard = JobsDashboard(client)
    try:
        dashboard.refresh().result(WAIT_S)
        assert dashboard.job_ids == [other_high.id, high.id, plain.id, low.id]  # newest first
        assert "[+5]" in dashboard.row(high.id).label.value and "[-2]" in dashboard.row(low.id).label.value
        assert "[" not in dashboard.row(plain.id).label.value.split("<b>")[0].split("</code>")[1]
        dashboard.sort.value = "priority"
        dashboard.refresh().result(WAIT_S)
        # the order the queue starts them in: highest first, equal ones oldest first
        assert dashboard.job_ids == [high.id, other_high.id, plain.id, low.id]
    finally:
        dashboard.close()


def test_the_dashboard_changes_a_pending_jobs_priority(client: Client) -> None:
    waiting = client.projection(NARRATIVE, delay_s=600)  # pending for ten minutes
    done = client.projection(NARRATIVE).wait(WAIT_S)
    dashboard = JobsDashboard(client)
    try:
        dashboard.refresh().result(WAIT_S)
        row = dashboard.row(waiting.id)
        assert (row.raise_button.layout.visibility, row.lower_button.layout.visibility) == (None, None)
        assert dashboard.row(done.id).raise_button.layout.visibility == "hidden"  # it has run
        row.raise_button.click()
        dashboard.refresh().result(WAIT_S)
        assert record(client, waiting.id).priority == 1 and "[+1]" in row.label.value
        row.lower_button.click()
        row.lower_button.click()
        dashboard.refresh().result(WAIT_S)
        assert record(client, waiting.id).priority == -1 and "[-1]" in row.label.value
        client.cancel(waiting.id)
        dashboard.refresh().result(WAIT_S)
        assert row.raise_button.layout.visibility == "hidden"
    finally:
        dashboard.close()
