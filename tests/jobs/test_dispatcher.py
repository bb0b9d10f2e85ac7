"""How the dispatcher records a job's outcome: the result encoded once, by the store, and the final
progress report published only once the outcome is committed."""

from __future__ import annotations

from lpe_nb.jobs import JobEvent, JobManager, JobStatus


async def _events_until_terminal(manager: JobManager, job_type: str) -> tuple[str, list[JobEvent]]:
    sub = await manager.subscribe(None)  # before submit, so every event of the job is a live one
    job_id = await manager.submit(job_type)
    events = []
    async for event in sub:
        events.append(event)
        if event.is_terminal:
            break
    return job_id, events


async def test_a_result_that_is_not_json_fails_the_job_without_reporting_completion(
    manager: JobManager,
) -> None:
    job_id, events = await _events_until_terminal(manager, "bad_result")
    assert events[-1].status is JobStatus.FAILED
    assert "result_data" in (events[-1].error_message or "")
    assert not [e for e in events if e.progress is not None and e.progress.current_step == "completed"]
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs))
    job = await manager.get(job_id)
    assert job.status is JobStatus.FAILED and job.result_data is None
    assert [t["to_status"] for t in await manager.store.get_transitions(job_id)][-1] == "failed"


async def test_a_completed_job_reports_its_stored_100_percent_just_before_its_status(
    manager: JobManager,
) -> None:
    job_id, events = await _events_until_terminal(manager, "noop")
    last_progress, status = events[-2], events[-1]
    assert status.status is JobStatus.COMPLETED
    assert last_progress.progress is not None and last_progress.progress.percentage == 100.0
    assert last_progress.seq < status.seq
    stored = await manager.get(job_id)
    assert stored.progress == last_progress.progress
