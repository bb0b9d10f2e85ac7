"""A real ``jupyter server`` says in its log, at its default level, which database and LLM lpe_nb uses."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lpe_nb._version import __version__
from tests.jupyter_process import JupyterProcess

pytestmark = pytest.mark.slow

_LOG_WAIT_S = 30.0


def _lpe_lines(server: JupyterProcess, wanted: str) -> list[str]:
    """The log's lpe_nb lines, once one of them contains ``wanted`` (the engine starts after the
    server answers, so the line may come a moment later)."""
    deadline = time.monotonic() + _LOG_WAIT_S
    while True:
        lines = [line for line in server.log().splitlines() if "lpe_nb" in line]
        if any(wanted in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)  # polling a file another process writes


def test_the_log_names_the_database_and_the_llm_at_the_default_level(tmp_path: Path) -> None:
    with JupyterProcess(tmp_path, env={"LPE_LLM_PROVIDER": "mock"}) as server:
        lines = _lpe_lines(server, str(server.db_path))
    said = [line for line in lines if str(server.db_path) in line]
    assert said, "\n".join(lines)
    assert "[I " in said[0] and "mock" in said[0] and __version__ in said[0], said[0]


def test_a_quieter_server_log_leaves_the_line_out(tmp_path: Path) -> None:
    with JupyterProcess(tmp_path, env={"LPE_LLM_PROVIDER": "mock"}, args=["--log-level=WARN"]) as server:
        server.request("GET", "lpe/api/status")  # the engine has started once this answers
        assert str(server.db_path) not in server.log()
