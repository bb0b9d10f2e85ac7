"""``python -m lpe_nb analytics`` in a real subprocess on a real database: a table, JSON, and one line
for a mistake."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import _env, cli


def test_analytics_prints_a_table_and_json_of_the_jobs_run(tmp_path: Path) -> None:
    env = _env(tmp_path / "j.db")
    for text in ("Freedom is won.", "The river rose overnight."):
        done = cli("run", "translation", "--text", text, "--intermediate-language", "french", env=env)
        assert done.returncode == 0, done.stderr
    table = cli("analytics", "--group-by", "type,model", env=env)
    assert table.returncode == 0, table.stderr
    header, row, total = table.stdout.splitlines()[1:]
    assert header.split()[:3] == ["type", "model", "jobs"]
    assert row.split()[:4] == ["translation", "lpe-mock-1", "2", "100"]
    assert total.split()[:3] == ["total", "2", "100"]
    report = json.loads(cli("analytics", "--group-by", "status", "--json", env=env).stdout)
    assert [g["key"] for g in report["groups"]] == [{"status": "completed"}]
    assert report["totals"]["jobs"] == 2 and report["totals"]["total_tokens"] > 0
    assert report["totals"]["cost_usd"] == 0.0


def test_a_bad_group_is_one_line_naming_it(tmp_path: Path) -> None:
    done = cli("analytics", "--group-by", "colour", env=_env(tmp_path / "j.db"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: group_by: cannot group by 'colour'; choose from day, type, model, status"
    ]
