"""The LLM result cache on the embedded engine, through the real openai client against the loopback
server that counts the requests (docs/caching.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lpe_nb.embedded import Engine, open_engine
from lpe_nb.jobs import JobRecord, JobStatus, ManagerSettings, StepRecord
from lpe_nb.jobs.settings import CacheSettings
from lpe_nb.llm import MockLLM, OpenAICompatibleLLM
from lpe_nb.operations import JOB_TYPES, JobSpec
from lpe_nb.operations.spec import JobTypes
from tests.llm.fake_openai_server import FakeOpenAIServer
from tests.operations.conftest import FAST, NARRATIVE, run_and_watch, server_settings

TRANSLATION = {"text": NARRATIVE, "intermediate_language": "spanish"}


async def finished(engine: Engine, job_id: str) -> tuple[JobRecord, list[StepRecord]]:
    await engine.manager.wait(job_id, timeout_s=20)
    return await engine.manager.get_with_steps(job_id)


@pytest.fixture
async def slow_server_engine(db_path: Path, fake_openai: FakeOpenAIServer) -> AsyncIterator[Engine]:
    """Each reply takes 0.5 s: two jobs started together are both still asking when the other asks (their
    steps start within milliseconds of each other, far less than that even on a loaded machine)."""
    fake_openai.delay_s = 0.5
    llm = OpenAICompatibleLLM(server_settings(fake_openai))
    try:
        async with open_engine(db_path, llm=llm, settings=FAST) as engine:
            yield engine
    finally:
        await llm.aclose()


async def test_a_second_identical_job_makes_no_llm_call_and_its_steps_say_so(
    server_engine: Engine, fake_openai: FakeOpenAIServer
) -> None:
    first, _ = await run_and_watch(server_engine.manager, "projection", {"narrative": NARRATIVE})
    assert first.status is JobStatus.COMPLETED, first.error_message
    assert fake_openai.call_count == 5
    second, events = await run_and_watch(server_engine.manager, "projection", {"narrative": NARRATIVE})
    assert second.status is JobStatus.COMPLETED, second.error_message
    assert fake_openai.call_count == 5  # no new request
    _, first_steps = await server_engine.manager.get_with_steps(first.id)
    _, second_steps = await server_engine.manager.get_with_steps(second.id)
    assert [s.usage.get("llm_calls") for s in first_steps] == [1] * 5
    assert [s.usage.get("cache_hits", 0) for s in first_steps] == [0] * 5
    assert [s.usage.get("cache_hits") for s in second_steps] == [1] * 5
    assert [s.usage.get("llm_calls", 0) for s in second_steps] == [0] * 5
    assert all(s.usage["total_tokens"] == 0 for s in second_steps)  # saved tokens are not spent again
    assert all(s.output["llm"]["cached"] for s in second_steps)
    assert [s.output["text"] for s in second_steps] == [s.output["text"] for s in first_steps]
    assert second.result_data["final_projection"] == first.result_data["final_projection"]
    assert second.result_data["usage"]["cache_hits"] == 5
    hits = [e.progress.details.get("cache_hits") for e in events
            if e.kind == "progress" and e.progress is not None and isinstance(e.progress.details, dict)]  # fmt: skip
    assert hits and max(h or 0 for h in hits) == 5


async def test_two_identical_jobs_submitted_together_cost_one_set_of_calls(
    slow_server_engine: Engine, fake_openai: FakeOpenAIServer
) -> None:
    manager = slow_server_engine.manager
    ids = [await manager.submit("projection", {"narrative": NARRATIVE}) for _ in range(2)]
    results = [await finished(slow_server_engine, job_id) for job_id in ids]
    assert [job.status for job, _ in results] == [JobStatus.COMPLETED] * 2
    assert fake_openai.call_count == 5
    calls = sum(s.usage.get("llm_calls", 0) for _, steps in results for s in steps)
    hits = sum(s.usage.get("cache_hits", 0) for _, steps in results for s in steps)
    assert (calls, hits) == (5, 5)


async def test_a_job_with_cache_false_makes_its_calls_and_keeps_nothing(
    server_engine: Engine, fake_openai: FakeOpenAIServer
) -> None:
    off = await server_engine.submit("projection", {"narrative": NARRATIVE}, cache=False)
    job, steps = await finished(server_engine, off)
    assert job.status is JobStatus.COMPLETED and job.cache is False
    assert [s.usage.get("llm_calls") for s in steps] == [1] * 5
    assert (await server_engine.manager.cache.stats()).entries == 0
    again = await server_engine.projection(NARRATIVE, cache=False)  # the generated method takes it too
    await finished(server_engine, again)
    assert fake_openai.call_count == 10


async def test_a_job_type_declared_without_cache_always_calls(
    db_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    types = JobTypes(JOB_TYPES)
    base = types.get("translation")
    types.add(
        JobSpec("uncached_translation", input_model=base.input_model, make_run=base.make_run, cache=False)
    )
    llm = OpenAICompatibleLLM(server_settings(fake_openai))
    try:
        async with open_engine(db_path, llm=llm, settings=FAST, job_types=types) as engine:
            for _ in range(2):
                job, steps = await finished(engine, await engine.submit("uncached_translation", TRANSLATION))
                assert job.status is JobStatus.COMPLETED, job.error_message
                assert all(s.usage.get("cache_hits", 0) == 0 for s in steps)
    finally:
        await llm.aclose()
    assert fake_openai.call_count == 8


@pytest.mark.parametrize("change", [{"temperature": 0.1}, {"model": "other-model"}, {"max_tokens": 64}])
async def test_a_different_temperature_model_or_parameter_misses(
    db_path: Path, fake_openai: FakeOpenAIServer, change: dict[str, Any]
) -> None:
    for overrides in ({}, change, change):
        llm = OpenAICompatibleLLM(server_settings(fake_openai, **overrides))
        try:
            async with open_engine(db_path, llm=llm, settings=FAST) as engine:
                job, _ = await finished(engine, await engine.submit("translation", TRANSLATION))
                assert job.status is JobStatus.COMPLETED, job.error_message
        finally:
            await llm.aclose()
    assert fake_openai.call_count == 8  # the changed one asks once, then is answered from the cache
    assert {r.json["model"] for r in fake_openai.requests} == {
        "fake-model",
        change.get("model", "fake-model"),
    }


async def test_clearing_the_cache_makes_the_next_identical_job_call_again(
    server_engine: Engine, fake_openai: FakeOpenAIServer
) -> None:
    await finished(server_engine, await server_engine.submit("translation", TRANSLATION))
    stats = await server_engine.manager.cache.stats()
    assert (stats.entries, stats.hits) == (4, 0) and stats.size_bytes > 0
    await finished(server_engine, await server_engine.submit("translation", TRANSLATION))
    assert fake_openai.call_count == 4 and (await server_engine.manager.cache.stats()).hits == 4
    assert await server_engine.manager.cache.clear() == 4
    await finished(server_engine, await server_engine.submit("translation", TRANSLATION))
    assert fake_openai.call_count == 8


async def test_a_reply_its_step_rejected_is_never_served(
    server_engine: Engine, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script("uno", "one", "I think they are quite similar!")  # the drift step gets prose
    first, _ = await finished(server_engine, await server_engine.submit("translation", TRANSLATION))
    assert first.status is JobStatus.COMPLETED and fake_openai.call_count == 5
    second, steps = await finished(server_engine, await server_engine.submit("translation", TRANSLATION))
    assert second.status is JobStatus.COMPLETED, second.error_message
    assert fake_openai.call_count == 5
    assert second.result_data["drift"] == first.result_data["drift"]  # the good JSON, not the prose
    assert all(s.usage.get("cache_hits") == 1 for s in steps)


async def test_the_bounds_are_purged_with_the_retention(db_path: Path, fake_openai: FakeOpenAIServer) -> None:
    settings = ManagerSettings(
        poll_interval_s=0.2, shutdown_grace_s=0.5, cache=CacheSettings(max_entries=3, max_bytes=None)
    )
    llm = OpenAICompatibleLLM(server_settings(fake_openai))
    try:
        async with open_engine(db_path, llm=llm, settings=settings) as engine:
            await finished(engine, await engine.submit("projection", {"narrative": NARRATIVE}))
            assert (await engine.manager.cache.stats()).entries == 5
            await engine.manager.purge_old_jobs()
            assert (await engine.manager.cache.stats()).entries == 3
            _, steps = await finished(engine, await engine.submit("projection", {"narrative": NARRATIVE}))
    finally:
        await llm.aclose()
    # the three most recently used (the last steps) are still there; the first two are asked again
    assert [s.usage.get("cache_hits", 0) for s in steps] == [0, 0, 1, 1, 1]
    assert fake_openai.call_count == 7


async def test_the_mock_is_cached_too_and_keyed_by_its_task_and_context(db_path: Path) -> None:
    async with open_engine(db_path, llm=MockLLM(), settings=FAST) as engine:
        first, _ = await finished(engine, await engine.submit("translation", TRANSLATION))
        second, steps = await finished(engine, await engine.submit("translation", TRANSLATION))
        other = {**TRANSLATION, "intermediate_language": "german"}
        _, other_steps = await finished(engine, await engine.submit("translation", other))
    assert second.result_data["intermediate_text"] == first.result_data["intermediate_text"]
    assert all(s.usage.get("cache_hits") == 1 for s in steps)
    assert other_steps[0].usage.get("llm_calls") == 1


async def test_a_resumed_job_keeps_its_finished_steps_without_asking_the_cache(
    db_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    """Finished steps are checkpoints: a resumed job reads them, neither the LLM nor the cache."""
    fake_openai.delay_s = 0.3
    llm = OpenAICompatibleLLM(server_settings(fake_openai))
    try:
        async with open_engine(db_path, llm=llm, settings=FAST) as engine:
            job_id = await engine.submit("translation", TRANSLATION)
            await fake_openai.wait_until(lambda s: s.call_count == 2, 5)
            await engine.manager.stop(grace_s=5)  # the step asking finishes, then the job is requeued
            assert (await engine.manager.get(job_id)).status is JobStatus.PENDING
            assert len(await engine.manager.store.get_steps(job_id)) == 2
        async with open_engine(db_path, llm=llm, settings=FAST) as engine:
            job, steps = await finished(engine, job_id)
    finally:
        await llm.aclose()
    assert job.status is JobStatus.COMPLETED, job.error_message
    assert fake_openai.call_count == 4
    assert all(s.usage.get("cache_hits", 0) == 0 for s in steps)


async def test_a_hit_costs_nothing_and_the_first_call_is_billed_once(
    db_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    prices = ({"model": "fake-model", "input": 3.0, "output": 12.0},)  # USD per million tokens
    llm = OpenAICompatibleLLM(server_settings(fake_openai, prices=prices))
    try:
        async with open_engine(db_path, llm=llm, settings=FAST) as engine:
            first, first_steps = await finished(engine, await engine.submit("translation", TRANSLATION))
            second, second_steps = await finished(engine, await engine.submit("translation", TRANSLATION))
    finally:
        await llm.aclose()
    assert first.cost_usd is not None and first.cost_usd > 0
    assert all(step.cost_usd is not None and step.cost_usd > 0 for step in first_steps)
    assert [step.cost_usd for step in second_steps] == [0.0] * 4 and second.cost_usd == 0.0
