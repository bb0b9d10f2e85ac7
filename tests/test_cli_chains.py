"""Chains from a terminal: ``--depends-on`` and ``--input-from`` on ``python -m lpe_nb run``, as real
subprocesses on a real database (the offline mock LLM)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import NARRATIVE, _env, cli

pytestmark = pytest.mark.slow


def test_a_job_run_after_another_takes_its_result(tmp_path: Path) -> None:
    env = _env(tmp_path / "j.db")
    first = cli("run", "projection", "--narrative", NARRATIVE, "--no-wait", env=env)
    assert first.returncode == 0, first.stderr
    parent_id = first.stdout.strip()
    # no --text: a translation takes a projection's final_projection (its type declares it)
    done = cli(
        "run",
        "translation",
        "--intermediate-language",
        "french",
        "--depends-on",
        parent_id,
        "--json",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout)
    parent = json.loads(cli("show", parent_id, "--json", env=env).stdout)
    assert child["depends_on"] == [parent_id] and child["status"] == "completed"
    assert child["result_data"]["original_text"] == parent["result_data"]["final_projection"]
    assert child["started_at"] >= parent["completed_at"]
    reflected = cli(
        "run", "translation", "--intermediate-language", "german",
        "--input-from", f"text={parent_id}.reflection", "--json", env=env,
    )  # fmt: skip
    assert reflected.returncode == 0, reflected.stderr
    assert json.loads(reflected.stdout)["input_data"]["text"] == parent["result_data"]["reflection"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--depends-on", "no-such-job"], "depends_on: no job 'no-such-job'"),
        (["--input-from", "nope=some-job.x"], "inputs_from.nope"),
    ],
)
def test_a_bad_chain_is_one_line_and_exit_2(tmp_path: Path, args: list[str], said: str) -> None:
    done = cli("run", "translation", "--intermediate-language", "french", *args, env=_env(tmp_path / "j.db"))
    assert done.returncode == 2
    assert said in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_malformed_input_from_is_refused_by_the_parser(tmp_path: Path) -> None:
    done = cli("run", "translation", "--input-from", "text", env=_env(tmp_path / "j.db"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith("expected FIELD=JOB_ID.PATH, not 'text'")
