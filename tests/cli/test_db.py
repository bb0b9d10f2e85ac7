"""``python -m lpe_nb db check|upgrade`` as an admin runs it: real subprocesses, a real SQLite file and a
real PostgreSQL database; one line on stdout when fine, one line on stderr and exit 1 when not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from lpe_nb.jobs.postgres.schema import SCHEMA_VERSION as PG_VERSION
from lpe_nb.jobs.sqlite.schema import SCHEMA_VERSION as SQLITE_VERSION

pytestmark = pytest.mark.slow


def db(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LPE_")}
    return subprocess.run(
        [sys.executable, "-m", "lpe_nb", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_a_new_sqlite_file_is_behind_until_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    behind = db("db", "check", LPE_DB_PATH=str(path))
    assert behind.returncode == 1 and behind.stdout == ""
    assert one_line(behind.stderr) == (
        f"error: the job database {path} has schema version 0, this lpe-nb needs {SQLITE_VERSION}: "
        "run `python -m lpe_nb db upgrade`"
    )
    upgraded = db("--db-path", str(path), "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (
        one_line(upgraded.stdout)
        == f"upgraded the job database {path} from schema version 0 to {SQLITE_VERSION}"
    )
    fine = db("db", "check", "--db-url", f"sqlite:///{path}")
    assert fine.returncode == 0, fine.stderr
    assert "as this lpe-nb needs" in one_line(fine.stdout)


def test_postgres_check_upgrade_and_a_database_newer_than_the_code(postgres_url: str) -> None:
    behind = db("db", "check", LPE_DB_URL=postgres_url)
    assert behind.returncode == 1
    assert f"schema version 0, this lpe-nb needs {PG_VERSION}" in one_line(behind.stderr)

    upgraded = db("db", "upgrade", "--db-url", postgres_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"from schema version 0 to {PG_VERSION}" in one_line(upgraded.stdout)
    again = db("db", "upgrade", LPE_DB_URL=postgres_url)
    assert "nothing to do" in one_line(again.stdout)
    assert db("db", "check", LPE_DB_URL=postgres_url).returncode == 0

    with psycopg.connect(postgres_url, autocommit=True) as conn:  # as a newer lpe-nb would leave it
        conn.execute("INSERT INTO lpe_schema (version) VALUES (%s)", (PG_VERSION + 1,))
    for action in ("check", "upgrade"):
        ahead = db("db", action, LPE_DB_URL=postgres_url)
        assert ahead.returncode == 1
        assert f"schema version {PG_VERSION + 1}, newer than this lpe-nb understands" in one_line(
            ahead.stderr
        )


def test_an_unreachable_database_is_one_line_without_its_password(postgres_url: str) -> None:
    unreachable = "postgresql://lpe:s3cret-pw@127.0.0.1:1/jobs"
    done = db("db", "check", "--db-url", unreachable)
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert line.startswith("error: cannot reach the job database postgresql://lpe:***@127.0.0.1:1/jobs")
    assert "s3cret" not in done.stderr + done.stdout
