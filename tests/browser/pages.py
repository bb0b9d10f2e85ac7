"""Steps a user would take in JupyterLab or Notebook 7, as Playwright calls: open a notebook, run all,
read and measure widgets, take screenshots."""

from __future__ import annotations

import time
import urllib.error
from pathlib import Path

from playwright.sync_api import FloatRect, Locator, Page

from tests.browser.conftest import CURATED, CURATED_DIR, SCREENSHOTS, Frontend
from tests.jupyter_process import JupyterProcess

LOAD_TIMEOUT_MS = 90_000


def open_notebook(page: Page, frontend: Frontend, name: str) -> None:
    """Open ``name`` alone (a fresh JupyterLab workspace, or Notebook 7's one-notebook page) and wait
    until its kernel is idle."""
    server = frontend.process
    if frontend.name == "lab":
        workspace = name.replace(".", "-")
        page.goto(f"{server.url}lab/workspaces/{workspace}/tree/{name}?reset&token={server.token}")
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=LOAD_TIMEOUT_MS)
        page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=LOAD_TIMEOUT_MS)
        return
    page.goto(f"{server.url}notebooks/{name}?token={server.token}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=LOAD_TIMEOUT_MS)
    # Notebook 7 has no status bar: the toolbar's kernel indicator says when the kernel is idle...
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
        timeout=LOAD_TIMEOUT_MS
    )
    # ...which it may say before the page's socket to the kernel is open (Run All then ran nothing): the
    # server knows when the kernel has its connection.
    _wait_connected(server)


def _wait_connected(server: JupyterProcess) -> None:
    deadline = time.monotonic() + LOAD_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        try:
            kernels = server.request("GET", "api/kernels") or []
        except urllib.error.HTTPError:  # jupyter_server lists a kernel that is shutting down with a 500
            kernels = []
        if any(k.get("connections", 0) > 0 and k.get("execution_state") == "idle" for k in kernels):
            return
        time.sleep(0.1)  # polling the server's own account of the kernel
    raise AssertionError(f"no kernel with an open connection within {LOAD_TIMEOUT_MS / 1000:g} s")


def run_all_cells(page: Page) -> None:
    """Run > Run All Cells (the same menu in both front ends)."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def progress_bars(page: Page) -> Locator:
    """The bars of the ipywidgets progress widgets in the output areas."""
    return page.locator(".jp-OutputArea .widget-hprogress .progress-bar")


def bar_state(bar: Locator) -> tuple[float, str]:
    """(filled percentage, class list) of one ipywidgets progress bar."""
    width, classes = bar.evaluate("""el => [el.style.width || el.style.height || '0%', el.className]""")
    return float(str(width).rstrip("%") or 0), str(classes)


def put_notebook(server: JupyterProcess, name: str, *sources: str) -> None:
    """Save a notebook of code cells ``sources`` at ``name`` through the server's contents API."""
    cells = [
        {"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}
        for source in sources
    ]
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    server.request("PUT", f"api/contents/{name}", {"type": "notebook", "format": "json", "content": notebook})


def output_button(page: Page, label: str) -> Locator:
    """A widget button in the output areas, by its text."""
    return page.locator(".jp-OutputArea button.jupyter-button", has_text=label)


def overflow_px(inner: Locator, outer: Locator) -> float:
    """How many pixels ``inner`` sticks out to the right of ``outer`` (0 or less: it fits; 0 as well
    when either is not displayed at this instant)."""
    inner_box, outer_box = inner.bounding_box(), outer.bounding_box()
    if inner_box is None or outer_box is None:
        return 0.0
    return (inner_box["x"] + inner_box["width"]) - (outer_box["x"] + outer_box["width"])


def clipped(element: Locator) -> bool:
    """Whether ``element``'s content is wider than the element (its text is cut off)."""
    return bool(element.evaluate("el => el.scrollWidth > el.clientWidth + 1"))


def screenshot(
    target: Page | Locator, name: str, *, once: bool = False, clip: FloatRect | None = None
) -> None:
    """Save the page (or one element, or the page's ``clip``) as ``name``: in build/screenshots, and in
    LPE_SCREENSHOT_DIR too when ``name`` is one of the README's pictures. With ``once``, only the first
    call per run saves."""
    path = SCREENSHOTS / name
    if once and path in _taken:
        return
    _taken.add(path)
    if clip is not None and isinstance(target, Page):
        target.screenshot(path=str(path), clip=clip)
    else:
        target.screenshot(path=str(path))
    if CURATED_DIR is not None and name in CURATED:
        (CURATED_DIR / name).write_bytes(path.read_bytes())


_taken: set[Path] = set()
