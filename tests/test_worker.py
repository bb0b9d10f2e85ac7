"""``python -m lpe_nb worker`` (issue 13): jobs run with no Jupyter server, and a stop hands them back.

The acceptance test runs real processes on one SQLite file: a ``jupyter server`` with ``dispatch=never``
(it submits and watches), ``python -m lpe_nb worker`` processes, and the loopback OpenAI-compatible server,
whose request log says which LLM calls were made and how often.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lpe_nb._version import __version__
from lpe_nb.cli import main
from lpe_nb.errors import InvalidInput
from lpe_nb.worker import WorkerOptions, claim_types
from tests.jupyter_process import JupyterProcess
from tests.llm.fake_openai_server import FakeOpenAIServer
from tests.server_ext.conftest import INPUTS

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")

# -- options ----------------------------------------------------------------------------------------------


def test_a_worker_claims_every_declared_type_unless_told_which() -> None:
    declared = {"projection", "translation", "mine"}
    assert claim_types(None, declared) == ("mine", "projection", "translation")
    assert claim_types(["translation", " projection", "translation"], declared) == (
        "translation",
        "projection",
    )


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        (["nope", "translation"], "unknown job type 'nope'; choose from mine, "),
        ([" ", ""], "names no job type"),
    ],
)
def test_a_bad_types_option_is_refused_naming_it(requested: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        claim_types(requested, {"translation", "mine"})
    assert list(refused.value.fields) == ["types"]


def test_bad_numbers_are_refused_naming_each_option() -> None:
    with pytest.raises(InvalidInput) as refused:
        WorkerOptions(concurrency=0, shutdown_grace_s=-1, lease_s=0).settings({"translation"})
    assert set(refused.value.fields) == {"concurrency", "shutdown_grace_s", "lease_s"}


def test_the_cli_says_a_bad_option_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["worker", "--db-path", str(tmp_path / "jobs.db"), "--types", "translation,nope"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "unknown job type 'nope'" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "jobs.db").exists()  # refused before anything was opened


# -- real processes ---------------------------------------------------------------------------------------


def until(condition: Callable[[], T | None], what: str, timeout_s: float = 60.0) -> T:
    """The first truthy value of ``condition()``, asked every 50 ms, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)  # polling a condition of other processes: nothing to await across them
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


class Worker:
    """``python -m lpe_nb worker`` on ``db`` (None: as ``options`` say) with the LLM at ``base_url``; its log
    in ``log_path``."""

    def __init__(self, db: Path | None, base_url: str, log_path: Path, *options: str) -> None:
        env = {**os.environ, **llm_env(base_url)}
        self.log_path = log_path
        where = [] if db is None else ["--db-path", str(db)]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lpe_nb", "worker", *where, *options],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the worker did not stop within {timeout_s} s:\n{self.log()}")


def llm_env(base_url: str) -> dict[str, str]:
    return {
        "LPE_LLM_PROVIDER": "openai",
        "LPE_LLM_BASE_URL": base_url,
        "LPE_LLM_API_KEY": "sk-test",
        "LPE_LLM_MAX_RETRIES": "0",
        "PYTHONPATH": str(REPO),  # this checkout, whatever is installed
    }


@pytest.fixture
def llm() -> Iterator[FakeOpenAIServer]:
    """Each LLM call takes 1 s: a stop lands in the middle of one."""
    with FakeOpenAIServer(delay_s=1.0) as server:
        yield server


@pytest.fixture
def server(tmp_path: Path, llm: FakeOpenAIServer) -> Iterator[JupyterProcess]:
    """A Jupyter server that only submits and watches; the workers run its database's jobs."""
    process = JupyterProcess(
        tmp_path / "server", env=llm_env(llm.base_url), args=["--LpeExtensionApp.dispatch=never"]
    )
    with process:
        yield process


