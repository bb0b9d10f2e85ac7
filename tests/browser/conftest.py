"""JupyterLab and Notebook 7 with the extension, driven by Playwright in Debian's headless chromium.

Test tools cannot download browsers here, so the tests use ``/usr/bin/chromium`` (``.ci/run`` installs
it with apt-get) and skip with the reason when it or Playwright is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.jupyter_process import JupyterProcess

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Where the tests save their screenshots: build/screenshots. LPE_SCREENSHOT_DIR=docs/images refreshes the
# README's set there: the CURATED pictures go to that directory, the others still to build/screenshots.
SCREENSHOTS = ROOT / "build" / "screenshots"
CURATED_DIR = Path(os.environ["LPE_SCREENSHOT_DIR"]) if os.environ.get("LPE_SCREENSHOT_DIR") else None
CURATED = frozenset(
    f"{prefix}{name}"
    for prefix in ("", "notebook7-")
    for name in (
        "quickstart-widget-running.png",
        "quickstart-widget-done.png",
        "quickstart-running.png",
        "dashboard-running.png",
        "maieutic-session.png",
        "form-cancelled.png",
        "analytics-widget.png",
        "dashboard-chain.png",
    )
)
MOCK_LATENCY_S = "0.6"  # per mock LLM call: a projection takes a few seconds, long enough to watch

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None  # type: ignore[assignment]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = None
    if sync_playwright is None:
        reason = "playwright is not installed (pip install -e '.[test]')"
    elif not CHROMIUM.exists():
        reason = f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run does it)"
    if reason is None:
        return
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


class Frontend:
    """A running Jupyter front end: ``jupyter lab`` or Notebook 7 (``jupyter notebook``), on a server
    with the extension; ``name`` is ``lab`` or ``notebook``."""

    def __init__(self, name: str, process: JupyterProcess) -> None:
        self.name = name
        self.process = process

    def shot(self, name: str) -> str:
        """The screenshot file name for this front end (Notebook 7's carry a ``notebook7-`` prefix)."""
        return name if self.name == "lab" else f"notebook7-{name}"


def _serve(tmp_path_factory: pytest.TempPathFactory, app: str) -> Iterator[JupyterProcess]:
    """``jupyter <app>`` on a free port with a real token, serving a copy of notebooks/."""
    workdir = tmp_path_factory.mktemp(app)
    root = workdir / "notebooks"
    shutil.copytree(ROOT / "notebooks", root)
    settings = workdir / "lab-settings"  # JupyterLab and Notebook 7 read the same settings
    # A fresh user: no "get notified about news?" prompt over the notebook, no restored workspace.
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # Render every cell (no windowing), so widgets scrolled out of view still exist in the page.
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    env = {
        "LPE_MOCK_LATENCY_S": MOCK_LATENCY_S,
        "LPE_LLM_PROVIDER": "mock",
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "lab-workspaces"),
    }
    with JupyterProcess(workdir, app=app, env=env, root_dir=root) as process:
        yield process


@pytest.fixture(scope="module", params=["lab", "notebook"], ids=["jupyterlab", "notebook7"])
def frontend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Frontend]:
    """JupyterLab, then Notebook 7: every test taking it runs in both."""
    if request.param == "notebook" and importlib.util.find_spec("notebook") is None:
        pytest.skip("Notebook 7 is not installed (pip install -e '.[test]')")
    for process in _serve(tmp_path_factory, request.param):
        yield Frontend(request.param, process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if CURATED_DIR is not None:
        CURATED_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        opened.screenshot(path=str(SCREENSHOTS / f"failed-{request.node.name}.png".replace("/", "-")))
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
