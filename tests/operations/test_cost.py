"""What jobs cost: tokens from a real OpenAI-compatible server times the price table, stored per step and job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lpe_nb.embedded import open_engine
from lpe_nb.jobs import JobRecord, JobStatus, StepRecord
from lpe_nb.llm import MockLLM, OpenAICompatibleLLM
from lpe_nb.llm.pricing import DEFAULT_PRICES, ModelPrice
from tests.llm.fake_openai_server import FakeOpenAIServer
from tests.operations.conftest import FAST, NARRATIVE, OTHER_NARRATIVE, server_settings


async def _run_projection(
    db_path: Path, *, llm: Any, narrative: str = NARRATIVE
) -> tuple[JobRecord, list[StepRecord]]:
    try:
        async with open_engine(db_path, llm=llm, settings=FAST) as engine:
            job = await engine.manager.wait(await engine.projection(narrative), 30)
            assert job.status is JobStatus.COMPLETED, job.error_message
            return await engine.manager.get_with_steps(job.id)
    finally:
        await llm.aclose()


def _expected_cost(steps: list[StepRecord], price: ModelPrice) -> float:
    prompt = sum(s.usage["prompt_tokens"] for s in steps)
    completion = sum(s.usage["completion_tokens"] for s in steps)
    assert prompt > 0 and completion > 0  # the server reported usage
    return (prompt * price.input_usd_per_mtok + completion * price.output_usd_per_mtok) / 1e6


async def test_a_jobs_cost_is_its_tokens_times_the_default_price_of_its_model(
    db_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    llm = OpenAICompatibleLLM(server_settings(fake_openai, model="gpt-4o-mini"))
    job, steps = await _run_projection(db_path, llm=llm)
    price = DEFAULT_PRICES["gpt-4o-mini"]
    assert job.cost_usd == pytest.approx(_expected_cost(steps, price), rel=1e-9)
    for step in steps:
        assert step.model == "gpt-4o-mini"
        expected = price.cost_usd(step.usage["prompt_tokens"], step.usage["completion_tokens"])
        assert step.cost_usd == pytest.approx(expected, rel=1e-9)


async def test_configured_prices_override_the_defaults_and_a_later_change_does_not_rewrite_history(
    db_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    first = [{"model": "gpt-4o-mini", "input": 100.0, "output": 400.0}]
    llm = OpenAICompatibleLLM(server_settings(fake_openai, model="gpt-4o-mini", prices=first))
    old, old_steps = await _run_projection(db_path, llm=llm)
    assert old.cost_usd == pytest.approx(_expected_cost(old_steps, ModelPrice(100.0, 400.0)), rel=1e-9)

    cheaper = [{"model": "gpt-4o-mini", "input": 1.0, "output": 2.0, "base_url": fake_openai.base_url}]
    llm = OpenAICompatibleLLM(server_settings(fake_openai, model="gpt-4o-mini", prices=cheaper))
    new, new_steps = await _run_projection(db_path, llm=llm, narrative=OTHER_NARRATIVE)  # not a cache hit
    assert new.cost_usd == pytest.approx(_expected_cost(new_steps, ModelPrice(1.0, 2.0)), rel=1e-9)
    async with open_engine(db_path, llm=MockLLM(), settings=FAST) as engine:
        assert (await engine.manager.get(old.id)).cost_usd == old.cost_usd


async def test_an_unpriced_model_on_a_local_server_costs_nothing(
    db_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    job, steps = await _run_projection(db_path, llm=OpenAICompatibleLLM(server_settings(fake_openai)))
    assert job.cost_usd == 0.0
    assert {s.model for s in steps} == {"fake-model"}


async def test_the_mock_costs_nothing(db_path: Path) -> None:
    job, steps = await _run_projection(db_path, llm=MockLLM())
    assert job.cost_usd == 0.0 and steps and all(s.cost_usd == 0.0 for s in steps)


async def test_a_job_answered_from_the_cache_costs_nothing_and_the_report_counts_its_hits(
    db_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    llm = OpenAICompatibleLLM(server_settings(fake_openai, model="gpt-4o-mini"))
    try:
        async with open_engine(db_path, llm=llm, settings=FAST) as engine:
            first = await engine.manager.wait(await engine.projection(NARRATIVE), 30)
            calls = fake_openai.call_count
            second = await engine.manager.wait(await engine.projection(NARRATIVE), 30)
            assert fake_openai.call_count == calls  # answered from the cache: no request
            report = await engine.manager.analytics(group_by="type")
    finally:
        await llm.aclose()
    assert first.cost_usd is not None and first.cost_usd > 0 and second.cost_usd == 0.0
    [group] = report.groups
    assert (group.jobs, group.cost_usd) == (2, pytest.approx(first.cost_usd))
    assert group.llm_calls == group.cache_hits == calls > 0 and group.cache_hit_rate == 0.5
