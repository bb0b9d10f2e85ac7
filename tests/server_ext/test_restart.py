"""A server stopped mid-job leaves the job to the next server on the same database, which finishes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jupyter_server.serverapp import ServerApp

from lpe_nb.jobs import JobStatus, JobStore
from lpe_nb.server_ext.engine import ServerEngine
from lpe_nb.server_ext.handlers import ENGINE_SETTING
from tests.server_ext.conftest import INPUTS, Api


@pytest.mark.parametrize("mock_latency_s", [0.2])
async def test_job_interrupted_by_a_stop_resumes_on_the_next_server(
    api: Api,
    jp_serverapp: Any,
    engine: ServerEngine,
    jp_configurable_serverapp: Any,
    jp_server_config: Any,
    lpe_db: Path,
) -> None:
    _code, body = await api("POST", "projection/create", body=INPUTS["projection/create"])
    job_id = body["job_id"]
    manager = await engine.ready()
    with await manager.subscribe([job_id]) as sub:  # until the first step has been saved
        while not (await manager.get_with_steps(job_id))[1]:
            await sub.get(timeout_s=10)

    await jp_serverapp.extension_manager.stop_all_extensions()
    async with JobStore(lpe_db) as store:
        assert (await store.get_job(job_id)).status is JobStatus.PENDING  # requeued, not lost or failed
    ServerApp.clear_instance()
    second = jp_configurable_serverapp(config=jp_server_config)
    await second.extension_manager.start_all_extensions()
    engine2: ServerEngine = second.web_app.settings[ENGINE_SETTING]
    manager2 = await engine2.ready()
    job = await manager2.wait(job_id, timeout_s=20)
    assert job.status is JobStatus.COMPLETED, job.error_message
    _, steps = await manager2.get_with_steps(job_id)
    assert len({step.name for step in steps}) == len(steps)  # each step ran to completion once
