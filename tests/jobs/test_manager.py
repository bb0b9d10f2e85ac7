from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lpe_nb.errors import (
    DispatcherBusy,
    InvalidInput,
    InvalidTransition,
    JobNotFound,
    UnknownJobType,
)
from lpe_nb.jobs import JobEvent, JobManager, JobStatus, check_transition, open_store
from lpe_nb.jobs.model import to_iso
from tests.jobs.conftest import FAST
from tests.jobs.ops import Probe, build_registry


def count_rows(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


# -- submit, run, complete ---------------------------------------------------------------------------------


async def test_submitted_job_is_persisted_before_submit_returns(manager: JobManager, db_path: Path) -> None:
    job_id = await manager.submit("noop", {"x": 1})
    with sqlite3.connect(db_path) as conn:  # a separate, plain connection sees the committed row
        row = conn.execute("SELECT type, input_data FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert row == ("noop", '{"x":1}')


async def test_job_runs_to_completion_through_legal_transitions_only(manager: JobManager) -> None:
    job_id = await manager.submit("reports", {"reports": 30})
    sub = await manager.subscribe([job_id])
    percentages: list[float] = []
    statuses: list[JobStatus] = []
    async for event in sub:
        if event.kind == "progress":
            assert event.progress is not None
            percentages.append(event.progress.percentage)
        else:
            assert event.status is not None
            statuses.append(event.status)
            if event.is_terminal:
                break
    job = await manager.get(job_id)
    assert job.status is JobStatus.COMPLETED
    assert job.result_data == {"reports": 30}
    assert percentages == sorted(percentages) and percentages[-1] == 100.0
    assert job.progress.percentage == 100.0
    assert job.started_at and job.completed_at and job.created_at <= job.started_at <= job.completed_at
    transitions = await manager.store.get_transitions(job_id)
    assert [(t["from_status"], t["to_status"]) for t in transitions] == [
        (None, "pending"),
        ("pending", "running"),
        ("running", "completed"),
    ]
    for t in transitions[1:]:
        check_transition(job_id, JobStatus(t["from_status"]), JobStatus(t["to_status"]))


async def test_events_carry_increasing_seq_per_job(manager: JobManager) -> None:
    sub = await manager.subscribe(None)  # before submit, so every event of the job is a live one
    job_id = await manager.submit("reports", {"reports": 5})
    events = []
    async for event in sub:
        assert event.job_id == job_id and not event.snapshot
        events.append(event)
        if event.is_terminal:
            break
    seqs = [event.seq for event in events]
    assert [event.status for event in events if event.kind == "status"] == [
        JobStatus.PENDING,
        JobStatus.RUNNING,
        JobStatus.COMPLETED,
    ]
    assert seqs == sorted(set(seqs))  # strictly increasing
    assert seqs[0] == 1 and seqs[-1] == (await manager.get(job_id)).seq


async def test_failing_operation_ends_failed_with_its_message_and_is_not_retried(
    manager: JobManager, probe: Probe
) -> None:
    job = await manager.wait(await manager.submit("fails"), timeout_s=10)
    assert job.status is JobStatus.FAILED
    assert job.error_message == "RuntimeError: the model said no"
    assert probe.runs["fails"] == 1


async def test_result_that_is_not_json_fails_the_job_clearly(manager: JobManager) -> None:
    job = await manager.wait(await manager.submit("bad_result"), timeout_s=10)
    assert job.status is JobStatus.FAILED
    assert "result_data" in (job.error_message or "") and "JSON" in (job.error_message or "")


async def test_streamed_text_reaches_subscribers_but_only_the_output_is_stored(
    manager: JobManager, probe: Probe
) -> None:
    probe.release.clear()
    job_id = await manager.submit("streams", {"words": ["the", "pulse", "carries", "ideas"]})
    async for event in await manager.subscribe([job_id]):
        details = event.progress.details if event.progress else None
        if isinstance(details, dict) and details.get("partial_text") == "the pulse carries ideas ":
            break  # a reader that keeps up sees the text so far (intermediate values may coalesce)
    probe.release.set()
    job = await manager.wait(job_id, timeout_s=10)
    steps = await manager.store.get_steps(job_id)
    assert job.result_data == "the pulse carries ideas"
    assert [s.output for s in steps] == ["the pulse carries ideas"]
    assert "partial_text" not in str(job.progress.details)


async def test_progress_is_persisted_throttled_and_its_latest_value_always_lands(
    manager: JobManager, probe: Probe, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saves: list[int] = []
    original = manager.store.save_progress

    async def counting(updates, *, now):  # type: ignore[no-untyped-def]
        saves.append(len(updates))
        await original(updates, now=now)

    monkeypatch.setattr(manager.store, "save_progress", counting)
    probe.release.clear()
    job_id = await manager.submit("burst", {"reports": 500})
    await probe.until(lambda: bool(probe.changed.is_set()))

    def persisted_step() -> str:
        with sqlite3.connect(db_path) as conn:
            (progress,) = conn.execute("SELECT progress FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return str(json.loads(progress)["current_step"])

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while persisted_step() != "r500":  # the trailing value lands within one persist interval
        assert loop.time() < deadline, "the latest progress was never persisted"
        await asyncio.sleep(0.05)  # polling the database file, which has nothing to await
    probe.release.set()
    await manager.wait(job_id, timeout_s=10)
    assert sum(saves) < 10  # 500 reports, a handful of writes


async def test_text_is_streamed_only_for_jobs_someone_watches(manager: JobManager) -> None:
    watched = await manager.wait(await manager.submit("watched"), timeout_s=10)  # wait() watches
    assert watched.result_data == {"streams": True}
    with await manager.subscribe(None) as everything:  # a dashboard's view does not count
        unwatched = await manager.submit("watched")
        while not (event := await everything.get(timeout_s=10)).is_terminal or event.job_id != unwatched:
            pass
    assert (await manager.get(unwatched)).result_data == {"streams": False}


async def test_a_new_manager_on_the_same_file_sees_jobs_progress_and_steps(
    db_path: Path, probe: Probe
) -> None:
    counter = db_path.parent / "counter.txt"
    async with JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as first:
        job_id = await first.submit("counted_steps", {"steps": 3, "counter": str(counter)})
        await first.wait(job_id, timeout_s=10)
    async with JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as second:
        job, steps = await second.get_with_steps(job_id)
        page = await second.list_jobs()
    assert job.status is JobStatus.COMPLETED
    assert job.progress.percentage == 100.0
    assert [s.name for s in steps] == ["step1", "step2", "step3"]
    assert steps[0].output == "output of step1" and steps[0].input == {"index": 1}
    assert [j.id for j in page.jobs] == [job_id]


# -- cancel ------------------------------------------------------------------------------------------------


async def test_cancel_pending_job_ends_cancelled_at_once_and_never_runs(db_path: Path, probe: Probe) -> None:
    settings = replace(FAST, concurrency=1)
    async with JobManager.open(db_path, registry=build_registry(probe), settings=settings) as manager:
        blocker = await manager.submit("gated", {"name": "blocker"})
        await probe.until(lambda: probe.in_flight == 1)
        waiting = await manager.submit("gated", {"name": "waiting"})
        cancelled = await manager.cancel(waiting)
        assert cancelled.status is JobStatus.CANCELLED
        probe.release.set()
        await manager.wait(blocker, timeout_s=10)
    assert "waiting" not in probe.runs
    async with open_store(db_path) as store:
        assert (await store.get_job(waiting)).status is JobStatus.CANCELLED


async def test_cancel_running_job_runs_its_finally_and_is_never_retried(db_path: Path, probe: Probe) -> None:
    async with JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as manager:
        job_id = await manager.submit("gated", {"name": "victim"})
        await probe.until(lambda: probe.in_flight == 1)
        await manager.cancel(job_id)
        job = await manager.wait(job_id, timeout_s=10)
        assert job.status is JobStatus.CANCELLED
        assert job.error_message == "cancelled by request"
        assert probe.finally_ran == ["victim"]
    probe.release.set()
    async with JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as again:
        assert (await again.get(job_id)).status is JobStatus.CANCELLED
        assert again.running_job_ids == []
    assert probe.runs["victim"] == 1


async def test_cancel_from_a_non_dispatching_manager_reaches_the_dispatcher(
    db_path: Path, probe: Probe
) -> None:
    async with (
        JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as dispatcher,
        JobManager.open(db_path, registry=build_registry(probe), dispatch=False) as other,
    ):
        job_id = await other.submit("gated", {"name": "remote"})
        await probe.until(lambda: probe.in_flight == 1)
        await other.cancel(job_id)  # only persists cancel_requested; the heartbeat delivers it
        job = await dispatcher.wait(job_id, timeout_s=10)
    assert job.status is JobStatus.CANCELLED
    assert probe.finally_ran == ["remote"]


async def test_cancelling_a_finished_job_is_an_invalid_transition(manager: JobManager) -> None:
    job_id = await manager.submit("noop")
    await manager.wait(job_id, timeout_s=10)
    with pytest.raises(InvalidTransition, match="completed; it cannot become cancelled"):
        await manager.cancel(job_id)


# -- queue: concurrency and priority ----------------------------------------------------------------------


async def test_concurrency_bound_holds(db_path: Path, probe: Probe) -> None:
    settings = replace(FAST, concurrency=3)
    async with JobManager.open(db_path, registry=build_registry(probe), settings=settings) as manager:
        ids = [await manager.submit("gated", {"name": f"j{i}"}) for i in range(10)]
        await probe.until(lambda: probe.in_flight == 3)
        counts = await manager.counts()
        assert counts[JobStatus.RUNNING] == 3 and counts[JobStatus.PENDING] == 7
        probe.release.set()
        for job_id in ids:
            assert (await manager.wait(job_id, timeout_s=10)).status is JobStatus.COMPLETED
    assert probe.max_in_flight == 3


async def test_higher_priority_runs_first_then_older(db_path: Path, probe: Probe) -> None:
    settings = replace(FAST, concurrency=1)
    async with JobManager.open(db_path, registry=build_registry(probe), settings=settings) as manager:
        await manager.submit("gated", {"name": "blocker"})
        await probe.until(lambda: probe.in_flight == 1)
        last = None
        for name, priority in [("low", -1), ("mid-1", 0), ("high", 5), ("mid-2", 0)]:
            last = await manager.submit("gated", {"name": name}, priority=priority)
        probe.release.set()
        assert last is not None
        await probe.until(lambda: len(probe.order) == 5)
    assert probe.order == ["blocker", "high", "mid-1", "mid-2", "low"]


async def test_a_pending_job_raised_in_priority_overtakes_the_queue(db_path: Path, probe: Probe) -> None:
    settings = replace(FAST, concurrency=1)
    async with JobManager.open(db_path, registry=build_registry(probe), settings=settings) as manager:
        blocker = await manager.submit("gated", {"name": "blocker"})
        await probe.until(lambda: probe.in_flight == 1)
        for name in ("a", "b"):
            await manager.submit("gated", {"name": name})
        late = await manager.submit("gated", {"name": "late"})
        with await manager.subscribe([late]) as events:
            raised = await manager.set_priority(late, 10)
            assert (raised.priority, raised.status) == (10, JobStatus.PENDING)
            async with asyncio.timeout(5):  # watchers hear of it: a status event at the new seq
                async for event in events:
                    if event.seq >= raised.seq:
                        assert event.status is JobStatus.PENDING
                        break
        with pytest.raises(InvalidTransition):
            await manager.set_priority(blocker, 10)  # running: claimed with the priority it had
        probe.release.set()
        await probe.until(lambda: len(probe.order) == 4)
    assert probe.order == ["blocker", "late", "a", "b"]


# -- one dispatcher per database ----------------------------------------------------------------------------


async def test_second_dispatching_manager_on_the_same_file_is_refused(
    manager: JobManager, db_path: Path
) -> None:
    async with open_store(db_path) as store:
        with pytest.raises(DispatcherBusy, match="already dispatching"):
            await JobManager(store).start()


async def test_jobs_submitted_by_another_manager_run_exactly_once(db_path: Path, probe: Probe) -> None:
    async with (
        JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as dispatcher,
        JobManager.open(db_path, registry=build_registry(probe), dispatch=False) as submitter,
    ):
        probe.release.set()
        ids = [await submitter.submit("gated", {"name": f"s{i}"}) for i in range(20)]
        for job_id in ids:
            assert (await dispatcher.wait(job_id, timeout_s=10)).status is JobStatus.COMPLETED
    assert probe.runs == {f"s{i}": 1 for i in range(20)}


async def test_dispatcher_lock_is_released_on_stop(db_path: Path, probe: Probe) -> None:
    async with JobManager.open(db_path, registry=build_registry(probe), settings=FAST):
        pass
    async with JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as again:
        job_id = await again.submit("noop")
        assert (await again.wait(job_id, timeout_s=10)).status is JobStatus.COMPLETED  # it dispatches


# -- graceful stop and resume ---------------------------------------------------------------------------


async def test_stop_requeues_a_running_job_which_resumes_without_rerunning_finished_steps(
    db_path: Path, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = db_path.parent / "counter.txt"
    monkeypatch.setenv("LPE_TEST_BLOCK_AT", "3")
    async with JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as manager:
        job_id = await manager.submit("counted_steps", {"steps": 4, "counter": str(counter)})
        sub = await manager.subscribe([job_id])
        async for event in sub:  # wait until step 3 has started, i.e. step 2 is checkpointed
            if event.kind == "progress" and event.progress and event.progress.current_step == "step3":
                break
    async with open_store(db_path) as store:
        job = await store.get_job(job_id)
        assert job.status is JobStatus.PENDING and job.attempts == 0  # the stop refunded the attempt
        assert [s.name for s in await store.get_steps(job_id)] == ["step1", "step2"]
    monkeypatch.delenv("LPE_TEST_BLOCK_AT")
    async with JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as manager:
        job = await manager.wait(job_id, timeout_s=10)
    assert job.status is JobStatus.COMPLETED
    assert counter.read_text().split() == ["step1", "step2", "step3", "step4"]
    assert job.result_data == {"outputs": [f"output of step{i}" for i in range(1, 5)]}


async def test_orphan_whose_lease_expires_is_recovered_while_the_manager_runs(
    manager: JobManager, db_path: Path
) -> None:
    template = await manager.get(await manager.submit("noop"))
    expires = datetime.now(timezone.utc) + timedelta(seconds=0.5)
    # A job held by an owner that died after the manager started: only the lease sweep can free it.
    orphan = replace(
        template,
        id="00000000-0000-4000-8000-000000000001",
        status=JobStatus.RUNNING,
        attempts=1,
        lease_owner="ghost",
        lease_expires_at=expires.isoformat(timespec="microseconds"),
    )
    async with open_store(db_path) as ghost_store:
        await ghost_store.insert_job(orphan)
    job = await manager.wait(orphan.id, timeout_s=10)
    assert job.status is JobStatus.COMPLETED
    transitions = await manager.store.get_transitions(orphan.id)
    assert ("running", "pending") in [(t["from_status"], t["to_status"]) for t in transitions]


# -- retention ---------------------------------------------------------------------------------------------


async def test_retention_deletes_only_old_terminal_jobs(db_path: Path, probe: Probe) -> None:
    moment = [datetime(2026, 1, 1, tzinfo=timezone.utc)]
    settings = replace(FAST, retention_days=30, purge_batch=2)
    registry = build_registry(probe)
    probe.release.clear()
    async with JobManager.open(
        db_path, registry=registry, settings=settings, clock=lambda: moment[0]
    ) as manager:
        old_done = [await manager.submit("noop") for _ in range(5)]
        for job_id in old_done:
            await manager.wait(job_id, timeout_s=10)
        old_running = await manager.submit("gated", {"name": "long"})
        await probe.until(lambda: probe.in_flight == 1)
        moment[0] += timedelta(days=31)
        recent_done = await manager.submit("noop")
        await manager.wait(recent_done, timeout_s=10)
        assert await manager.purge_old_jobs() == 5
        remaining = {job.id for job in (await manager.list_jobs(limit=100)).jobs}
        probe.release.set()
    assert remaining == {old_running, recent_done}
    with sqlite3.connect(db_path) as conn:  # their audit trail went with them
        audited = {row[0] for row in conn.execute("SELECT DISTINCT job_id FROM job_transitions")}
    assert audited == {old_running, recent_done}


# -- subscribers ---------------------------------------------------------------------------------------------


async def test_a_subscriber_that_never_reads_neither_blocks_the_engine_nor_grows(manager: JobManager) -> None:
    idle = await manager.subscribe(None)
    ids = [await manager.submit("reports", {"reports": 200}) for _ in range(40)]
    for job_id in ids:
        assert (await manager.wait(job_id, timeout_s=20)).status is JobStatus.COMPLETED
    # 40 jobs x ~204 events went by; the idle queue keeps each job's three statuses and one progress slot
    # that all 200 of its reports were folded into, well under its bound of 256.
    assert not idle.overflowed and not idle.closed
    assert idle.pending == 4 * len(ids)
    assert idle.coalesced >= 199 * len(ids)


# -- bad input -------------------------------------------------------------------------------------------------


async def test_unknown_type_is_rejected_and_nothing_is_written(manager: JobManager, db_path: Path) -> None:
    with pytest.raises(
        UnknownJobType, match=r"unknown job type 'poem'; choose one of: bad_result, burst, counted_steps"
    ):
        await manager.submit("poem", {})
    assert count_rows(db_path) == 0


async def test_unserializable_input_is_rejected_naming_the_field(manager: JobManager, db_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        await manager.submit("noop", {"when": datetime.now()})
    assert "input_data" in info.value.fields
    with pytest.raises(InvalidInput):
        await manager.submit("noop", {"x": float("nan")})
    assert count_rows(db_path) == 0


async def test_input_model_errors_name_each_field(manager: JobManager, db_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        await manager.submit("strict", {"narrative": "", "turns": 11})
    assert set(info.value.fields) == {"narrative", "turns"}
    with pytest.raises(InvalidInput) as info:
        await manager.submit("strict", {})
    assert set(info.value.fields) == {"narrative"}
    assert count_rows(db_path) == 0


async def test_bad_submit_options_are_rejected(manager: JobManager) -> None:
    with pytest.raises(InvalidInput) as info:
        await manager.submit("noop", priority="high")  # type: ignore[arg-type]
    assert "priority" in info.value.fields
    with pytest.raises(InvalidInput) as info:
        await manager.submit("noop", max_attempts=0)
    assert "max_attempts" in info.value.fields
    for bad in (1001, -1001):
        with pytest.raises(InvalidInput, match="from -1000 to 1000") as info:
            await manager.submit("noop", priority=bad)
        assert "priority" in info.value.fields


async def test_unknown_job_id_raises_job_not_found_everywhere(manager: JobManager) -> None:
    for call in (manager.get, manager.cancel, manager.delete, manager.wait, manager.subscribe):
        arg = ["nope"] if call == manager.subscribe else "nope"
        with pytest.raises(JobNotFound, match="no job with id 'nope'"):
            await call(arg)  # type: ignore[operator]


async def test_delete_refuses_unfinished_jobs_and_removes_finished_ones(
    manager: JobManager, probe: Probe
) -> None:
    probe.release.clear()
    running = await manager.submit("gated", {"name": "r"})
    await probe.until(lambda: probe.in_flight == 1)
    with pytest.raises(InvalidTransition):
        await manager.delete(running)
    probe.release.set()
    await manager.wait(running, timeout_s=10)
    await manager.delete(running)
    with pytest.raises(JobNotFound):
        await manager.get(running)


async def test_listing_pages_newest_first_and_filters(manager: JobManager) -> None:
    ids = [await manager.submit("noop") for _ in range(5)]
    failed = await manager.submit("fails")
    for job_id in [*ids, failed]:
        await manager.wait(job_id, timeout_s=10)
    first = await manager.list_jobs(limit=4)
    second = await manager.list_jobs(limit=4, cursor=first.next_cursor)
    assert [j.id for j in first.jobs + second.jobs] == [failed, *reversed(ids)]
    assert second.next_cursor is None
    assert [j.id for j in (await manager.list_jobs(status="failed")).jobs] == [failed]
    assert len((await manager.list_jobs(job_type="noop")).jobs) == 5
    with pytest.raises(InvalidInput, match="status"):
        await manager.list_jobs(status="done")
    with pytest.raises(InvalidInput, match="cursor"):
        await manager.list_jobs(cursor="garbage!")
    with pytest.raises(InvalidInput, match="limit"):
        await manager.list_jobs(limit=0)


async def test_wait_gives_up_after_its_timeout(manager: JobManager, probe: Probe) -> None:
    probe.release.clear()
    job_id = await manager.submit("gated", {"name": "slow"})
    with pytest.raises(TimeoutError, match=r"did not finish within 0\.3 s"):
        await manager.wait(job_id, timeout_s=0.3)
    probe.release.set()


def test_settings_reject_nonsense() -> None:
    from lpe_nb.jobs import ManagerSettings

    with pytest.raises(InvalidInput) as info:
        ManagerSettings(concurrency=0, lease_s=-1, heartbeat_s=100)
    assert {"concurrency", "lease_s", "heartbeat_s"} <= set(info.value.fields)


async def test_wait_does_not_block_other_work(manager: JobManager, probe: Probe) -> None:
    probe.release.clear()
    job_id = await manager.submit("gated", {"name": "w"})
    waiter = asyncio.create_task(manager.wait(job_id, timeout_s=10))
    await probe.until(lambda: probe.in_flight == 1)
    assert not waiter.done()
    probe.release.set()
    assert (await waiter).status is JobStatus.COMPLETED


# -- scheduled jobs ------------------------------------------------------------------------------------------


async def test_a_delayed_job_waits_for_its_time_then_runs(db_path: Path, probe: Probe) -> None:
    moment = [datetime(2026, 1, 1, tzinfo=timezone.utc)]
    async with JobManager.open(
        db_path, registry=build_registry(probe), settings=FAST, clock=lambda: moment[0]
    ) as manager:
        later = await manager.submit("noop", delay_s=60)
        at_noon = await manager.submit(
            "noop", run_at=datetime(2026, 1, 1, 13, tzinfo=timezone(timedelta(hours=1)))
        )
        job = await manager.get(later)
        assert (job.status, job.scheduled_at) == (JobStatus.PENDING, "2026-01-01T00:01:00.000000+00:00")
        assert (await manager.get(at_noon)).scheduled_at == "2026-01-01T12:00:00.000000+00:00"
        now = await manager.submit("noop")  # submitted after them, claimed before them: they wait
        await manager.wait(now, timeout_s=10)
        assert (await manager.get(later)).status is JobStatus.PENDING
        moment[0] += timedelta(seconds=59)
        await manager.wait(await manager.submit("noop"), timeout_s=10)  # another claim, still too early
        assert (await manager.get(later)).status is JobStatus.PENDING
        moment[0] += timedelta(seconds=1)
        done = await manager.wait(later, timeout_s=10)
        assert done.status is JobStatus.COMPLETED and done.started_at == to_iso(moment[0])
        assert (await manager.get(at_noon)).status is JobStatus.PENDING


async def test_a_cancelled_scheduled_job_never_starts(db_path: Path, probe: Probe) -> None:
    moment = [datetime(2026, 1, 1, tzinfo=timezone.utc)]
    async with JobManager.open(
        db_path, registry=build_registry(probe), settings=FAST, clock=lambda: moment[0]
    ) as manager:
        job_id = await manager.submit("noop", delay_s=5)
        cancelled = await manager.cancel(job_id)
        assert cancelled.status is JobStatus.CANCELLED
        moment[0] += timedelta(seconds=10)
        await manager.wait(await manager.submit("noop"), timeout_s=10)
        job = await manager.get(job_id)
        assert (job.status, job.started_at, job.attempts) == (JobStatus.CANCELLED, None, 0)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"delay_s": -1}, "delay_s"),
        ({"delay_s": "soon"}, "delay_s"),
        ({"delay_s": 400 * 86_400}, "delay_s"),
        ({"run_at": datetime(2026, 1, 1)}, "run_at"),  # naive: which timezone?
        ({"run_at": "2026-01-01T00:00:00Z"}, "run_at"),
        ({"run_at": datetime(2028, 1, 1, tzinfo=timezone.utc)}, "run_at"),
        ({"run_at": datetime(2026, 1, 1, tzinfo=timezone.utc), "delay_s": 1}, "delay_s"),
    ],
)
async def test_bad_schedules_are_refused_naming_the_field(
    manager: JobManager, db_path: Path, options: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        await manager.submit("noop", **options)  # type: ignore[arg-type]
    assert list(info.value.fields) == [field]
    assert count_rows(db_path) == 0


async def test_watchers_of_a_running_job_share_one_snapshot_until_the_job_moves_on(
    db_path: Path, probe: Probe
) -> None:
    """300 clients watching at once must not encode 300 snapshots (issue 15): the same events, so their
    frames are encoded once; a job that moved on gets a fresh one."""
    async with JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as manager:
        job_id = await manager.submit("gated", {"name": "watched"})
        await probe.until(lambda: probe.in_flight == 1)  # running, its "waiting" progress reported
        first, second, late = (manager.events.subscribe(()) for _ in range(3))
        await manager.watch(first, job_id)
        await manager.watch(second, job_id)
        seen = [[sub.get_nowait(), sub.get_nowait()] for sub in (first, second)]
        assert [e.kind if e else None for e in seen[0]] == ["status", "progress"]
        assert all(a is b for a, b in zip(*seen, strict=True))
        probe.release.set()
        await manager.wait(job_id, timeout_s=10)
        await manager.watch(late, job_id)
        fresh = [late.get_nowait(), late.get_nowait()]
        assert [e.status for e in fresh if e and e.kind == "status"] == [JobStatus.COMPLETED]
        for sub in (first, second, late):
            sub.close()


async def test_progress_is_built_only_for_jobs_someone_takes_progress_of(
    manager: JobManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader of every job's statuses (the Jupyter server's lifecycle watcher) makes no job's progress
    an event: nobody would read it (issue 16); a watcher of the job gets it, and the progress is kept."""
    published: list[tuple[str, str]] = []
    publish = manager.events.publish

    def recording(event: JobEvent) -> None:
        published.append((event.job_id, event.kind))
        publish(event)

    monkeypatch.setattr(manager.events, "publish", recording)
    with manager.events.subscribe(None, statuses_only=True) as statuses:
        unwatched = await manager.submit("reports", {"reports": 20})
        while not (event := await statuses.get(timeout_s=10)).is_terminal or event.job_id != unwatched:
            pass
        job = await manager.wait(await manager.submit("reports", {"reports": 20}), timeout_s=10)
    assert (unwatched, "progress") not in published
    assert (unwatched, "status") in published
    assert (await manager.get(unwatched)).progress.current_step == "completed"
    assert published.count((job.id, "progress")) >= 2  # wait() watches: its reports and the 100 %
