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

import nbformat
import pytest

from tests.jupyter_process import JupyterProcess
from tests.notebooks.refresh_outputs import clean, leftovers

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
        "caching.ipynb",
        "schedules.ipynb",
        "metrics.ipynb",
        "analytics.ipynb",
        "chains.ipynb",
    }


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda path: path.name)
def test_a_committed_notebook_opens_without_leftovers_of_a_run(path: Path) -> None:
    # No temporary paths, no reprs (<Client ...>, JobsDashboard(children=...)), no widget views whose
    # state is not saved, no timings: `python -m tests.notebooks.refresh_outputs` saves them so.
    notebook = nbformat.read(path, as_version=4)
    assert leftovers(notebook) == []
    checked = [cell for cell in notebook.cells if "# NBVAL_CHECK_OUTPUT" in cell.source]
    assert checked and all(cell.outputs for cell in checked)  # nbval has something to compare with


def test_the_leftover_check_finds_what_a_raw_run_leaves() -> None:
    raw = nbformat.v4.new_notebook(metadata={"widgets": {}})
    raw.cells = [
        nbformat.v4.new_code_cell(
            "client",
            execution_count=1,
            metadata={"execution": {"iopub.status.busy": "2026-11-28T19:24:17.052095Z"}},
            outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "<Client /tmp/nbexec.db>"})],
        ),
        nbformat.v4.new_code_cell(
            "dashboard",
            outputs=[
                nbformat.v4.new_output(
                    "execute_result",
                    {
                        "application/vnd.jupyter.widget-view+json": {},
                        "text/plain": "JobsDashboard(children=(...",
                    },
                )
            ],
        ),
        nbformat.v4.new_code_cell("print(2)", outputs=[nbformat.v4.new_output("stream", text="2\n")]),
    ]
    assert len(leftovers(raw)) == 6
    cleaned = clean(raw)
    assert leftovers(cleaned) == [] and [len(cell.outputs) for cell in cleaned.cells] == [0, 0, 1]


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
