"""``python -m lpe_nb`` as a person runs it: real subprocesses on a real database, alone and beside a running
Jupyter server on the same database, piped, interrupted, and given bad input."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.jupyter_process import JupyterProcess

pytestmark = pytest.mark.slow

TIMEOUT_S = 60
NARRATIVE = "A ferry crossed the strait at dawn, and the village waited for news."


def _env(db_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LPE_SERVER_", "JUPYTERHUB_"))}
    return {**env, "LPE_DB_PATH": str(db_path), "LPE_LLM_PROVIDER": "mock", **extra}


def cli(*args: str, env: dict[str, str], timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lpe_nb", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_run_prints_progress_lines_when_piped_and_the_result(tmp_path: Path) -> None:
    done = cli(
        "run", "projection", "--narrative", NARRATIVE, "--persona", "critic", env=_env(tmp_path / "j.db")
    )
    assert done.returncode == 0, done.stderr
    progress_lines = [line for line in done.stderr.splitlines() if " %  " in line]
    assert len(progress_lines) >= 3 and progress_lines[-1] == "100.0 %  completed"
    assert "== Final projection ==" in done.stdout and 'persona: "critic"' in done.stdout


def test_jobs_show_and_json_output(tmp_path: Path) -> None:
    env = _env(tmp_path / "j.db")
    job_id = cli(
        "run",
        "translation",
        "--text",
        "Freedom is won.",
        "--intermediate-language",
        "french",
        "--no-wait",
        env=env,
    ).stdout.strip()
    assert len(job_id) == 36
    watched = cli("watch", job_id, "--json", env=env)
    assert (
        watched.returncode == 0
        and f'"id": "{job_id}"' in watched.stdout
        and '"status": "completed"' in watched.stdout
    )
    listed = cli("jobs", env=env)
    assert listed.stdout.startswith(job_id) and "completed" in listed.stdout
    shown = cli("show", job_id, env=env)
    assert "back_translation" in shown.stdout


def test_run_takes_a_priority_and_jobs_lists_it(tmp_path: Path) -> None:
    env = _env(tmp_path / "j.db")
    done = cli("run", "projection", "--narrative", NARRATIVE, "--priority", "4", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert '"priority": 4' in done.stdout
    assert "      4  projection" in cli("jobs", env=env).stdout


def test_run_takes_a_delay_and_jobs_shows_the_wait(tmp_path: Path) -> None:
    env = _env(tmp_path / "j.db")
    submitted = cli("run", "projection", "--narrative", NARRATIVE, "--delay", "3600", "--no-wait", env=env)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    listed = cli("jobs", env=env).stdout
    assert job_id in listed and "pending" in listed and "(starts " in listed
    assert cli("cancel", job_id, env=env).returncode == 0
    naive = cli("run", "projection", "--narrative", NARRATIVE, "--at", "2030-01-01T00:00:00", env=env)
    assert naive.returncode == 2 and "has no offset" in naive.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["run", "translation", "--text", "x", "--intermediate-language", "klingon"],
            "intermediate_language",
        ),
        (["show", "no-such-job"], "no job with id 'no-such-job'"),
        (["cancel", "no-such-job"], "no job with id"),
        (["priority", "no-such-job", "3"], "no job with id"),
        (["priority", "no-such-job", "5000"], "priority: must be from -1000 to 1000"),
    ],
)
def test_a_users_mistake_is_one_line_and_exit_2(tmp_path: Path, args: list[str], said: str) -> None:
    done = cli(*args, env=_env(tmp_path / "j.db"))
    assert done.returncode == 2
    assert said in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_help_is_plain_text_with_each_fields_help(tmp_path: Path) -> None:
    done = cli("run", "maieutic", "--help", env=_env(tmp_path / "j.db"))
    assert done.returncode == 0 and "``" not in done.stdout
    assert (
        "how many questions (1 to 10)" in done.stdout
        and "{understand,clarify,discover,question}" in done.stdout
    )


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    env = _env(tmp_path / "j.db")
    for _ in range(3):
        cli("run", "maieutic", "--narrative", NARRATIVE, "--max-turns", "1", "--no-wait", env=env)
    piped = subprocess.run(
        f"{sys.executable} -m lpe_nb jobs | head -c 1",
        shell=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr


@pytest.fixture
def server(tmp_path: Path) -> Iterator[JupyterProcess]:
    with JupyterProcess(tmp_path / "server", env={"LPE_MOCK_LATENCY_S": "0.5"}) as process:
        yield process


def test_while_a_server_runs_on_the_database_the_cli_uses_it(server: JupyterProcess) -> None:
    env = _env(server.db_path)
    done = cli("run", "projection", "--narrative", NARRATIVE, env=env)
    assert done.returncode == 0, done.stderr
    assert f"submitted to {server.url}" in done.stderr  # not a second engine fighting for the database
    assert "100.0 %  completed" in done.stderr
    listed = cli("jobs", env=env)
    assert listed.returncode == 0 and "completed" in listed.stdout
    slow = (
        "run",
        "maieutic",
        "--narrative",
        NARRATIVE,
        "--max-turns",
        "10",
        "--no-cache",
        "--no-wait",
    )  # 10 calls of 0.5 s, none answered from the LLM cache the projection above filled
    job_id = cli(*slow, env=env).stdout.strip()
    cancelled = cli("cancel", job_id, env=env)
    assert cancelled.returncode == 0, cancelled.stderr
    assert server.request("GET", f"lpe/api/jobs/{job_id}")["status"] == "cancelled"


def _interrupt_after_progress(process: subprocess.Popen[str]) -> str:
    """Send Ctrl-C once the CLI has printed a progress line; returns what it printed until then."""
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + TIMEOUT_S
    while "%  " not in seen and time.monotonic() < deadline:
        seen += process.stderr.readline()
    process.send_signal(signal.SIGINT)
    return seen


def test_ctrl_c_without_a_terminal_leaves_the_job_running_on_the_server(server: JupyterProcess) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "lpe_nb", "run", "projection", "--narrative", NARRATIVE],
        env=_env(server.db_path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen = _interrupt_after_progress(process)
    _, err = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 130 and "Traceback" not in err
    job_id = seen.split("job ", 1)[1].split()[0]
    assert "is still running" in err and f"python -m lpe_nb watch {job_id}" in err
    assert server.request("GET", f"lpe/api/jobs/{job_id}")["status"] in ("running", "completed")


def test_ctrl_c_at_a_terminal_asks_and_cancels(server: JupyterProcess) -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "lpe_nb", "run", "projection", "--narrative", NARRATIVE],
        env=_env(server.db_path), stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    os.close(terminal)
    try:
        seen = _interrupt_after_progress(process)
        assert process.stdout is not None
        prompt = process.stdout.read(len("\nCancel job "))
        assert prompt == "\nCancel job "
        os.write(controller, b"y\n")
        _, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        os.close(controller)
    job_id = seen.split("job ", 1)[1].split()[0]
    assert process.returncode == 130 and f"job {job_id} cancelled" in err
    assert server.request("GET", f"lpe/api/jobs/{job_id}")["status"] == "cancelled"
