"""An engine's figures move as its jobs run, against the real loopback OpenAI-compatible server: jobs
submitted and finished, steps, LLM requests with their outcomes, tokens, and retries at both levels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from lpe_nb.embedded import open_engine
from lpe_nb.jobs import JobManager, JobStatus, OperationRegistry, StepRecord
from lpe_nb.llm import OpenAICompatibleLLM
from lpe_nb.metrics.prometheus import register_prometheus
from tests.chaos.harness import CHAOS_TYPE, chaos_llm_settings, chaos_manager_settings, register_chaos
from tests.llm.fake_openai_server import FakeOpenAIServer, Reply

MODEL = "fake-model"  # chaos_llm_settings's


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


async def _run_chaos_job(
    db_path: Path, server: FakeOpenAIServer, steps: int
) -> tuple[dict[str, Any], list[StepRecord]]:
    """One chaos job to its end; the engine's metrics after it, and its finished steps."""
    llm = OpenAICompatibleLLM(chaos_llm_settings(server.base_url))  # 2 retries per call
    registry = OperationRegistry()
    register_chaos(registry, llm)
    try:
        async with JobManager.open(db_path, registry=registry, settings=chaos_manager_settings()) as manager:
            job_id = await manager.submit(CHAOS_TYPE, {"steps": steps, "structured": False})
            job = await manager.wait(job_id, timeout_s=30)
            assert job.status is JobStatus.COMPLETED, job.error_message
            return await manager.metrics(), await manager.store.get_steps(job_id)
    finally:
        await llm.aclose()


async def test_a_job_moves_the_counters_by_what_it_did(tmp_path: Path, server: FakeOpenAIServer) -> None:
    metrics, steps = await _run_chaos_job(tmp_path / "jobs.db", server, steps=2)

    chaos = metrics["job_types"][CHAOS_TYPE]
    assert (chaos["submitted"], chaos["finished"], chaos["retries"]) == (1, {"completed": 1}, 0)
    assert chaos["duration_s"]["count"] == 1
    assert {name: s["duration_s"]["count"] for name, s in chaos["steps"].items()} == {"s1": 1, "s2": 1}
    model = metrics["llm_models"][MODEL]
    assert model["requests"] == {"ok": server.call_count} == {"ok": 2}
    assert model["latency_s"]["count"] == 2
    # the tokens the server reported, as the steps stored them
    assert model["input_tokens"] == sum(s.usage["prompt_tokens"] for s in steps) > 0
    assert model["output_tokens"] == sum(s.usage["completion_tokens"] for s in steps) > 0
    assert metrics["jobs"]["by_status"]["completed"] == 1
    assert (metrics["jobs"]["pending"], metrics["jobs"]["running"]) == (0, 0)


async def test_retries_are_counted_at_the_request_and_at_the_job_level(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    # 3 server errors use up the call's 2 retries: the call fails, the job retries it, then it succeeds
    server.script(*(Reply.fault_of("server_error") for _ in range(3)))
    metrics, _ = await _run_chaos_job(tmp_path / "jobs.db", server, steps=1)

    model = metrics["llm_models"][MODEL]
    assert model["requests"] == {"server_error": 3, "ok": 1}
    assert model["retries"] == 2
    assert model["errors"] == {"llm_unavailable": 1}
    chaos = metrics["job_types"][CHAOS_TYPE]
    assert (chaos["retries"], chaos["finished"]) == (1, {"completed": 1})


async def test_two_engines_in_one_process_keep_their_own_figures_and_the_process_sums_them(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    registry = CollectorRegistry()
    register_prometheus(registry)
    register_prometheus(registry)  # again: no duplicate-registration error

    def scraped(name: str) -> float:
        value = registry.get_sample_value(name, {"job_type": CHAOS_TYPE})
        return value or 0.0

    before = scraped("lpe_jobs_submitted_total")
    first, _ = await _run_chaos_job(tmp_path / "a.db", server, steps=1)
    second, _ = await _run_chaos_job(tmp_path / "b.db", server, steps=1)

    assert first["job_types"][CHAOS_TYPE]["submitted"] == second["job_types"][CHAOS_TYPE]["submitted"] == 1
    assert scraped("lpe_jobs_submitted_total") == before + 2  # both engines, though both have stopped
    text = generate_latest(registry).decode()
    lpe_lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lpe_lines and all(line.startswith("lpe_") for line in lpe_lines)


async def test_the_gauges_are_the_database_counts_read_when_asked(tmp_path: Path) -> None:
    async with JobManager.open(tmp_path / "jobs.db", dispatch=False) as manager:  # nothing runs them
        manager.registry.register("noop", _noop)
        for _ in range(3):
            await manager.submit("noop")
        metrics = await manager.metrics()
    assert (metrics["jobs"]["pending"], metrics["jobs"]["running"], metrics["jobs"]["running_here"]) == (
        3,
        0,
        0,
    )
    assert metrics["job_types"]["noop"]["submitted"] == 3


async def _noop(ctx: Any, data: Any) -> None:
    return None


async def test_a_second_identical_job_is_counted_as_cache_hits_and_no_requests(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    settings = chaos_llm_settings(server.base_url)
    async with open_engine(tmp_path / "jobs.db", llm_settings=settings) as engine:
        input_data = {"text": "The ferry left at dawn.", "intermediate_language": "french"}
        for _ in range(2):
            job = await engine.manager.wait(await engine.submit("translation", input_data), timeout_s=30)
            assert job.status is JobStatus.COMPLETED, job.error_message
        metrics = await engine.manager.metrics()
    translation = metrics["job_types"]["translation"]
    assert translation["finished"] == {"completed": 2}
    calls = server.call_count
    assert calls > 0
    assert metrics["llm_models"][MODEL]["requests"] == {"ok": calls}  # the first job's only
    assert translation["cache_hits"] == calls  # the second job's: each call answered from the cache
