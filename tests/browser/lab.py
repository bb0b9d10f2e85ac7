"""Steps in JupyterLab a user would take, as Playwright calls: open a notebook, run all, read widgets."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Locator, Page

from tests.browser.conftest import SCREENSHOTS
from tests.jupyter_process import JupyterProcess

LOAD_TIMEOUT_MS = 90_000


def open_notebook(page: Page, lab: JupyterProcess, name: str) -> None:
    """Open ``name`` alone in a fresh workspace and wait until its kernel is idle."""
    workspace = name.replace(".", "-")
    page.goto(f"{lab.url}lab/workspaces/{workspace}/tree/{name}?reset&token={lab.token}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=LOAD_TIMEOUT_MS)
    page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=LOAD_TIMEOUT_MS)


def run_all_cells(page: Page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def progress_bars(page: Page) -> Locator:
    """The bars of the ipywidgets progress widgets in the output areas."""
    return page.locator(".jp-OutputArea .widget-hprogress .progress-bar")


def bar_state(bar: Locator) -> tuple[float, str]:
    """(filled percentage, class list) of one ipywidgets progress bar."""
    width, classes = bar.evaluate("""el => [el.style.width || el.style.height || '0%', el.className]""")
    return float(str(width).rstrip("%") or 0), str(classes)


def put_notebook(lab: JupyterProcess, name: str, *sources: str) -> None:
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
    lab.request("PUT", f"api/contents/{name}", {"type": "notebook", "format": "json", "content": notebook})


def output_button(page: Page, label: str) -> Locator:
    """A widget button in the output areas, by its text."""
    return page.locator(".jp-OutputArea button.jupyter-button", has_text=label)


def screenshot_once(target: Page | Locator, name: str) -> None:
    """Save the page (or one element) as ``name`` in the screenshot directory, once per run."""
    path = SCREENSHOTS / name
    if path not in _taken:
        _taken.add(path)
        target.screenshot(path=str(path))


_taken: set[Path] = set()
