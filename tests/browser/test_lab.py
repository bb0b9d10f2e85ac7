"""The widgets as a user sees them: JupyterLab in headless chromium, the extension, the mock LLM."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS
from tests.browser.lab import (
    LOAD_TIMEOUT_MS,
    bar_state,
    open_notebook,
    output_button,
    progress_bars,
    put_notebook,
    run_all_cells,
    screenshot_once,
)
from tests.jupyter_process import JupyterProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

_JOB_TIMEOUT_S = 90.0
_ROW = re.compile(
    r"\b(?P<id>[0-9a-f]{8})\b.*?\b(?P<status>pending|running|completed|failed|cancelled) \d+%", re.S
)


def test_quickstart_shows_a_live_bar_that_ends_in_success_and_the_result(
    page: Page, lab: JupyterProcess
) -> None:
    open_notebook(page, lab, "quickstart.ipynb")
    run_all_cells(page)
    bar = progress_bars(page).first
    bar.wait_for(timeout=LOAD_TIMEOUT_MS)
    widget = page.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-hprogress")).first

    seen: list[float] = []
    deadline = time.monotonic() + _JOB_TIMEOUT_S
    while time.monotonic() < deadline:  # observing the page as it changes, not waiting a guessed time
        value, classes = bar_state(bar)
        if not seen or seen[-1] != value:
            seen.append(value)
        if 0 < value < 100:
            screenshot_once(page, "quickstart-running.png")
            screenshot_once(widget, "quickstart-widget-running.png")
        if "progress-bar-success" in classes and value >= 100:
            break
        page.wait_for_timeout(50)
    else:
        pytest.fail(f"the bar never reached 100 % with the success style; values seen: {seen}")

    assert len(set(seen)) >= 3, f"the bar took fewer than three values while the job ran: {seen}"
    assert seen == sorted(seen), f"the bar went backwards: {seen}"
    page.get_by_text("Let it be said").first.wait_for(timeout=LOAD_TIMEOUT_MS)  # the projection's text
    page.screenshot(path=str(SCREENSHOTS / "quickstart-done.png"))
    widget.screenshot(path=str(SCREENSHOTS / "quickstart-widget-done.png"))


def test_cancel_from_the_projection_forms_progress_widget(page: Page, lab: JupyterProcess) -> None:
    put_notebook(
        lab,
        "form.ipynb",
        "import lpe_nb\nfrom lpe_nb.widgets import ProjectionForm\n\nProjectionForm(lpe_nb.connect())",
    )
    open_notebook(page, lab, "form.ipynb")
    run_all_cells(page)
    narrative = "Magellan's crew sailed on after their captain fell at Mactan."
    page.locator(".jp-OutputArea textarea").first.fill(narrative)
    output_button(page, "Run").click()

    bar = progress_bars(page).first
    bar.wait_for(timeout=LOAD_TIMEOUT_MS)
    page.get_by_text("running", exact=False).first.wait_for(timeout=LOAD_TIMEOUT_MS)
    output_button(page, "Cancel").click()

    page.locator(".jp-OutputArea .widget-html-content", has_text="cancelled").first.wait_for(
        timeout=LOAD_TIMEOUT_MS
    )
    expect(bar).to_have_class(re.compile(r"progress-bar-warning"), timeout=LOAD_TIMEOUT_MS)
    expect(output_button(page, "Cancel")).to_be_disabled()
    page.screenshot(path=str(SCREENSHOTS / "form-cancelled.png"))

    cancelled = lab.request("GET", "lpe/api/jobs?status=cancelled&type=projection")["jobs"]
    assert [job["input_data"]["narrative"] for job in cancelled] == [narrative]


def test_dashboard_lists_several_jobs_with_live_status(page: Page, lab: JupyterProcess) -> None:
    open_notebook(page, lab, "dashboard.ipynb")
    run_all_cells(page)
    rows = page.locator(".jp-OutputArea .widget-hbox").filter(has=page.locator(".widget-hprogress"))

    history: dict[str, list[str]] = {}  # job id -> the statuses its row showed, in order
    deadline = time.monotonic() + _JOB_TIMEOUT_S
    while time.monotonic() < deadline:  # watching the rows change as the jobs run
        for text in rows.all_inner_texts():
            found = _ROW.search(text)
            if found:
                statuses = history.setdefault(found["id"], [])
                if not statuses or statuses[-1] != found["status"]:
                    statuses.append(found["status"])
        live = [job for job, statuses in history.items() if statuses[0] in ("pending", "running")]
        if any(history[job][-1] == "running" for job in live):
            screenshot_once(page, "dashboard-running.png")
        if len(live) >= 3 and all(history[job][-1] == "completed" for job in live):
            break
        page.wait_for_timeout(100)
    else:
        pytest.fail(f"the dashboard did not show three jobs running then completed: {history}")
    page.screenshot(path=str(SCREENSHOTS / "dashboard-done.png"))
