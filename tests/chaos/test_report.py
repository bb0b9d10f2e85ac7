"""The chaos report can fail: a step asked again after its checkpoint is redone, an empty output malformed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from lpe_nb.jobs import JobStatus, Progress
from lpe_nb.jobs.store import open_store
from tests.chaos.harness import report
from tests.jobs.records import at, make_job, make_step
from tests.llm.fake_openai_server import RecordedRequest


def asked(job_id: str, step: str, when: str) -> RecordedRequest:
    body = {"messages": [{"role": "user", "content": f"[chaos job={job_id} step={step}] begin"}]}
    return RecordedRequest(
        "POST", "/v1/chat/completions", {}, body, at=datetime.fromisoformat(when).timestamp()
    )


async def test_requests_after_a_checkpoint_are_redone_and_empty_outputs_malformed(tmp_path: Path) -> None:
    db_path = tmp_path / "jobs.db"
    job = make_job(type="chaos")
    async with open_store(db_path) as store:
        await store.insert_job(job)
        [(claimed, _)] = await store.claim_pending("me", at(1), at(60), 1)
        await store.save_step(make_step(job.id, 0, name="s1", output={"text": "fine"}), "me")  # done at 0.5
        await store.save_step(make_step(job.id, 1, name="s2", output={"text": "  "}), "me")
        result = {"texts": ["fine", "  "], "verdict": None}
        await store.finish(
            claimed, "me", JobStatus.COMPLETED, now=at(3), seq=9, progress=Progress(), result_data=result
        )
    requests = [asked(job.id, "s1", at(0.2)), asked(job.id, "s1", at(2)), asked(job.id, "s2", at(1))]

    found = await report(db_path, [job.id, "never-submitted"], requests)

    assert (found.completed, found.lost, found.stuck, found.duplicated) == (1, 1, 0, 0)
    assert found.redone == 1  # s1 asked at 2 s, after its checkpoint at 0.5 s
    assert found.malformed == 2  # the whitespace step, and the result that holds it
    assert (found.requests, found.calls) == (3, 2)
    assert not found.ok
