"""The operations through the real openai client against the loopback fake server."""

from __future__ import annotations

import json
from pathlib import Path

from lpe_nb.embedded import Engine, open_engine
from lpe_nb.jobs import JobStatus
from lpe_nb.llm import OpenAICompatibleLLM
from tests.llm.fake_openai_server import FakeOpenAIServer, Reply
from tests.operations.conftest import FAST, NARRATIVE, run_and_watch, server_settings


async def test_projection_sends_five_requests_sums_usage_and_streams(
    server_engine: Engine, fake_openai: FakeOpenAIServer
) -> None:
    job, events = await run_and_watch(server_engine.manager, "projection", {"narrative": NARRATIVE})
    assert job.status is JobStatus.COMPLETED, job.error_message
    requests = fake_openai.requests
    assert len(requests) == 5
    assert all(r.json["model"] == "fake-model" and r.json["stream"] is True for r in requests)
    assert NARRATIVE in requests[0].json["messages"][-1]["content"]
    assert NARRATIVE in requests[2].json["messages"][-1]["content"]  # reconstruct sees the original
    r = job.result_data
    assert r["llm"] == {"provider": "openai-compatible", "model": "fake-model", "degraded": False}
    assert r["usage"]["total_tokens"] == sum(s["tokens"] for s in r["steps"]) > 0
    partial = [e.progress.details["partial_text"] for e in events
               if e.progress is not None and isinstance(e.progress.details, dict) and "partial_text" in e.progress.details]  # fmt: skip
    assert partial


async def test_structured_steps_ask_for_json_schema(
    server_engine: Engine, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script("hola mundo", NARRATIVE)
    job, _ = await run_and_watch(
        server_engine.manager, "translation", {"text": NARRATIVE, "intermediate_language": "spanish"}
    )
    assert job.status is JobStatus.COMPLETED, job.error_message
    formats = [r.json.get("response_format", {}).get("type") for r in fake_openai.requests]
    assert formats[2:] == ["json_schema", "json_schema"]
    assert job.result_data["intermediate_text"] == "hola mundo"
    assert job.result_data["chrf"] == 100.0


async def test_identical_back_translation_gives_no_drift_and_unrelated_high_drift(
    server_engine: Engine, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script("texto", NARRATIVE, json.dumps({"similarity": 1.0, "explanation": "same"}))
    job, _ = await run_and_watch(
        server_engine.manager, "translation", {"text": NARRATIVE, "intermediate_language": "spanish"}
    )
    assert job.result_data["drift"] == 0.0 and job.result_data["chrf"] == 100.0
    # the same request again, answered anew by the script: not from the cache
    await server_engine.manager.cache.clear()
    fake_openai.script(
        "texto",
        "Bananas grow in warm climates.",
        json.dumps({"similarity": 0.05, "explanation": "unrelated"}),
    )
    job, _ = await run_and_watch(
        server_engine.manager, "translation", {"text": NARRATIVE, "intermediate_language": "spanish"}
    )
    assert job.result_data["drift"] > 0.9 and job.result_data["chrf"] < 30


async def test_rate_limit_and_server_error_are_retried(
    server_engine: Engine, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.error(429, "slow down", retry_after_s=0.01), Reply.error(500, "oops"))
    job, _ = await run_and_watch(server_engine.manager, "projection", {"narrative": NARRATIVE})
    assert job.status is JobStatus.COMPLETED, job.error_message
    assert fake_openai.call_count == 7


async def test_persistent_error_fails_the_job_readably_once_its_attempts_are_used(
    server_engine: Engine, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(*[Reply.error(500, "backend down")] * 6)
    manager = server_engine.manager
    job = await manager.wait(await manager.submit("projection", {"narrative": NARRATIVE}, max_attempts=2), 15)
    message = job.error_message or ""
    assert job.status is JobStatus.FAILED and "backend down" in message
    assert message.endswith("(HTTP 500 backend down, after 3 requests) [attempt 2 of 2: no attempts left]")
    assert fake_openai.call_count == 6  # 3 requests per attempt (max_retries 2), 2 attempts
    assert (await manager.counts())[JobStatus.RUNNING] == 0


async def test_a_timeout_is_retried_by_the_job(db_path: Path, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.hanging())
    llm = OpenAICompatibleLLM(server_settings(fake_openai, timeout_s=0.3, max_retries=0))
    async with open_engine(db_path, llm=llm, settings=FAST) as engine:
        job, _ = await run_and_watch(engine.manager, "projection", {"narrative": NARRATIVE})
        transitions = await engine.manager.store.get_transitions(job.id)
    await llm.aclose()
    assert job.status is JobStatus.COMPLETED, job.error_message
    assert (job.attempts, fake_openai.call_count) == (2, 6)
    assert "timed out after 0.3 s (after 1 request)" in (transitions[2]["reason"] or "")


async def test_malformed_json_in_a_structured_step_is_retried_and_reported(
    server_engine: Engine, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script("uno", "one", "I think they are quite similar!")
    job, _ = await run_and_watch(
        server_engine.manager, "translation", {"text": NARRATIVE, "intermediate_language": "spanish"}
    )
    transitions = await server_engine.manager.store.get_transitions(job.id)
    assert job.status is JobStatus.COMPLETED, job.error_message
    reason = transitions[2]["reason"] or ""
    assert "translation.drift" in reason and "no JSON" in reason and fake_openai.base_url in reason
    assert fake_openai.call_count == 5  # 4 steps and the retried one; the translations are not asked again


async def test_maieutic_goal_and_earlier_questions_reach_the_prompts(
    server_engine: Engine, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script("What happened first?", "Why did she refuse?")
    job, _ = await run_and_watch(
        server_engine.manager, "maieutic", {"narrative": NARRATIVE, "goal": "clarify", "max_turns": 2}
    )
    assert job.status is JobStatus.COMPLETED, job.error_message
    prompts = [r.json["messages"][-1]["content"] for r in fake_openai.requests]
    assert all("clarify" in p for p in prompts)
    assert "What happened first?" in prompts[1] and "What happened first?" not in prompts[0]


async def test_invalid_generated_entry_fails_and_saves_nothing(
    server_engine: Engine, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(json.dumps({"name": "critic", "description": "a clash with a built-in"}))
    job, _ = await run_and_watch(
        server_engine.manager, "configuration", {"attribute": "persona", "brief": "a harsh critic"}
    )
    assert job.status is JobStatus.FAILED and "built-in" in (job.error_message or "")
    assert await server_engine.manager.store.catalog_entries() == []


async def test_projection_stopped_in_step_four_resumes_there(
    db_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script("elements", "mapping", "story", Reply.hanging())
    llm = OpenAICompatibleLLM(server_settings(fake_openai))
    try:
        async with open_engine(db_path, llm=llm, settings=FAST) as engine:
            job_id = await engine.projection(NARRATIVE)
            await fake_openai.wait_until(lambda s: s.call_count == 4, 5)
            await engine.manager.stop(grace_s=0)
        async with open_engine(db_path, llm=llm, settings=FAST) as engine:
            job = await engine.manager.wait(job_id, timeout_s=10)
            _, steps = await engine.manager.get_with_steps(job_id)
    finally:
        await llm.aclose()
    assert job.status is JobStatus.COMPLETED, job.error_message
    assert fake_openai.call_count == 6  # 5 completed steps + the interrupted one
    assert [(s.name, s.attempt) for s in steps][:3] == [("deconstruct", 1), ("map", 1), ("reconstruct", 1)]
    assert [s.name for s in steps][3:] == ["stylize", "reflect"]
