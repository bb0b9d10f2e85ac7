"""The Analytics widget as a user sees it, in JupyterLab and Notebook 7 (headless chromium), on a server
with the extension and the mock LLM: notebooks/analytics.ipynb runs, the widget's summary, charts (a PNG
that decodes) and table show, and its picture is the README's."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Frontend
from tests.browser.pages import LOAD_TIMEOUT_MS, open_notebook, run_all_cells, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

_JOBS_TIMEOUT_MS = 120_000  # three mock jobs at the servers' slowed-down mock latency


def test_the_analytics_widget_shows_its_figures_charts_and_table(page: Page, frontend: Frontend) -> None:
    open_notebook(page, frontend, "analytics.ipynb")
    run_all_cells(page)
    widget = page.locator(".lpe-analytics").first
    widget.wait_for(timeout=_JOBS_TIMEOUT_MS)
    summary = widget.locator(".lpe-analytics-summary")
    expect(summary).to_contain_text("jobs in the last 7 days", timeout=LOAD_TIMEOUT_MS)
    expect(summary).to_contain_text("cost $0.0000")
    chart = widget.locator("img")
    expect(chart).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    size = chart.evaluate("img => [img.naturalWidth, img.naturalHeight, img.getBoundingClientRect().width]")
    assert size[0] > 600 and size[1] > 400, f"the chart did not decode to a picture: {size}"
    assert size[2] > 300, f"the chart is drawn too small to read: {size}"
    table = widget.locator(".lpe-analytics-table")
    expect(table).to_contain_text("projection")
    expect(table).to_contain_text("translation")
    page.set_viewport_size({"width": 1280, "height": 1500})  # the whole widget below the page's header
    widget.scroll_into_view_if_needed()
    screenshot(widget, frontend.shot("analytics-widget.png"))
