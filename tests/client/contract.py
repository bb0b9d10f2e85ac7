"""One suite for every backend: a test module imports these with a ``client`` fixture of its own."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from lpe_nb.client import AsyncClient, AsyncJob
from lpe_nb.errors import InvalidInput, InvalidTransition, JobFailed, JobNotFound, LpeError
from lpe_nb.jobs import JobEvent, JobStatus

NARRATIVE = "Mara left the harbour town of Velden at dawn, carrying her father's compass and a debt."
WAIT_S = 20.0
SLOW = 0.05  # seconds per mock LLM call: a job takes a few tenths of a second
VERY_SLOW = 2.0  # a job still running when the test cancels it


async def test_projection_waits_to_a_completed_result_with_steps(client: AsyncClient) -> None:
    job = await client.projection(NARRATIVE, persona="critic")
    assert isinstance(job, AsyncJob) and job.type == "projection"
    done = await job.wait(timeout=WAIT_S)
    assert done is job and job.status is JobStatus.COMPLETED
    assert job.result["final_projection"]
    assert job.steps and job.progress.percentage == 100


async def test_await_a_job_is_wait(client: AsyncClient) -> None:
    job = await (await client.translation(NARRATIVE, "french", source_language="english"))
    assert job.status is JobStatus.COMPLETED and job.result


async def test_maieutic_session_then_answers_then_configure(client: AsyncClient) -> None:
    session = await (await client.maieutic(NARRATIVE, max_turns=2))
    answered = await client.maieutic_answer(session.id, ["She wants to be free of it.", "Her father."])
    await answered.wait(timeout=WAIT_S)
    assert answered.type == "maieutic_answer" and answered.result
    configured = await (await client.configure("persona", "a patient gardener who notices small things"))
    assert configured.type == "configuration" and configured.result


async def test_job_jobs_and_catalog(client: AsyncClient) -> None:
    first = await (await client.projection(NARRATIVE))
    second = await (await client.translation(NARRATIVE, "german"))
    again = await client.job(first.id)
    assert again.id == first.id and again.status is JobStatus.COMPLETED and again.steps
    assert [j.id for j in await client.jobs()] == [second.id, first.id]
    assert [j.id for j in await client.jobs(type="projection", status="completed")] == [first.id]
    page = await client.jobs(limit=1)
    assert [j.id for j in page] == [second.id] and page.next_cursor
    rest = await client.jobs(limit=1, cursor=page.next_cursor)
    assert [j.id for j in rest] == [first.id]
    assert rest.next_cursor is None
    assert await client.jobs(status=["failed", "cancelled"]) == []
    catalog = await client.catalog()
    assert {"personas", "namespaces", "styles", "defaults", "languages"} <= set(catalog)
    await client.delete(first.id)
    with pytest.raises(JobNotFound):
        await client.job(first.id)
    assert [j.id for j in await client.jobs()] == [second.id]


@pytest.mark.parametrize("mock_latency_s", [SLOW])
async def test_deleting_an_unfinished_job_is_refused(client: AsyncClient) -> None:
    job = await client.projection(NARRATIVE)
    with pytest.raises(InvalidTransition):
        await client.delete(job.id)
    await client.cancel(job.id)


@pytest.mark.parametrize("mock_latency_s", [SLOW])
async def test_events_are_in_order_and_end_with_the_terminal_status(client: AsyncClient) -> None:
    job = await client.projection(NARRATIVE)
    events: list[JobEvent] = []

    async def collect() -> None:
        async for event in job.events():
            events.append(event)

    await asyncio.wait_for(collect(), WAIT_S)
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs)
    assert len({(e.seq, e.kind) for e in events}) == len(events)
    assert events[-1].kind == "status" and events[-1].status is JobStatus.COMPLETED
    assert any(e.kind == "progress" and e.progress and e.progress.percentage == 100 for e in events)
    assert job.status is JobStatus.COMPLETED  # the handle follows the events it reads


@pytest.mark.parametrize("mock_latency_s", [VERY_SLOW])
async def test_cancel_a_running_job_then_wait_raises_job_failed(client: AsyncClient) -> None:
    job = await client.projection(NARRATIVE)

    async def until_running() -> None:
        async for event in job.events():
            if event.status is JobStatus.RUNNING:
                return

    await asyncio.wait_for(until_running(), WAIT_S)
    await job.cancel()
    with pytest.raises(JobFailed) as failed:
        await job.wait(timeout=WAIT_S)
    assert failed.value.status == "cancelled" and job.status is JobStatus.CANCELLED
    with pytest.raises(JobFailed):
        _ = job.result
    with pytest.raises(InvalidTransition):
        await client.cancel(job.id)


@pytest.mark.parametrize("mock_latency_s", [VERY_SLOW])
async def test_result_of_an_unfinished_job_says_to_wait_and_wait_times_out(client: AsyncClient) -> None:
    job = await client.projection(NARRATIVE)
    with pytest.raises(LpeError, match="wait for it"):
        _ = job.result
    with pytest.raises(TimeoutError):
        await job.wait(timeout=0.05)
    assert repr(job).startswith("<Job projection ") and "\n" not in repr(job)
    await client.cancel(job.id)


async def test_unknown_job_is_job_not_found(client: AsyncClient) -> None:
    with pytest.raises(JobNotFound):
        await client.job("no-such-job")
    with pytest.raises(JobNotFound):
        await client.cancel("no-such-job")


async def test_bad_input_is_invalid_input_naming_the_field(client: AsyncClient) -> None:
    with pytest.raises(InvalidInput) as bad:
        await client.projection(NARRATIVE, persona="no-such-persona")
    assert "persona" in bad.value.fields
    with pytest.raises(InvalidInput) as empty:
        await client.maieutic_answer("s", [])
    assert "answers" in empty.value.fields


async def test_submit_takes_the_jobs_own_max_attempts(client: AsyncClient) -> None:
    job = await client.submit("projection", {"narrative": NARRATIVE}, max_attempts=7)
    assert job.data.max_attempts == 7
    assert "max_attempts" not in (job.data.input_data or {})
    await job.wait(timeout=WAIT_S)


async def test_submit_takes_the_jobs_own_priority(client: AsyncClient) -> None:
    job = await client.submit("projection", {"narrative": NARRATIVE}, priority=7)
    by_method = await client.projection(NARRATIVE, priority=-3)  # a submit option of the per-type methods too
    assert (job.priority, by_method.priority) == (7, -3)
    assert "priority" not in (by_method.data.input_data or {})
    await job.wait(timeout=WAIT_S)
    with pytest.raises(InvalidTransition):  # a finished job keeps the priority it ran with
        await job.set_priority(1)
    with pytest.raises(InvalidInput) as bad:
        await client.submit("projection", {"narrative": NARRATIVE}, priority=5000)
    assert "priority" in bad.value.fields


@pytest.mark.parametrize("mock_latency_s", [VERY_SLOW])
async def test_a_pending_jobs_priority_can_be_changed(client: AsyncClient) -> None:
    # eight jobs fill every slot of the default concurrency (8) for seconds; the ninth waits
    running = [await client.projection(NARRATIVE) for _ in range(8)]
    waiting = await client.projection(NARRATIVE, priority=-1)
    try:
        assert (await waiting.set_priority(5)) is waiting and waiting.priority == 5
        assert waiting.status is JobStatus.PENDING
        assert (await client.job(waiting.id)).priority == 5
        assert (await client.set_priority(waiting.id, 6)).priority == 6
    finally:
        for job in [waiting, *running]:
            await client.cancel(job.id)


async def test_a_scheduled_job_waits_visibly_and_can_be_cancelled(client: AsyncClient) -> None:
    run_at = datetime.now(timezone.utc) + timedelta(hours=1)
    job = await client.submit("projection", {"narrative": NARRATIVE}, run_at=run_at)
    assert (job.status, job.scheduled_at) == (JobStatus.PENDING, run_at)
    delayed = await client.projection(NARRATIVE, delay_s=3600)  # a submit option of the per-type methods
    assert delayed.scheduled_at is not None and delayed.scheduled_at > run_at - timedelta(minutes=1)
    for handle in (job, delayed):
        await handle.cancel()
        assert handle.status is JobStatus.CANCELLED and handle.data.started_at is None
    with pytest.raises(InvalidInput) as naive:
        await client.submit("projection", {"narrative": NARRATIVE}, run_at=datetime(2030, 1, 1))
    assert "run_at" in naive.value.fields


async def test_a_short_delay_runs_the_job_after_it(client: AsyncClient) -> None:
    job = await client.projection(NARRATIVE, delay_s=0.3)
    scheduled_at = job.scheduled_at
    assert scheduled_at is not None
    await job.wait(timeout=WAIT_S)
    await job.refresh()
    assert job.status is JobStatus.COMPLETED and job.data.started_at is not None
    assert datetime.fromisoformat(job.data.started_at) >= scheduled_at
    assert job.scheduled_at is None  # cleared once it was due


async def test_metrics_count_what_the_jobs_did(client: AsyncClient) -> None:
    def submitted(figures: dict[str, Any]) -> int:
        return int(figures["job_types"].get("projection", {}).get("submitted", 0))

    def llm_requests(figures: dict[str, Any]) -> int:
        return sum(sum(model["requests"].values()) for model in figures["llm_models"].values())

    before = await client.metrics()
    job = await (await client.projection(NARRATIVE))
    after = await client.metrics()
    assert submitted(after) == submitted(before) + 1
    assert after["job_types"]["projection"]["finished"]["completed"] >= 1
    assert llm_requests(after) >= llm_requests(before) + len(job.steps)  # a call per step at least
    assert after["jobs"]["pending"] == after["jobs"]["running"] == 0
    text = await client.metrics_text()
    assert f'lpe_jobs_submitted_total{{job_type="projection"}} {submitted(after)}.0' in text


async def test_analytics_sums_the_clients_jobs_and_names_a_bad_argument(client: AsyncClient) -> None:
    projection = await (await client.projection(NARRATIVE))
    await (await client.translation(NARRATIVE, "german"))
    report = await client.analytics(group_by=["type"])
    assert [g.key["type"] for g in report.groups] == ["projection", "translation"]
    assert report.totals.jobs == 2 and report.totals.success_rate == 1.0
    assert report.groups[0].total_tokens == sum(s.usage["total_tokens"] for s in projection.steps) > 0
    assert report.totals.cost_usd == 0.0  # the mock
    assert [row["type"] for row in report.rows()] == ["projection", "translation"]
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert (await client.analytics(since=later, until=later + timedelta(hours=1))).totals.jobs == 0
    with pytest.raises(InvalidInput) as caught:
        await client.analytics(group_by="colour")
    assert "group_by" in caught.value.fields
    with pytest.raises(InvalidInput) as caught:
        await client.analytics(since=later, until=later - timedelta(days=1))
    assert "since" in caught.value.fields
