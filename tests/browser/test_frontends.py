"""The widgets as a user sees them, in JupyterLab and in Notebook 7 (headless chromium), on a server with
the extension and the mock LLM. Each test runs in both front ends; the screenshots are the README's."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Frontend
from tests.browser.pages import (
    LOAD_TIMEOUT_MS,
    bar_state,
    clipped,
    open_notebook,
    output_button,
    overflow_px,
    progress_bars,
    put_notebook,
    run_all_cells,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

_JOB_TIMEOUT_S = 90.0
_ROW = re.compile(
    r"\b(?P<id>[0-9a-f]{8})\b.*?\b(?P<status>pending|running|completed|failed|cancelled) \d+%", re.S
)


def test_quickstart_shows_a_live_bar_that_ends_in_success_and_the_result(
    page: Page, frontend: Frontend
) -> None:
    open_notebook(page, frontend, "quickstart.ipynb")
    run_all_cells(page)
    bar = progress_bars(page).first
    bar.wait_for(timeout=LOAD_TIMEOUT_MS)
    widget = page.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-hprogress")).first
    stream = widget.locator("textarea")

    seen: list[float] = []
    overflow = 0.0  # how far the streamed text box ever stuck out of the widget
    deadline = time.monotonic() + _JOB_TIMEOUT_S
    while time.monotonic() < deadline:  # observing the page as it changes, not waiting a guessed time
        value, classes = bar_state(bar)
        if stream.count() and stream.first.is_visible():
            overflow = max(overflow, overflow_px(stream.first, widget))
        if not seen or seen[-1] != value:
            seen.append(value)
            if 0 < value < 100:  # the last running state is the one kept: a step, elapsed and time left
                screenshot(page, frontend.shot("quickstart-running.png"))
                screenshot(widget, frontend.shot("quickstart-widget-running.png"))
        if "progress-bar-success" in classes and value >= 100:
            break
        page.wait_for_timeout(50)
    else:
        pytest.fail(f"the bar never reached 100 % with the success style; values seen: {seen}")

    assert len(set(seen)) >= 3, f"the bar took fewer than three values while the job ran: {seen}"
    assert seen == sorted(seen), f"the bar went backwards: {seen}"
    assert overflow <= 1, f"the streamed text box stuck out of the widget by {overflow:.0f} px"
    widget.get_by_text("Reflection").first.wait_for(timeout=LOAD_TIMEOUT_MS)  # the result, rendered
    screenshot(page, frontend.shot("quickstart-done.png"))
    screenshot(widget, frontend.shot("quickstart-widget-done.png"))


def test_cancel_from_the_projection_forms_progress_widget(page: Page, frontend: Frontend) -> None:
    name = f"form-{frontend.name}.ipynb"
    put_notebook(
        frontend.process,
        name,
        "import lpe_nb\nfrom lpe_nb.widgets import ProjectionForm\n\nProjectionForm(lpe_nb.connect())",
    )
    open_notebook(page, frontend, name)
    run_all_cells(page)
    narrative = f"Magellan's crew sailed on after their captain fell at Mactan ({frontend.name})."
    page.locator(".jp-OutputArea textarea").first.fill(narrative)
    run = output_button(page, "Run")
    run.click()

    bar = progress_bars(page).first
    bar.wait_for(timeout=LOAD_TIMEOUT_MS)
    page.get_by_text("running", exact=False).first.wait_for(timeout=LOAD_TIMEOUT_MS)
    expect(run).to_be_disabled()  # one click, one job: Run waits for this one to end
    output_button(page, "Cancel").click()

    page.locator(".jp-OutputArea .widget-html-content", has_text="cancelled").first.wait_for(
        timeout=LOAD_TIMEOUT_MS
    )
    expect(bar).to_have_class(re.compile(r"progress-bar-warning"), timeout=LOAD_TIMEOUT_MS)
    expect(output_button(page, "Cancel")).to_be_disabled()
    expect(run).to_be_enabled()
    screenshot(page, frontend.shot("form-cancelled.png"))

    cancelled = frontend.process.request("GET", "lpe/api/jobs?status=cancelled&type=projection")["jobs"]
    assert narrative in [job["input_data"]["narrative"] for job in cancelled]


def test_dashboard_lists_several_jobs_with_live_status(page: Page, frontend: Frontend) -> None:
    open_notebook(page, frontend, "dashboard.ipynb")
    run_all_cells(page)
    rows = page.locator(".jp-OutputArea .widget-hbox").filter(has=page.locator(".widget-hprogress"))

    history: dict[str, list[str]] = {}  # job id -> the statuses its row showed, in order
    shown: list[str] = []
    deadline = time.monotonic() + _JOB_TIMEOUT_S
    while time.monotonic() < deadline:  # watching the rows change as the jobs run
        texts = rows.all_inner_texts()
        for text in texts:
            found = _ROW.search(text)
            if found:
                statuses = history.setdefault(found["id"], [])
                if not statuses or statuses[-1] != found["status"]:
                    statuses.append(found["status"])
        live = [job for job, statuses in history.items() if statuses[0] in ("pending", "running")]
        if texts != shown and sum(history[job][-1] == "running" for job in live) >= 2:
            shown = texts  # the picture kept: the last one with several jobs running
            screenshot(page, frontend.shot("dashboard-running.png"))
        if len(live) >= 3 and all(history[job][-1] == "completed" for job in live):
            break
        page.wait_for_timeout(100)
    else:
        pytest.fail(f"the dashboard did not show three jobs running then completed: {history}")

    labels = rows.locator(".widget-html-content > div")
    heights = [box["height"] for box in (label.bounding_box() for label in labels.all()) if box]
    assert heights and max(heights) < 1.8 * min(heights), f"a row's id or title wrapped: {heights}"
    # a finished row has no Cancel to click (hidden, its place kept), and Open shows the job above the rows
    job_rows = page.locator(".jp-OutputArea .widget-hbox").filter(has=page.locator("button", has_text="Open"))
    assert not job_rows.first.locator("button", has_text="Cancel").is_visible()
    job_rows.first.locator("button", has_text="Open").click()
    close = output_button(page, "Close")
    close.wait_for(timeout=LOAD_TIMEOUT_MS)
    close_box, row_box = close.bounding_box(), job_rows.first.bounding_box()
    assert close_box is not None and row_box is not None
    assert close_box["y"] < row_box["y"], f"the opened job is not above the rows: {close_box}, {row_box}"
    screenshot(page, frontend.shot("dashboard-done.png"))


def test_a_maieutic_session_from_questions_to_the_projection(page: Page, frontend: Frontend) -> None:
    open_notebook(page, frontend, "maieutic.ipynb")
    run_all_cells(page)
    session = page.locator(".jp-OutputArea-output").filter(
        has=page.locator("button", has_text="Start session")
    )
    session.first.wait_for(timeout=LOAD_TIMEOUT_MS)
    session = session.first
    # the notebook answers and projects from code; the session's last stage ends with the reflection
    session.get_by_text("Reflection").first.wait_for(timeout=_JOB_TIMEOUT_S * 1000)
    project = session.locator("button", has_text="Project the enriched narrative")
    expect(project).to_be_enabled()
    assert not clipped(project), "the button's label is cut off"
    label = session.locator(".widget-html-content", has_text="depth 0").filter(visible=True)
    first_question = label.first.inner_text()
    question = first_question.split("depth 0", 1)[1].strip()
    assert question and session.inner_text().count(question) == 1, "the questions are shown twice"
    # The picture: from the narrative down to the projection's bar (its text below would make it too tall),
    # with a viewport tall enough to hold that much at once.
    page.set_viewport_size({"width": 1280, "height": 1600})
    session.evaluate("el => el.scrollIntoView({block: 'start'})")
    top, bottom = session.bounding_box(), session.locator(".widget-hprogress").last.bounding_box()
    assert top is not None and bottom is not None
    clip = {"x": top["x"], "y": top["y"], "width": top["width"], "height": bottom["y"] + 40 - top["y"]}
    screenshot(page, frontend.shot("maieutic-session.png"), clip=clip)
