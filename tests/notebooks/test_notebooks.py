"""Every notebook in notebooks/ runs in a real kernel under nbval (``--nbval-lax``: every cell must run
without error; the cells marked ``# NBVAL_CHECK_OUTPUT`` must print what the notebook has stored, after
notebooks/sanitize.cfg), twice: on the embedded engine, and connected to a real ``jupyter server``
subprocess with the extension (the kernel finds it through LPE_SERVER_URL/TOKEN, as a server's own
kernel does).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.jupyter_process import JupyterProcess

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
_RUN_TIMEOUT_S = 900


def _nbval(env: dict[str, str], workdir: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval-lax",
        f"--nbval-sanitize-with={NOTEBOOKS / 'sanitize.cfg'}",
        "--nbval-cell-timeout=300",
        "-p",
        "no:cacheprovider",
        "-q",
        str(NOTEBOOKS),
    ]
    # The kernels inherit this environment: never the test process's own lpe-nb variables.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LPE_", "JUPYTERHUB_"))}
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={**base, "LPE_LLM_PROVIDER": "mock", "HOME": str(workdir), **env},
        capture_output=True,
        text=True,
        timeout=_RUN_TIMEOUT_S,
        check=False,
    )
    report = done.stdout[-20_000:] + done.stderr[-5_000:]
    assert done.returncode == 0, report
    assert " passed" in report and "failed" not in report, report


def test_the_notebooks_exist() -> None:
    names = {path.name for path in NOTEBOOKS.glob("*.ipynb")}
    assert names == {
        "quickstart.ipynb",
        "projection.ipynb",
        "translation.ipynb",
        "maieutic.ipynb",
        "configuration.ipynb",
        "dashboard.ipynb",
        "python_api.ipynb",
    }


@pytest.mark.slow
@pytest.mark.timeout(_RUN_TIMEOUT_S)
def test_notebooks_run_on_the_embedded_engine(tmp_path: Path) -> None:
    _nbval({"LPE_DB_PATH": str(tmp_path / "jobs.db"), "LPE_MOCK_LATENCY_S": "0.02"}, tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(_RUN_TIMEOUT_S)
def test_notebooks_run_against_a_jupyter_server_with_the_extension(tmp_path: Path) -> None:
    with JupyterProcess(tmp_path / "server", env={"LPE_MOCK_LATENCY_S": "0.02"}) as server:
        _nbval({"LPE_SERVER_URL": server.url, "LPE_SERVER_TOKEN": server.token}, tmp_path)
        listed = server.request("GET", "lpe/api/jobs?limit=500")["jobs"]
    # the notebooks' jobs ran in the server, not in the kernels
    assert {job["type"] for job in listed} >= {"projection", "translation", "maieutic", "configuration"}
