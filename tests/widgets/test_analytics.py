"""The Analytics widget, and cost in the result and dashboard widgets, over a real embedded engine."""

from __future__ import annotations

from lpe_nb.client import Client
from lpe_nb.jobs.analytics import Analytics as Report
from lpe_nb.jobs.analytics import AnalyticsGroup
from lpe_nb.widgets import Analytics, JobsDashboard, render_result
from lpe_nb.widgets.analytics import table_html
from tests.widgets.helpers import NARRATIVE, WAIT_S, texts

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_the_widget_shows_the_totals_a_table_per_group_and_charts(client: Client) -> None:
    jobs = [client.projection(NARRATIVE), client.translation(NARRATIVE, "french"), client.projection("Hi.")]
    for job in jobs:
        job.wait(WAIT_S)
    widget = Analytics(client)
    try:
        widget.refresh().result(WAIT_S)
        assert widget.report is not None and widget.report.group_by == ("type",)
        assert "<b>3</b> jobs in the last 7 days" in widget.summary.value
        assert (
            "<b>100%</b> succeeded" in widget.summary.value and "cost <b>$0.0000</b>" in widget.summary.value
        )
        tokens = sum(s.usage["total_tokens"] for job in jobs for s in job.steps)
        assert f"<b>{tokens:,}</b> tokens" in widget.summary.value
        assert "<td style='padding: 2px 10px 2px 0'>projection</td>" in widget.table.value
        assert bytes(widget.chart.value).startswith(PNG_MAGIC) and widget.chart.layout.display is None

        widget.group_by.value = "status"  # a new grouping reads the figures again
        widget.refresh().result(WAIT_S)
        assert widget.report.group_by == ("status",)
        assert [g.key for g in widget.report.groups] == [{"status": "completed"}]
    finally:
        widget.close()


def test_without_plots_the_widget_shows_tables_only(client: Client) -> None:
    client.projection(NARRATIVE).wait(WAIT_S)
    widget = Analytics(client, plots=False, days=1, group_by="")
    try:
        widget.refresh().result(WAIT_S)
        assert bytes(widget.chart.value) == b"" and widget.chart.layout.display == "none"
        assert "<b>1</b> job in the last 24 hours" in widget.summary.value
        assert "<td style='padding: 2px 10px 2px 0'>" not in widget.table.value  # no key column
    finally:
        widget.close()


def test_the_table_escapes_what_it_shows() -> None:
    group = AnalyticsGroup(key={"model": "<script>x</script>"}, jobs=1, cost_usd=None)
    report = Report("2026-01-01", "2026-01-02", ("model",), [group], AnalyticsGroup(key={}, jobs=1))
    html = table_html(report)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert ">?</td>" in html  # an unknown cost


def test_the_result_and_the_dashboard_show_what_a_job_cost(client: Client) -> None:
    job = client.projection(NARRATIVE).wait(WAIT_S)
    assert job.data.cost_usd == 0.0 and job.result["cost_usd"] == 0.0
    tokens = job.result["usage"]["total_tokens"]
    assert f"{tokens:,} tokens · cost $0.0000" in texts(render_result("projection", job.result))
    dashboard = JobsDashboard(client)
    try:
        dashboard.refresh().result(WAIT_S)
        assert "$0.0000" in dashboard.row(job.id).cost.value
    finally:
        dashboard.close()
