"""A server stopped mid-job leaves the job to the next server on the same database, which finishes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jupyter_server.serverapp import ServerApp

from lpe_nb.jobs import JobStatus, open_store
from lpe_nb.llm import Completion, MockLLM
from lpe_nb.operations.projection import PROJECTION_STEPS
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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    finished_calls: list[str] = []  # the task of every LLM call that returned, on either server
    mock_complete = MockLLM.complete

    async def counted_complete(self: MockLLM, *args: Any, **kwargs: Any) -> Completion:
        completion = await mock_complete(self, *args, **kwargs)
        finished_calls.append(str(kwargs["task"]))
        return completion

    monkeypatch.setattr(MockLLM, "complete", counted_complete)
    _code, body = await api("POST", "projection/create", body=INPUTS["projection/create"])
    job_id = body["job_id"]
    manager = (await engine.ready()).manager
    with await manager.subscribe([job_id]) as sub:  # until the first step has been saved
        while not (await manager.get_with_steps(job_id))[1]:
            await sub.get(timeout_s=10)

    await jp_serverapp.extension_manager.stop_all_extensions()
    calls_on_first_server = list(finished_calls)
    async with open_store(lpe_db) as store:
        job, saved = await store.get_job_with_steps(job_id)
    assert job.status is JobStatus.PENDING  # requeued, not lost or failed
    assert 1 <= len(saved) < len(PROJECTION_STEPS)  # stopped mid-job
    # a step's checkpoint is saved exactly when its call returned
    assert calls_on_first_server == [f"projection.{step.name}" for step in saved]
    ServerApp.clear_instance()
    second = jp_configurable_serverapp(config=jp_server_config)
    await second.extension_manager.start_all_extensions()
    engine2: ServerEngine = second.web_app.settings[ENGINE_SETTING]
    manager2 = (await engine2.ready()).manager
    job = await manager2.wait(job_id, timeout_s=20)
    assert job.status is JobStatus.COMPLETED, job.error_message
    _, steps = await manager2.get_with_steps(job_id)
    assert [step.name for step in steps] == list(PROJECTION_STEPS)
    # each step's LLM call ran to completion exactly once across the restart: the saved steps were
    # restored on the second server, not called again
    assert finished_calls == [f"projection.{name}" for name in PROJECTION_STEPS]
