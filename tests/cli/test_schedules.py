"""``python -m lpe_nb schedules ...`` as a person runs it: real subprocesses on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

NARRATIVE = "A ferry crossed the strait at dawn, and the village waited for news."


def cli(db_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LPE_SERVER_", "JUPYTERHUB_"))}
    env.update(LPE_DB_PATH=str(db_path), LPE_LLM_PROVIDER="mock")
    return subprocess.run(
        [sys.executable, "-m", "lpe_nb", "schedules", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_add_list_pause_resume_show_and_delete(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    assert "no schedules" in cli(db, "list").stdout
    added = cli(
        db, "add", "projection", "--input", json.dumps({"narrative": NARRATIVE}), "--cron", "30 8 * * 1-5",
        "--timezone", "Europe/Paris", "--catch-up", "once", "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    made = json.loads(added.stdout)
    assert (made["cron"], made["timezone"], made["catch_up"]) == ("30 8 * * 1-5", "Europe/Paris", "once")
    assert len(made["next_fire_times"]) == 3
    listed = cli(db, "list").stdout
    assert made["id"] in listed and "cron '30 8 * * 1-5' (Europe/Paris)" in listed and "next 20" in listed
    assert "paused" in cli(db, "pause", made["id"]).stdout
    assert "next 20" in cli(db, "resume", made["id"]).stdout
    shown = json.loads(cli(db, "show", made["id"], "--json").stdout)
    assert (shown["id"], shown["recent_fires"], shown["fire_count"]) == (made["id"], [], 0)
    every = cli(
        db,
        "add",
        "translation",
        "--input",
        json.dumps({"text": NARRATIVE, "intermediate_language": "german"}),
        "--every",
        "3600",
    )
    assert every.returncode == 0 and "every 3600 s" in every.stdout
    assert "deleted" in cli(db, "delete", made["id"]).stdout
    assert cli(db, "delete", made["id"]).stderr.startswith("error: no schedule")
    remaining = cli(db, "list").stdout
    assert made["id"] not in remaining and "translation" in remaining


def test_a_bad_schedule_is_one_line_naming_the_field(tmp_path: Path) -> None:
    done = cli(tmp_path / "j.db", "add", "projection", "--every", "60", "--input", '{"persona": "critic"}')
    field = "input.narrative"
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert field in done.stderr and "Traceback" not in done.stderr
