"""One case per fault kind, through the whole engine: the job's end state, its message, the requests made,
and that nothing empty was checkpointed.

The LLM makes no retries of its own here (``max_retries=0``), so every transient fault is the job's to
retry and shows in its audit trail; the call-level retries are proven in ``tests/llm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lpe_nb.jobs import JobManager, JobRecord, JobStatus, OperationRegistry, StepRecord
from lpe_nb.jobs.store import open_store
from lpe_nb.llm import OpenAICompatibleLLM
from tests.chaos.harness import (
    CHAOS_TYPE,
    _well_formed_output,
    _well_formed_result,
    chaos_llm_settings,
    chaos_manager_settings,
    register_chaos,
    step_of,
)
from tests.llm.fake_openai_server import FakeOpenAIServer, Reply


@dataclass(frozen=True)
class Case:
    fault: str
    words: str  # what the job's message (audit trail, or error) must say
    step: int = 2  # which of the three steps meets the fault (the third asks for JSON)
    streamed: bool = False
    fix: str | None = None  # a permanent fault: the job fails at once, and its message names the fix

    @property
    def id(self) -> str:
        return f"{self.fault}{'-streamed' if self.streamed else ''}"


CASES = [
    Case("rate_limit", "is rate limiting requests (HTTP 429"),
    Case("server_error", "failed (HTTP 500"),
    Case("unavailable", "failed (HTTP 503"),
    Case("reset", "could not be reached or hung up"),
    Case("slow", "timed out after 0.4 s"),
    Case("malformed_json", "sent a reply that is not valid JSON"),
    Case("malformed_json", "sent a reply that is not valid JSON", streamed=True),  # a bad SSE chunk
    Case("empty_choices", "sent a reply with no choices"),
    Case("null_content", "sent a message whose content is null"),
    Case("empty_text", "sent a reply of only whitespace"),
    Case("stream_cut", "the streamed reply was cut off mid-answer", streamed=True),
    Case("stream_stall", "the streamed reply stalled mid-answer", streamed=True),
    Case("non_json", "no JSON object or array found in the reply", step=3),
    Case("unauthorized", "rejected the API key (HTTP 401", step=1, fix="set OPENAI_API_KEY"),
    Case("unknown_model", "does not know this model or path (HTTP 404", step=1, fix="check LPE_LLM_MODEL"),
    Case("refusal", "declined to answer", step=1, fix="rephrase the input"),
]


async def run_one(
    db_path: Path, server: FakeOpenAIServer, *, watched: bool
) -> tuple[JobRecord, list[StepRecord], list[dict[str, Any]]]:
    """One chaos job of three steps on a fresh engine. Watched from before it starts, it streams every
    step; else it is followed through the all-jobs feed (a dashboard's view, which does not count as
    watching), so it makes plain requests."""
    llm = OpenAICompatibleLLM(chaos_llm_settings(server.base_url, max_retries=0))
    registry = OperationRegistry()
    register_chaos(registry, llm)
    try:
        async with open_store(db_path) as store:
            manager = JobManager(store, registry, settings=chaos_manager_settings())
            job_id = await manager.submit(CHAOS_TYPE, {"steps": 3})
            feed = await manager.subscribe([job_id] if watched else None)
            with feed:
                async with manager:  # dispatching starts only now, with the feed in place
                    while not (event := await feed.get(timeout_s=20)).is_terminal or event.job_id != job_id:
                        pass
            job, steps = await store.get_job_with_steps(job_id)
            transitions = await store.get_transitions(job_id)
    finally:
        await llm.aclose()
    return job, steps, transitions


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_fault(db_path: Path, server: FakeOpenAIServer, case: Case) -> None:
    server.script(*[Reply()] * (case.step - 1), Reply.fault_of(case.fault, retry_after_s=0.05))

    job, steps, transitions = await run_one(db_path, server, watched=case.streamed)

    requests = server.requests
    assert all(step_of(r) == (job.id, f"s{i}") for i, r in _numbered(requests, case.step))
    assert all(_well_formed_output(step.output) for step in steps)  # nothing empty was checkpointed
    assert all(bool(r.json.get("stream")) is case.streamed for r in requests)
    if case.fix is not None:
        assert (job.status, job.attempts) == (JobStatus.FAILED, 1)
        assert case.words in (job.error_message or "") and case.fix in (job.error_message or "")
        assert len(requests) == case.step == 1 and steps == []
        return
    assert job.status is JobStatus.COMPLETED, job.error_message
    assert _well_formed_result(job.result_data)
    assert len(requests) == 4  # three steps, one of them asked twice
    assert [s.name for s in steps] == ["s1", "s2", "s3"]
    assert [s.attempt for s in steps] == [1 if i < case.step else 2 for i in (1, 2, 3)]
    [retry] = [t for t in transitions if (t["from_status"], t["to_status"]) == ("running", "running")]
    reason = retry["reason"] or ""
    assert reason.startswith("attempt 1 of 5 failed: ")
    assert case.words in reason and server.base_url in reason and "'fake-model'" in reason
    assert "after 1 request" in reason or case.fault == "non_json"  # a parse failure is after the call


def _numbered(requests: list[Any], fault_step: int) -> list[tuple[int, Any]]:
    """Each request with the step it should be for: 1, 2, ..., the faulty step twice, then the rest."""
    order = [1, 2, 3]
    order.insert(fault_step, fault_step)
    return list(zip(order, requests, strict=False))