def worker_row(server: JupyterProcess, pid: int) -> dict[str, Any] | None:
    rows = [row for row in server.request("GET", "lpe/api/status")["workers"] if row["pid"] == pid]
    return rows[0] if rows else None


@pytest.mark.slow
def test_a_stopped_worker_hands_its_job_back_and_the_next_resumes_it_from_its_last_finished_step(
    tmp_path: Path, server: JupyterProcess, llm: FakeOpenAIServer
) -> None:
    assert server.request("GET", "lpe/api/status")["dispatching"] is False
    options = ("--types", "translation", "--concurrency", "2", "--shutdown-grace", "0.1")
    first = Worker(server.db_path, llm.base_url, tmp_path / "first.log", *options)
    try:
        row = until(lambda: worker_row(server, first.pid), "the first worker's heartbeat row")
        assert row == {
            **row, "kind": "worker", "host": socket.gethostname(), "version": __version__, "concurrency": 2,
            "types": ["translation"], "stale": False,
        }  # fmt: skip
        submitted = server.request("POST", "lpe/api/translation/round-trip", INPUTS["translation/round-trip"])
        job_id = submitted["job_id"]
        until(lambda: len(llm.requests) >= 3, "the third LLM call (two steps finished)")
        assert first.stop() == 0, first.log()
    finally:
        first.stop(signal.SIGKILL)
    handed_back = server.request("GET", f"lpe/api/jobs/{job_id}")
    assert handed_back["status"] == "pending"
    assert handed_back["attempts"] == 0  # the attempt it used was refunded
    finished = [step["name"] for step in handed_back["steps"]]
    assert len(finished) == 2, handed_back["steps"]
    assert worker_row(server, first.pid) is None  # a graceful exit removes its row
    asked_before_stop = [request.text for request in llm.requests]

    # A dashboard's view: the page of jobs and the counts, which the server gives again from memory while
    # nothing was committed, follow what the worker processes commit to the file.
    assert [job["status"] for job in server.request("GET", "lpe/api/jobs")["jobs"]] == ["pending"]
    second = Worker(server.db_path, llm.base_url, tmp_path / "second.log", *options)
    try:
        until(
            lambda: [job["status"] for job in server.request("GET", "lpe/api/jobs")["jobs"]] == ["completed"],
            "the page of jobs to show it completed",
        )
        assert server.request("GET", "lpe/api/status")["counts"]["completed"] == 1
        done = until(
            lambda: (job := server.request("GET", f"lpe/api/jobs/{job_id}"))["status"] == "completed" and job,
            "the job to complete on the second worker",
        )
        assert second.stop() == 0, second.log()
    finally:
        second.stop(signal.SIGKILL)
    assert done["attempts"] == 1
    assert [step["name"] for step in done["steps"]][:2] == finished
    assert len(done["steps"]) == 4
    asked = Counter(request.text for request in llm.requests)
    for prompt in asked_before_stop[:2]:  # the finished steps' calls: never made again
        assert asked[prompt] == 1
    assert len(llm.requests) == 5  # 4 steps, and the call the stop interrupted made again
    assert asked[asked_before_stop[2]] == 2


def test_a_started_worker_keeps_its_start_up_objects_out_of_full_collections(
    tmp_path: Path, llm: FakeOpenAIServer
) -> None:
    """A full collection would walk all the worker loaded at start and hold its loop, and with it the
    progress its jobs report to other processes (docs/benchmarks.md, scale-out)."""
    froze = "start-up objects out of the garbage collector's full passes"
    worker = Worker(tmp_path / "jobs.db", llm.base_url, tmp_path / "worker.log", "--types", "translation")
    try:
        line = until(
            lambda: next((line for line in worker.log().splitlines() if froze in line), None),
            "the worker to start",
        )
        assert worker.stop() == 0, worker.log()
    finally:
        worker.stop(signal.SIGKILL)
    assert int(line.split("lpe_nb.worker: ")[1].split()[0]) > 10_000  # its imports, LLM client and store
