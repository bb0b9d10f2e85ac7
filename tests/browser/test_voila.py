"""Voilà shows the live bar: the quickstart served by a real ``voila`` subprocess, in headless chromium.

Voilà runs the whole notebook before it shows the page, unless it renders progressively. The quickstart
waits for its job in a later cell (``job.wait()``), so without progressive rendering the bar only ever
appears finished; the widget itself keeps updating after its cell ran (its events come from the client's
own thread). ``notebooks/voila.json`` turns progressive rendering on for Voilà started in notebooks/.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import ROOT
from tests.browser.pages import bar_state, screenshot
from tests.jupyter_process import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

_START_TIMEOUT_S = 60.0
_JOB_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def voila(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``voila`` serving a copy of notebooks/ (its voila.json included) on a free port; its URL."""
    if importlib.util.find_spec("voila") is None:
        pytest.skip("voila is not installed (pip install -e '.[test]')")
    workdir = tmp_path_factory.mktemp("voila")
    root = workdir / "notebooks"
    shutil.copytree(ROOT / "notebooks", root)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LPE_", "JUPYTERHUB_"))}
    env.update(
        LPE_LLM_PROVIDER="mock",
        LPE_MOCK_LATENCY_S="0.6",
        LPE_DB_PATH=str(workdir / "jobs.db"),
        HOME=str(workdir),
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
    )
    command = [sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    log_path = workdir / "voila.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"voila exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"voila did not listen within {_START_TIMEOUT_S} s:\n{log_path.read_text()}")
                time.sleep(0.1)  # polling a real readiness condition
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(20)


def test_the_quickstart_in_voila_shows_the_bar_moving_then_done(page: Page, voila: str) -> None:
    page.goto(f"{voila}voila/render/quickstart.ipynb", wait_until="commit", timeout=_START_TIMEOUT_S * 1000)
    bar = page.locator(".widget-hprogress .progress-bar").first
    seen: list[float] = []
    deadline = time.monotonic() + _JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        if bar.count():
            value, classes = bar_state(bar)
            if not seen or seen[-1] != value:
                seen.append(value)
                if 0 < value < 100:
                    screenshot(page, "voila-quickstart-running.png")
            if "progress-bar-success" in classes and value >= 100:
                break
        page.wait_for_timeout(50)
    else:
        pytest.fail(f"the bar never reached 100 % in Voilà; values seen: {seen}")
    assert any(0 <= value < 100 for value in seen), f"Voilà showed the bar only once finished: {seen}"
    assert seen == sorted(seen), f"the bar went backwards: {seen}"
