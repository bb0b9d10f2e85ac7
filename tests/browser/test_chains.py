"""A chain in the dashboard as a user sees it, in JupyterLab and Notebook 7 (headless chromium), on a
server with the extension and the (slowed-down) mock LLM: notebooks/chains.ipynb runs; the dashboard's
dependent rows name the job they wait for ("after <id>"), say "waiting for <title>" while they wait, and
end completed. The picture is the README's."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import Frontend
from tests.browser.pages import open_notebook, run_all_cells, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]

_CHAIN_TIMEOUT_S = 240  # the notebook's chains at the servers' slowed-down mock latency
_AFTER = re.compile(r"after ([0-9a-f]{8})")


def test_the_dashboard_shows_a_chain_waiting_then_done(page: Page, frontend: Frontend) -> None:
    open_notebook(page, frontend, "chains.ipynb")
    run_all_cells(page)
    dashboard = page.locator(".jp-OutputArea-output").filter(has=page.locator("button", has_text="Open")).last
    dashboard.wait_for(timeout=_CHAIN_TIMEOUT_S * 1000)
    rows = dashboard.locator(".widget-hbox").filter(has=page.locator(".widget-hprogress"))
    waited = False
    deadline = time.monotonic() + _CHAIN_TIMEOUT_S
    while time.monotonic() < deadline:  # watching the rows change as the last chain runs
        texts = rows.all_inner_texts()
        chained = [text for text in texts if _AFTER.search(text)]
        if any("waiting for" in text for text in chained) and not waited:
            waited = True
            page.set_viewport_size({"width": 1280, "height": 1100})
            dashboard.scroll_into_view_if_needed()
            screenshot(dashboard, frontend.shot("dashboard-chain.png"))
        if waited and len(chained) >= 2 and all("completed" in text for text in chained[:2]):
            break
        page.wait_for_timeout(100)
    else:
        pytest.fail(f"the dashboard did not show a chain waiting then completed: {rows.all_inner_texts()}")
    # each dependent of the last chain names a job listed below it (older): its parent
    texts = rows.all_inner_texts()
    for index, text in enumerate(texts):
        found = _AFTER.search(text)
        if found and index < 3:
            assert any(found.group(1) in other for other in texts[index + 1 :]), (found.group(1), texts)
