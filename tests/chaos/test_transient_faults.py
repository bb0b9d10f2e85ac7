"""Under 30 % injected transient faults every job completes with the default policy, within its budget."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from lpe_nb.jobs import JobManager, OperationRegistry
from lpe_nb.llm import OpenAICompatibleLLM
from tests.chaos.harness import (
    CHAOS_TYPE,
    chaos_llm_settings,
    chaos_manager_settings,
    register_chaos,
    report,
    step_of,
    until_all_done,
)
from tests.llm.fake_openai_server import TRANSIENT_FAULTS, FakeOpenAIServer, SeededFaults

JOBS = 30


async def test_every_job_completes_under_30_percent_transient_faults(
    db_path: Path, server: FakeOpenAIServer
) -> None:
    server.faults = SeededFaults(0.3, TRANSIENT_FAULTS, seed=11)
    llm_settings = chaos_llm_settings(server.base_url)  # the default retries: 2 per call
    settings = chaos_manager_settings()  # the default attempts (5) and classification; short backoffs
    llm = OpenAICompatibleLLM(llm_settings)
    registry = OperationRegistry()
    register_chaos(registry, llm)
    try:
        async with JobManager.open(db_path, registry=registry, settings=settings) as manager:
            ids = [await manager.submit(CHAOS_TYPE, {"steps": 3}) for _ in range(JOBS)]
            await until_all_done(manager, timeout_s=60)
    finally:
        await llm.aclose()

    requests = server.requests
    result = await report(db_path, ids, requests)
    print(result.line())
    assert result.ok, result.problems
    faults = Counter(r.fault for r in requests if r.fault)
    assert sum(faults.values()) >= 0.2 * len(requests)  # the faults really were injected, of many kinds
    assert len(faults) >= 8
    per_step = Counter(step_of(r) for r in requests)
    budget = (llm_settings.max_retries + 1) * settings.max_attempts
    assert max(per_step.values()) <= budget  # no more requests than the policy allows
    assert 1.2 < result.requests_per_call < 2.0  # about 1 / (1 - 0.3)
