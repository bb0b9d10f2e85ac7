"""``GET lpe/api/status`` lists the processes that dispatch the database's jobs, stale ones marked (issue 13).

The acceptance test with a real worker process is ``tests/test_worker.py``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from lpe_nb._version import __version__
from lpe_nb.jobs import open_store
from lpe_nb.jobs.model import to_iso, utc_now
from lpe_nb.jobs.store import WorkerRecord
from lpe_nb.server_ext.engine import ServerEngine
from tests.server_ext.conftest import Api

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_status_lists_this_dispatching_server_and_marks_a_silent_worker_stale(
    api: Api, engine: ServerEngine, lpe_db: Path
) -> None:
    long_ago = to_iso(utc_now() - timedelta(minutes=5))
    dead = WorkerRecord(
        owner="elsewhere:99:dead", kind="worker", host="elsewhere", pid=99, version="0.0.1", concurrency=3,
        types=("translation",), started_at=long_ago, last_seen=long_ago,
    )  # fmt: skip
    async with open_store(lpe_db) as store:  # another process's row, as it left it when it died
        await store.save_worker(dead)
    code, status = await api("GET", "status")
    assert code == 200
    rows = {row["owner"]: row for row in status["workers"]}
    assert rows[dead.owner] == {
        "owner": dead.owner, "kind": "worker", "host": "elsewhere", "pid": 99, "version": "0.0.1",
        "concurrency": 3, "types": ["translation"], "started_at": long_ago, "last_seen": long_ago,
        "stale": True,
    }  # fmt: skip
    manager = engine.manager
    assert manager is not None and manager.is_dispatching
    mine = rows[manager.owner]
    assert (mine["kind"], mine["pid"], mine["version"], mine["stale"]) == (
        "jupyter-server", os.getpid(), __version__, False,
    )  # fmt: skip
    assert mine["types"] is None  # a server claims every type
    assert list(rows) == [dead.owner, manager.owner]  # oldest first


@pytest.mark.parametrize("lpe_dispatch", ["never"])
async def test_a_server_that_does_not_dispatch_has_no_row(api: Api, engine: ServerEngine) -> None:
    code, status = await api("GET", "status")
    assert (code, status["dispatching"], status["workers"]) == (200, False, [])
