"""Lifecycle events on the server's event bus, and the activity that keeps idle culling away."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from lpe_nb.server_ext.app import ACTIVITY_SETTING, LIFECYCLE_SCHEMA_ID
from lpe_nb.server_ext.engine import ServerEngine
from tests.server_ext.conftest import INPUTS, NARRATIVE, Api


async def test_created_started_completed_are_emitted_without_llm_text(
    api: Api, jp_serverapp: Any, engine: ServerEngine
) -> None:
    seen: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        seen.append(data)
        if data["action"] in ("completed", "failed", "cancelled"):
            done.set()

    jp_serverapp.event_logger.add_listener(schema_id=LIFECYCLE_SCHEMA_ID, listener=listener)
    _code, job = await api("POST", "projection/create", body={**INPUTS["projection/create"], "wait": 30})
    await asyncio.wait_for(done.wait(), 10)
    mine = [data for data in seen if data["job_id"] == job["id"]]
    assert [data["action"] for data in mine] == ["created", "started", "completed"]
    assert all(data["job_type"] == "projection" for data in mine)
    assert NARRATIVE[:20] not in json.dumps(seen)
    assert json.dumps(job["result_data"])[:40] not in json.dumps(seen)


@pytest.mark.parametrize("mock_latency_s", [2.0])  # five calls: the job runs ~10 s unless cancelled
async def test_running_jobs_are_reported_as_activity(
    api: Api, jp_serverapp: Any, engine: ServerEngine
) -> None:
    before = jp_serverapp.web_app.last_activity()
    app = jp_serverapp.extension_manager.extension_apps["lpe_nb.server_ext"]
    [lpe] = [a for a in app if a.name == "lpe_nb"]
    assert lpe.current_activity() is None
    _code, body = await api("POST", "projection/create", body=INPUTS["projection/create"])
    manager = (await engine.ready()).manager
    with await manager.subscribe([body["job_id"]]) as sub:
        # A live progress report comes from the running operation itself (a snapshot can read the
        # committed claim a moment before this manager has registered the run).
        while (event := await sub.get(timeout_s=10)).kind != "progress" or event.snapshot:
            assert not event.is_terminal, event
    assert lpe.current_activity() == [body["job_id"]]
    assert jp_serverapp.web_app.settings[ACTIVITY_SETTING] >= before
    assert jp_serverapp.extension_manager.any_activity()
    await api("POST", f"jobs/{body['job_id']}/cancel")
