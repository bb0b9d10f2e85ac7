"""The job store contract: every guarantee the manager relies on, run against every backend.

The ``store`` and ``store_url`` fixtures (``conftest.py``) are parametrised by backend name, so a new
backend is proven by adding its name to ``STORE_BACKENDS``. What only SQLite has (its file, pragmas and
group commit) is tested in ``test_sqlite_store.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from lpe_nb.errors import InvalidInput, InvalidTransition, JobNotFound, ScheduleNotFound, StoreError
from lpe_nb.jobs import JobRecord, JobStatus, JobStore, LeaseLost, Progress, StepRecord, open_store
from lpe_nb.jobs.analytics import AnalyticsRange
from lpe_nb.jobs.model import to_iso
from lpe_nb.jobs.recurrence import CatchUp, Recurrence, ScheduleFire, ScheduleRecord, new_schedule_id
from lpe_nb.jobs.store import CatalogRow, WorkerRecord
from tests.jobs.records import EPOCH, at, make_job, make_step

LEASE = at(60)  # a lease that outlives every `now` these tests pass, unless they mean it to expire
# A lease that ends before it starts: expired at once, on SQLite (against the `now` a test passes) as on
# PostgreSQL (against the database's clock, which is not the tests' EPOCH: see store.py's docstring).
EXPIRED = at(0)
FAR_AHEAD = at(30 * 365 * 86_400)  # a start time no clock reaches during a test (2055)


async def insert_all(store: JobStore, *jobs: JobRecord) -> None:
    for job in jobs:
        await store.insert_job(job)


async def claim_one(
    store: JobStore, job: JobRecord, owner: str = "me", now: str = at(1), lease: str = LEASE
) -> JobRecord:
    """Insert ``job`` alone in the queue and claim it for ``owner`` (until ``lease``)."""
    await store.insert_job(job)
    [(claimed, _)] = await store.claim_pending(owner, now, lease, 1)
    assert claimed.id == job.id
    return claimed


def moves(transitions: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(t["from_status"], t["to_status"]) for t in transitions]


# -- lifecycle --------------------------------------------------------------------------------------------


async def test_a_reopened_store_still_has_its_jobs(store_url: str) -> None:
    job = make_job()
    async with open_store(store_url) as store:
        await store.insert_job(job)
    async with open_store(store_url) as store:
        assert await store.get_job(job.id) == job


async def test_operations_after_close_fail_clearly(store_url: str) -> None:
    store = await open_store(store_url).open()
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.insert_job(make_job())
    with pytest.raises(StoreError, match="not open"):
        await store.get_job("any")
    await store.close()  # idempotent


async def test_location_names_the_database(store: JobStore) -> None:
    assert isinstance(store.location, str)
    assert store.location.strip()


# -- insert and read --------------------------------------------------------------------------------------


async def test_an_inserted_job_reads_back_exactly(store: JobStore) -> None:
    job = make_job(
        type="translation", title="Ünïcode title", description="d", priority=7, max_attempts=5,
        input_data={"text": "naïve", "nested": [1, 2.5, None, True]},
        progress=Progress(current_step="queued", total_steps=3, details={"k": "v"}, timestamp=at(), seq=1),
    )  # fmt: skip
    await store.insert_job(job)
    assert await store.get_job(job.id) == job
    assert await store.get_job_with_steps(job.id) == (job, [])


async def test_a_duplicate_id_is_refused_and_the_first_job_stands(store: JobStore) -> None:
    first = make_job(title="first")
    await store.insert_job(first)
    try:
        await store.insert_job(replace(first, title="second"))
    except Exception:  # the backend's own integrity error; the contract is only that it raises
        pass
    else:
        pytest.fail("a second job with the same id was accepted")
    assert (await store.get_job(first.id)).title == "first"


async def test_unknown_ids_raise_job_not_found(store: JobStore) -> None:
    with pytest.raises(JobNotFound):
        await store.get_job("missing")
    with pytest.raises(JobNotFound):
        await store.get_job_with_steps("missing")
    with pytest.raises(JobNotFound):
        await store.request_cancel("missing", now=at(), actor="t")
    with pytest.raises(JobNotFound):
        await store.delete_job("missing")
    assert await store.get_steps("missing") == []


async def test_one_failing_write_does_not_undo_concurrent_ones(store: JobStore) -> None:
    dup = make_job()
    await store.insert_job(dup)
    others = [make_job() for _ in range(6)]
    results = await asyncio.gather(
        *(store.insert_job(j) for j in others[:3]), store.insert_job(dup), *(store.insert_job(j) for j in others[3:]),
        return_exceptions=True,
    )  # fmt: skip
    assert isinstance(results[3], Exception)
    assert [r for i, r in enumerate(results) if i != 3] == others  # each returned as stored
    for job in others:
        assert await store.get_job(job.id) == job


# -- list and count ---------------------------------------------------------------------------------------


async def test_list_is_newest_first_and_cursor_pages_never_repeat_or_skip(store: JobStore) -> None:
    # Three jobs share each created_at: pages must break ties on the id.
    jobs = [make_job(created_at=at(i // 3), updated_at=at(i // 3)) for i in range(10)]
    await insert_all(store, *jobs)
    expected = [j.id for j in sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)]
    seen: list[str] = []
    before = None
    for _ in range(10):
        page = await store.list_jobs(limit=3, before=before)
        seen += [j.id for j in page]
        if len(page) < 3:
            break
        before = (page[-1].created_at, page[-1].id)
    assert seen == expected


async def test_list_filters_by_statuses_and_type(store: JobStore) -> None:
    a_old, b, a_new = (
        make_job(type="a"),
        make_job(type="b", created_at=at(1)),
        make_job(type="a", created_at=at(2)),
    )
    await insert_all(store, a_old, b, a_new)
    [(running, _)] = await store.claim_pending("me", at(3), LEASE, 1)
    assert running.id == a_old.id
    assert [j.id for j in await store.list_jobs(job_type="a")] == [a_new.id, a_old.id]
    assert [j.id for j in await store.list_jobs(statuses=[JobStatus.PENDING])] == [a_new.id, b.id]
    both = await store.list_jobs(statuses=[JobStatus.PENDING, JobStatus.RUNNING], job_type="a")
    assert [j.id for j in both] == [a_new.id, a_old.id]
    assert [j.id for j in await store.list_jobs(statuses=[JobStatus.RUNNING], job_type="b")] == []
    assert await store.list_jobs(statuses=[JobStatus.COMPLETED]) == []
    assert len(await store.list_jobs(limit=2)) == 2


async def test_count_by_status_has_every_status(store: JobStore) -> None:
    empty = await store.count_by_status()
    assert empty == dict.fromkeys(JobStatus, 0)
    await insert_all(store, *(make_job(created_at=at(i)) for i in range(4)))
    [(job, _)] = await store.claim_pending("me", at(9), LEASE, 1)
    await store.finish(job, "me", JobStatus.FAILED, now=at(10), seq=3, progress=Progress())
    await store.claim_pending("me", at(11), LEASE, 1)
    counts = await store.count_by_status()
    assert counts == {**empty, JobStatus.PENDING: 2, JobStatus.RUNNING: 1, JobStatus.FAILED: 1}


async def test_counts_follow_every_way_a_job_changes_or_goes(store: JobStore) -> None:
    """Counts may be kept rather than counted (SQLite keeps them in the writing transaction): every write
    that adds, moves or removes a job must move them."""

    async def counts() -> dict[JobStatus, int]:
        return {status: n for status, n in (await store.count_by_status()).items() if n}

    jobs = [make_job(created_at=at(i)) for i in range(6)]
    await insert_all(store, *jobs)
    claimed = [job for job, _ in await store.claim_pending("me", at(10), LEASE, 4)]
    assert await counts() == {JobStatus.PENDING: 2, JobStatus.RUNNING: 4}
    await store.finish(claimed[0], "me", JobStatus.COMPLETED, now=at(11), seq=3, progress=Progress())
    await store.requeue(claimed[1], "me", now=at(11), seq=3, refund_attempt=True)
    await store.request_cancel(jobs[5].id, now=at(12), actor="test")  # pending: cancelled at once
    await store.request_cancel(claimed[2].id, now=at(12), actor="test")  # running: only marked
    assert await counts() == {
        JobStatus.PENDING: 2, JobStatus.RUNNING: 2, JobStatus.COMPLETED: 1, JobStatus.CANCELLED: 1,
    }  # fmt: skip
    await store.recover_orphans("other", now=at(13), only_expired=False)  # the marked one is cancelled
    assert await counts() == {JobStatus.PENDING: 3, JobStatus.COMPLETED: 1, JobStatus.CANCELLED: 2}
    await store.delete_job(claimed[0].id)
    assert await store.purge_terminal(at(20), batch=10) == 2
    assert await counts() == {JobStatus.PENDING: 3}


async def test_a_listing_by_several_statuses_pages_newest_first_without_repeats_or_gaps(
    store: JobStore,
) -> None:
    # Three jobs share each created_at; the even ones are claimed first, so the statuses interleave in time.
    jobs = [make_job(created_at=at(i // 3), updated_at=at(i // 3), priority=1 - i % 2) for i in range(12)]
    await insert_all(store, *jobs)
    await store.claim_pending("me", at(20), LEASE, 5)
    [(done, _)] = await store.claim_pending("me", at(21), LEASE, 1)
    await store.finish(done, "me", JobStatus.COMPLETED, now=at(22), seq=3, progress=Progress())
    wanted = [JobStatus.PENDING, JobStatus.RUNNING]
    everything = await store.list_jobs(limit=100)
    expected = [j.id for j in everything if j.status in wanted]
    assert len(expected) == 11
    seen: list[str] = []
    before = None
    for _ in range(10):
        page = await store.list_jobs(statuses=wanted, limit=3, before=before)
        seen += [j.id for j in page]
        if len(page) < 3:
            break
        before = (page[-1].created_at, page[-1].id)
    assert seen == expected


# -- claim ------------------------------------------------------------------------------------------------


async def test_claim_takes_the_highest_priority_then_the_oldest(store: JobStore) -> None:
    low_old = make_job(priority=0, created_at=at(0))
    high_new = make_job(priority=5, created_at=at(3))
    high_old = make_job(priority=5, created_at=at(1))
    mid = make_job(priority=2, created_at=at(2))
    await insert_all(store, low_old, high_new, high_old, mid)
    first = await store.claim_pending("me", at(5), LEASE, 3)
    assert [job.id for job, _ in first] == [high_old.id, high_new.id, mid.id]
    second = await store.claim_pending("me", at(6), LEASE, 3)
    assert [job.id for job, _ in second] == [low_old.id]
    assert await store.claim_pending("me", at(7), LEASE, 3) == []


async def test_a_types_filter_claims_only_those_types_in_queue_order(store: JobStore) -> None:
    other_urgent = make_job(type="other", priority=9, created_at=at(0))
    mine_old = make_job(type="mine", created_at=at(1))
    mine_high = make_job(type="mine", priority=2, created_at=at(2))
    theirs = make_job(type="theirs", created_at=at(3))
    await insert_all(store, other_urgent, mine_old, mine_high, theirs)
    claimed = await store.claim_pending("me", at(5), LEASE, 5, types=["mine", "theirs"])
    assert [job.id for job, _ in claimed] == [mine_high.id, mine_old.id, theirs.id]
    assert await store.claim_pending("me", at(6), LEASE, 5, types=("mine",)) == []
    assert await store.claim_pending("me", at(6), LEASE, 5, types=()) == []  # an empty filter: nothing
    assert (await store.get_job(other_urgent.id)).status is JobStatus.PENDING
    [(rest, _)] = await store.claim_pending("me", at(7), LEASE, 5)  # no filter: every type
    assert rest.id == other_urgent.id


async def test_a_new_priority_moves_a_pending_job_in_the_queue(store: JobStore) -> None:
    first, second = make_job(created_at=at(0)), make_job(created_at=at(1))
    await insert_all(store, first, second)
    raised = await store.set_priority(second.id, 3, now=at(2))
    assert (raised.priority, raised.updated_at, raised.status) == (3, at(2), JobStatus.PENDING)
    assert raised.seq > second.seq
    assert await store.get_job(second.id) == raised
    claimed = await store.claim_pending("me", at(3), LEASE, 2)
    assert [job.id for job, _ in claimed] == [second.id, first.id]


async def test_only_a_pending_job_can_be_reprioritised(store: JobStore) -> None:
    running = await claim_one(store, make_job(priority=1))
    with pytest.raises(InvalidTransition):
        await store.set_priority(running.id, 9, now=at(2))
    assert (await store.get_job(running.id)).priority == 1
    with pytest.raises(JobNotFound):
        await store.set_priority("nope", 9, now=at(2))


async def test_a_scheduled_job_waits_until_it_is_due(store: JobStore) -> None:
    """Due by the backend's clock (test_lease_clock.py): the caller's ``now`` on SQLite, the database's on
    PostgreSQL. A time decades ahead is not due on either, nor is a time already past ever late."""
    later = make_job(created_at=at(0), scheduled_at=FAR_AHEAD, priority=5)
    now = make_job(created_at=at(1))
    await insert_all(store, later, now)
    assert (await store.get_job(later.id)).scheduled_at == FAR_AHEAD
    assert [job.id for job, _ in await store.claim_pending("me", at(9), LEASE, 5)] == [now.id]
    assert (await store.get_job(later.id)).status is JobStatus.PENDING
    assert await store.claim_pending("me", at(10), LEASE, 5) == []


async def test_a_job_inserted_with_a_delay_is_returned_as_stored_and_waits(store: JobStore) -> None:
    job = make_job(created_at=at(0), scheduled_at=at(3_600))  # the caller's now + 3600 s
    stored = await store.insert_job(job, delay_s=3_600)
    assert stored == await store.get_job(job.id)
    assert stored.scheduled_at is not None and replace(stored, scheduled_at=None) == replace(
        job, scheduled_at=None
    )
    assert await store.claim_pending("me", at(1), LEASE, 5) == []  # an hour away on either clock
    plain = make_job(created_at=at(1))
    assert await store.insert_job(plain) == plain == await store.get_job(plain.id)  # no delay: as given


async def test_due_scheduled_jobs_queue_by_priority_then_age(store: JobStore) -> None:
    waited = make_job(created_at=at(0), scheduled_at=at(5))
    urgent = make_job(created_at=at(2), priority=1)
    plain = make_job(created_at=at(3))
    await insert_all(store, waited, urgent, plain)
    claimed = await store.claim_pending("me", at(6), LEASE, 3)
    assert [job.id for job, _ in claimed] == [urgent.id, waited.id, plain.id]


async def test_a_cancelled_scheduled_job_is_never_claimed(store: JobStore) -> None:
    job = make_job(scheduled_at=at(5))
    await store.insert_job(job)
    await store.request_cancel(job.id, now=at(1), actor="cancel")
    assert await store.claim_pending("me", at(9), LEASE, 5) == []


async def test_a_claimed_job_runs_under_the_claimers_lease(store: JobStore) -> None:
    job = make_job(seq=4)
    claimed = await claim_one(store, job, owner="me", now=at(2))
    assert claimed.status is JobStatus.RUNNING
    assert claimed.lease_owner == "me"
    assert claimed.lease_expires_at is not None  # its clock is the backend's (test_lease_clock.py)
    assert (claimed.attempts, claimed.started_at) == (1, at(2))
    assert claimed.seq > job.seq
    assert await store.get_job(job.id) == claimed


async def test_a_zero_limit_claims_nothing(store: JobStore) -> None:
    job = make_job()
    await store.insert_job(job)
    assert await store.claim_pending("me", at(1), LEASE, 0) == []
    assert (await store.get_job(job.id)).status is JobStatus.PENDING


async def test_two_stores_claiming_one_database_never_get_the_same_job(store_url: str) -> None:
    async with open_store(store_url) as a, open_store(store_url) as b:
        await asyncio.gather(*(a.insert_job(make_job(created_at=at(i))) for i in range(60)))
        claims = await asyncio.gather(
            *(s.claim_pending(name, at(100), LEASE, 3) for _ in range(15) for name, s in (("a", a), ("b", b)))
        )  # fmt: skip
    ids = [job.id for claim in claims for job, _ in claim]
    assert len(ids) == len(set(ids)) == 60


async def test_a_reclaimed_job_comes_with_the_steps_it_finished(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    steps = [make_step(job.id, 0), make_step(job.id, 1)]
    for step in steps:
        await store.save_step(step, "me")
    await store.requeue(job, "me", now=at(5), seq=job.seq + 1, refund_attempt=True)
    [(again, resumed_from)] = await store.claim_pending("next", at(6), LEASE, 1)
    assert again.id == job.id
    assert resumed_from == steps


# -- leases -----------------------------------------------------------------------------------------------


async def test_renewal_extends_only_the_owners_leases(store: JobStore) -> None:
    mine = await claim_one(store, make_job(created_at=at(0)), owner="me")
    theirs = await claim_one(store, make_job(created_at=at(1)), owner="them")
    assert await store.renew_leases("me", at(120), now=at(2)) == set()
    renewed = (await store.get_job(mine.id)).lease_expires_at
    assert renewed is not None and theirs.lease_expires_at is not None
    assert renewed > theirs.lease_expires_at  # 118 s from the renewal against 59 s from the claim
    assert (await store.get_job(theirs.id)).lease_expires_at == theirs.lease_expires_at


async def test_renewal_reports_the_owners_jobs_whose_cancel_was_requested(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    marked = await store.request_cancel(job.id, now=at(2), actor="cancel")
    assert marked.status is JobStatus.RUNNING and marked.cancel_requested
    assert await store.renew_leases("them", at(120), now=at(2)) == set()
    assert await store.renew_leases("me", at(120), now=at(2)) == {job.id}


async def test_only_the_lease_owner_can_finish_requeue_or_checkpoint(store: JobStore) -> None:
    job = await claim_one(store, make_job(), owner="owner")
    with pytest.raises(LeaseLost):
        await store.finish(job, "intruder", JobStatus.COMPLETED, now=at(2), seq=9, progress=Progress())
    with pytest.raises(LeaseLost):
        await store.requeue(job, "intruder", now=at(2), seq=9, refund_attempt=True)
    step = make_step(job.id, 0)
    with pytest.raises(LeaseLost):
        await store.save_step(step, "intruder")
    assert await store.get_job(job.id) == job
    await store.save_step(step, "owner")
    assert await store.get_steps(job.id) == [step]


async def test_a_late_writer_cannot_overwrite_a_terminal_state(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    done = await store.finish(job, "me", JobStatus.COMPLETED, now=at(2), seq=5, progress=Progress())
    assert done.status is JobStatus.COMPLETED
    with pytest.raises(LeaseLost):
        await store.finish(job, "me", JobStatus.FAILED, now=at(3), seq=6, progress=Progress())
    with pytest.raises(LeaseLost):
        await store.requeue(job, "me", now=at(3), seq=7, refund_attempt=True)
    with pytest.raises(LeaseLost):
        await store.save_step(make_step(job.id, 0), "me")
    await store.save_progress([(job.id, "me", Progress(percentage=3.0), 8)], now=at(3))
    assert await store.recover_orphans("other", now=at(999), only_expired=False) == []
    with pytest.raises(InvalidTransition):
        await store.request_cancel(job.id, now=at(3), actor="cancel")
    final = await store.get_job(job.id)
    assert final.status is JobStatus.COMPLETED and final.progress.percentage == 0.0
    assert (final.seq, final.completed_at) == (5, at(2))


async def test_finish_stores_the_outcome_and_frees_the_lease(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    progress = Progress(current_step="done", total_steps=2, completed_steps=2, percentage=100.0, seq=7)
    result = {"answer": ["naïve", 1, None]}
    done = await store.finish(
        job, "me", JobStatus.COMPLETED, now=at(4), seq=7, progress=progress, result_data=result
    )
    stored = await store.get_job(job.id)
    assert stored == done
    assert (stored.result_data, stored.progress, stored.error_message) == (result, progress, None)
    assert (stored.completed_at, stored.updated_at, stored.seq) == (at(4), at(4), 7)
    assert (stored.lease_owner, stored.lease_expires_at) == (None, None)


async def test_finish_records_a_failure_with_its_message(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    await store.finish(
        job, "me", JobStatus.FAILED, now=at(4), seq=3, progress=Progress(), error_message="boom"
    )
    stored = await store.get_job(job.id)
    assert (stored.status, stored.error_message, stored.result_data) == (JobStatus.FAILED, "boom", None)


async def test_finish_with_a_result_that_is_not_json_writes_nothing(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    with pytest.raises(InvalidInput, match="result_data"):
        await store.finish(
            job, "me", JobStatus.COMPLETED, now=at(4), seq=3, progress=Progress(), result_data={1j}
        )
    assert await store.get_job(job.id) == job


async def test_finish_never_lowers_the_stored_seq(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    await store.save_progress([(job.id, "me", Progress(seq=40), 40)], now=at(2))
    await store.finish(job, "me", JobStatus.COMPLETED, now=at(3), seq=job.seq + 1, progress=Progress())
    assert (await store.get_job(job.id)).seq == 40


async def test_requeue_keeps_the_steps_frees_the_lease_and_refunds_the_attempt(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    await store.save_step(make_step(job.id, 0), "me")
    back = await store.requeue(job, "me", now=at(3), seq=job.seq + 1, refund_attempt=True)
    assert await store.get_job(job.id) == back
    assert (back.status, back.attempts, back.lease_owner, back.lease_expires_at) == (
        JobStatus.PENDING, 0, None, None,
    )  # fmt: skip
    assert [s.name for s in await store.get_steps(job.id)] == ["step0"]


async def test_requeue_without_a_refund_counts_the_attempt(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    back = await store.requeue(job, "me", now=at(3), seq=job.seq + 1, refund_attempt=False)
    assert await store.get_job(job.id) == back
    assert (back.status, back.attempts) == (JobStatus.PENDING, 1)


# -- progress ---------------------------------------------------------------------------------------------


async def test_progress_is_saved_for_running_jobs_of_their_owner_only(store: JobStore) -> None:
    mine = await claim_one(store, make_job(created_at=at(0)), owner="me")
    theirs = await claim_one(store, make_job(created_at=at(1)), owner="them")
    pending = make_job(created_at=at(2))
    await store.insert_job(pending)
    half = Progress(current_step="s", total_steps=2, completed_steps=1, percentage=50.0, seq=10)
    await store.save_progress(
        [(mine.id, "me", half, 10), (theirs.id, "me", half, 10), (pending.id, "me", half, 10)], now=at(3)
    )
    stored = await store.get_job(mine.id)
    assert (stored.progress, stored.seq, stored.updated_at) == (half, 10, at(3))
    assert await store.get_job(theirs.id) == theirs
    assert await store.get_job(pending.id) == pending


async def test_saved_progress_never_moves_seq_back(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    await store.save_progress([(job.id, "me", Progress(percentage=60.0, seq=20), 20)], now=at(2))
    await store.save_progress([(job.id, "me", Progress(percentage=70.0, seq=15), 15)], now=at(3))
    assert (await store.get_job(job.id)).seq == 20
    await store.save_progress([], now=at(4))  # nothing to save is fine


# -- steps ------------------------------------------------------------------------------------------------


async def test_steps_come_back_in_order_and_the_first_save_of_a_name_stands(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    steps = [make_step(job.id, i) for i in (2, 0, 1)]
    for step in steps:
        await store.save_step(step, "me")
    await store.save_step(make_step(job.id, 0, output="a second try"), "me")
    expected = sorted(steps, key=lambda s: s.index)
    assert await store.get_steps(job.id) == expected
    assert await store.get_job_with_steps(job.id) == (job, expected)


async def test_step_durations_are_the_medians_per_name_over_the_newest_jobs_of_a_type(
    store: JobStore,
) -> None:
    """What the manager estimates time left from: earlier steps of the same job type and model."""

    async def job_with_steps(job_type: str, created: float, seconds: dict[str, float], model: str) -> None:
        job = await claim_one(store, make_job(type=job_type, created_at=at(created)))
        for index, (name, duration_s) in enumerate(seconds.items()):
            step = make_step(job.id, index, name=name, output={"text": "t", "llm": {"model": model}})
            await store.save_step(replace(step, duration_ms=round(duration_s * 1000)), "me")
        await store.finish(job, "me", JobStatus.COMPLETED, now=at(created + 1), seq=9, progress=Progress())

    await job_with_steps("projection", 0, {"map": 90.0, "reflect": 90.0}, "m1")  # oldest: beyond last_jobs
    for created, map_s in ((1, 2.0), (2, 4.0), (3, 9.0)):
        await job_with_steps("projection", created, {"map": map_s, "reflect": 1.5}, "m1")
    await job_with_steps("projection", 4, {"map": 50.0}, "m2")  # another model
    await job_with_steps("translation", 5, {"map": 70.0}, "m1")  # another type
    await claim_one(store, make_job(type="projection", created_at=at(6)))  # running, no step yet

    assert await store.median_step_seconds("projection", model="m1", last_jobs=5) == {
        "map": 4.0,
        "reflect": 1.5,
    }
    assert await store.median_step_seconds("projection", model="m2", last_jobs=5) == {"map": 50.0}
    assert await store.median_step_seconds("projection", last_jobs=3) == {"map": 29.5, "reflect": 1.5}
    assert await store.median_step_seconds("nope", model="m1") == {}
    with pytest.raises(InvalidInput, match="last_jobs"):
        await store.median_step_seconds("projection", last_jobs=0)


# -- recovery ---------------------------------------------------------------------------------------------


async def test_recovery_of_expired_leases_takes_back_only_expired_jobs_of_others(store: JobStore) -> None:
    expired = await claim_one(store, make_job(created_at=at(0)), owner="dead")
    await store.renew_leases("dead", EXPIRED, now=at(1))
    alive = await claim_one(store, make_job(created_at=at(1)), owner="alive")
    own = await claim_one(store, make_job(created_at=at(2)), owner="me", lease=EXPIRED)
    await store.renew_leases("me", EXPIRED, now=at(1))  # expired, but its own: never taken back
    await store.save_step(make_step(expired.id, 0), "dead")

    [recovered] = await store.recover_orphans("me", now=at(20), only_expired=True)
    assert (recovered.job.id, recovered.action) == (expired.id, JobStatus.PENDING)
    resumed = await store.get_job(expired.id)
    assert resumed == recovered.job
    assert (resumed.status, resumed.lease_owner, resumed.completed_at) == (JobStatus.PENDING, None, None)
    assert resumed.seq > expired.seq + 10_000  # past any number an event lost in the crash could have used
    assert [s.name for s in await store.get_steps(expired.id)] == ["step0"]
    assert (await store.get_job(alive.id)).lease_owner == "alive"
    assert (await store.get_job(own.id)).lease_owner == "me"


async def test_recovery_of_all_takes_back_every_running_job_but_the_callers(store: JobStore) -> None:
    other = await claim_one(store, make_job(created_at=at(0)), owner="other")
    own = await claim_one(store, make_job(created_at=at(1)), owner="me")
    recovered = await store.recover_orphans("me", now=at(2), only_expired=False)
    assert [(r.job.id, r.action) for r in recovered] == [(other.id, JobStatus.PENDING)]
    assert (await store.get_job(own.id)).status is JobStatus.RUNNING
    assert await store.recover_orphans("me", now=at(3), only_expired=False) == []


async def test_recovery_fails_a_job_whose_attempts_are_used_up(store: JobStore) -> None:
    job = await claim_one(store, make_job(max_attempts=1), owner="dead", lease=EXPIRED)
    [recovered] = await store.recover_orphans("me", now=at(120), only_expired=True)
    assert recovered.action is JobStatus.FAILED
    stored = await store.get_job(job.id)
    assert (stored.status, stored.completed_at) == (JobStatus.FAILED, at(120))
    assert stored.error_message is not None and "attempt" in stored.error_message


async def test_recovery_cancels_a_job_whose_cancel_was_requested(store: JobStore) -> None:
    job = await claim_one(store, make_job(), owner="dead", lease=EXPIRED)
    await store.request_cancel(job.id, now=at(2), actor="cancel")
    [recovered] = await store.recover_orphans("me", now=at(120), only_expired=True)
    assert recovered.action is JobStatus.CANCELLED
    assert (await store.get_job(job.id)).status is JobStatus.CANCELLED


async def test_recovery_does_not_count_an_attempt_that_finished_a_step(store: JobStore) -> None:
    job = await claim_one(store, make_job(max_attempts=1), owner="dead", lease=EXPIRED)
    await store.save_step(replace(make_step(job.id, 0), attempt=job.attempts), "dead")
    [recovered] = await store.recover_orphans("me", now=at(120), only_expired=True)
    assert recovered.action is JobStatus.PENDING
    assert recovered.job.attempts == 1  # kept: the next claim is attempt 2, which steps can tell apart
    [transition] = [t for t in await store.get_transitions(job.id) if t["to_status"] == "pending"][-1:]
    assert "does not count against max_attempts" in transition["reason"]


async def test_recovery_counts_attempts_in_a_row_that_finished_no_step(store: JobStore) -> None:
    job = await claim_one(store, make_job(max_attempts=2), owner="dead", lease=EXPIRED)
    await store.save_step(replace(make_step(job.id, 0), attempt=1), "dead")
    await store.recover_orphans("me", now=at(120), only_expired=True)  # attempt 1 made progress
    for attempt, action in ((2, JobStatus.PENDING), (3, JobStatus.FAILED)):
        [(claimed, steps)] = await store.claim_pending("dead", at(121), EXPIRED, 1)
        assert (claimed.attempts, [s.name for s in steps]) == (attempt, ["step0"])
        [recovered] = await store.recover_orphans("me", now=at(200), only_expired=True)
        assert recovered.action is action, attempt
        if action is JobStatus.PENDING:
            continue
        assert recovered.job.error_message is not None
        assert "all 2 attempt(s) are used: 2 in a row finished no step" in recovered.job.error_message


async def test_record_retry_counts_an_attempt_and_keeps_the_job_running(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    retried = await store.record_retry(job, "me", now=at(5), seq=job.seq + 3, reason="attempt 1 of 3 failed")
    assert await store.get_job(job.id) == retried
    assert (retried.status, retried.attempts, retried.lease_owner, retried.seq) == (
        JobStatus.RUNNING, 2, "me", job.seq + 3,
    )  # fmt: skip
    last = (await store.get_transitions(job.id))[-1]
    assert (last["from_status"], last["to_status"], last["actor"], last["reason"], last["at"]) == (
        "running", "running", "me", "attempt 1 of 3 failed", at(5),
    )  # fmt: skip


async def test_record_retry_needs_the_lease(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    with pytest.raises(LeaseLost):
        await store.record_retry(job, "someone else", now=at(5), seq=job.seq + 1, reason="r")
    await store.finish(job, "me", JobStatus.FAILED, now=at(6), seq=job.seq + 2, progress=Progress())
    with pytest.raises(LeaseLost):
        await store.record_retry(job, "me", now=at(7), seq=job.seq + 3, reason="r")
    assert (await store.get_job(job.id)).attempts == 1


# -- cancel -----------------------------------------------------------------------------------------------


async def test_a_pending_job_is_cancelled_at_once_and_never_claimed(store: JobStore) -> None:
    job = make_job()
    await store.insert_job(job)
    cancelled = await store.request_cancel(job.id, now=at(2), actor="cancel")
    assert (cancelled.status, cancelled.completed_at) == (JobStatus.CANCELLED, at(2))
    assert cancelled.seq > job.seq
    assert await store.get_job(job.id) == cancelled
    assert await store.claim_pending("me", at(3), LEASE, 5) == []


async def test_a_running_job_is_only_marked_for_its_runner(store: JobStore) -> None:
    job = await claim_one(store, make_job())
    marked = await store.request_cancel(job.id, now=at(2), actor="cancel")
    assert (marked.status, marked.cancel_requested, marked.lease_owner) == (JobStatus.RUNNING, True, "me")
    assert await store.get_job(job.id) == marked
    await store.finish(marked, "me", JobStatus.CANCELLED, now=at(3), seq=marked.seq + 1, progress=Progress())
    assert (await store.get_job(job.id)).status is JobStatus.CANCELLED


# -- delete and purge -------------------------------------------------------------------------------------


async def test_only_a_finished_job_can_be_deleted_and_its_steps_go_with_it(store: JobStore) -> None:
    pending = make_job(created_at=at(5))
    running = await claim_one(store, make_job(created_at=at(0)))
    await store.insert_job(pending)
    for job in (pending, running):
        with pytest.raises(InvalidTransition):
            await store.delete_job(job.id)
        assert (await store.get_job(job.id)).status is job.status
    await store.save_step(make_step(running.id, 0), "me")
    await store.finish(running, "me", JobStatus.COMPLETED, now=at(6), seq=9, progress=Progress())
    await store.delete_job(running.id)
    with pytest.raises(JobNotFound):
        await store.get_job(running.id)
    assert await store.get_steps(running.id) == []
    assert await store.get_transitions(running.id) == []


async def test_purge_deletes_old_finished_jobs_in_batches_and_nothing_else(store: JobStore) -> None:
    finished: list[JobRecord] = []
    for i in range(5):  # finished at 10..14; the last one after the cutoff
        job = await claim_one(store, make_job(created_at=at(1 + i)), now=at(1 + i))
        finished.append(
            await store.finish(job, "me", JobStatus.COMPLETED, now=at(10 + i), seq=9, progress=Progress())
        )
    old_running = await claim_one(store, make_job(created_at=at(2)), now=at(2))
    old_pending = make_job(created_at=at(0))
    await store.insert_job(old_pending)
    cutoff = at(14)
    assert await store.purge_terminal(cutoff, batch=3) == 3
    assert await store.purge_terminal(cutoff, batch=3) == 1
    assert await store.purge_terminal(cutoff, batch=3) == 0
    left = {j.id for j in await store.list_jobs(limit=100)}
    assert left == {old_pending.id, old_running.id, finished[-1].id}


# -- the audit trail --------------------------------------------------------------------------------------


async def test_every_status_change_is_in_the_audit_trail_oldest_first(store: JobStore) -> None:
    job = await claim_one(store, make_job(), owner="me", now=at(1))
    await store.requeue(job, "me", now=at(2), seq=job.seq + 1, refund_attempt=True)
    [(again, _)] = await store.claim_pending("you", at(3), LEASE, 1)
    await store.finish(
        again,
        "you",
        JobStatus.FAILED,
        now=at(4),
        seq=again.seq + 1,
        progress=Progress(),
        error_message="boom",
    )
    trail = await store.get_transitions(job.id)
    assert moves(trail) == [
        (None, "pending"), ("pending", "running"), ("running", "pending"), ("pending", "running"),
        ("running", "failed"),
    ]  # fmt: skip
    assert [t["at"] for t in trail] == [at(), at(1), at(2), at(3), at(4)]
    assert [t["actor"] for t in trail] == ["submit", "me", "me", "you", "you"]
    assert trail[-1]["reason"] == "boom"


async def test_cancel_and_recovery_are_in_the_audit_trail(store: JobStore) -> None:
    pending = make_job(created_at=at(9))
    orphan = await claim_one(store, make_job(), owner="dead", lease=EXPIRED)
    await store.insert_job(pending)
    await store.request_cancel(pending.id, now=at(10), actor="cancel")
    await store.recover_orphans("me", now=at(120), only_expired=True)
    cancelled = await store.get_transitions(pending.id)
    assert moves(cancelled)[-1] == ("pending", "cancelled")
    assert cancelled[-1]["actor"] == "cancel"
    recovered = await store.get_transitions(orphan.id)
    assert moves(recovered)[-1] == ("running", "pending")
    assert (recovered[-1]["actor"], recovered[-1]["at"]) == ("me", at(120))


# -- dependency chains ------------------------------------------------------------------------------------


def waiting_job(*parents: JobRecord, **overrides: object) -> JobRecord:
    """A new job that waits for ``parents`` (as the manager submits one: ``waiting_on`` counted)."""
    return make_job(depends_on=tuple(p.id for p in parents), waiting_on=len(parents), **overrides)


async def test_a_dependent_is_claimed_only_once_every_parent_has_completed(store: JobStore) -> None:
    first, second = make_job(title="first", created_at=at(0)), make_job(title="second", created_at=at(1))
    child = waiting_job(first, second, created_at=at(2), priority=9)  # its priority cannot jump the wait
    await insert_all(store, first, second, child)
    claimed = await store.claim_pending("me", at(3), LEASE, 5)
    assert [job.id for job, _ in claimed] == [first.id, second.id]
    assert [p.dependents for p in (await store.get_job(first.id), await store.get_job(second.id))] == [1, 1]
    done = await store.finish(claimed[0][0], "me", JobStatus.COMPLETED, now=at(4), seq=5, progress=Progress())
    assert done.dependents == 1
    halfway = await store.get_job(child.id)
    assert (halfway.status, halfway.waiting_on) == (JobStatus.PENDING, 1)
    assert halfway.progress.current_step == "waiting for second"
    assert await store.claim_pending("me", at(5), LEASE, 5) == []
    await store.finish(claimed[1][0], "me", JobStatus.COMPLETED, now=at(6), seq=5, progress=Progress())
    released = await store.get_job(child.id)
    assert (released.waiting_on, released.progress.current_step, released.updated_at) == (
        None,
        "queued",
        at(6),
    )
    assert released.seq > halfway.seq  # watchers and other processes see the release
    [(running, _)] = await store.claim_pending("me", at(7), LEASE, 5)
    assert running.id == child.id


async def test_a_dependent_of_completed_parents_queues_at_once(store: JobStore) -> None:
    parent = await claim_one(store, make_job())
    await store.finish(parent, "me", JobStatus.COMPLETED, now=at(2), seq=5, progress=Progress())
    child = waiting_job(parent, created_at=at(3))  # the manager read it running: the store counts again
    await store.insert_job(child)
    assert (await store.get_job(child.id)).waiting_on is None
    [(claimed, _)] = await store.claim_pending("me", at(4), LEASE, 5)
    assert claimed.id == child.id


async def test_an_unknown_failed_or_cancelled_parent_is_refused_and_nothing_is_written(
    store: JobStore,
) -> None:
    failed = await claim_one(store, make_job())
    await store.finish(failed, "me", JobStatus.FAILED, now=at(2), seq=5, progress=Progress())
    cancelled = make_job()
    await store.insert_job(cancelled)
    await store.request_cancel(cancelled.id, now=at(2), actor="cancel")
    alive = make_job()
    await store.insert_job(alive)
    for bad in ("no-such-job", failed.id, cancelled.id):
        child = make_job(depends_on=(alive.id, bad), waiting_on=2)
        with pytest.raises(InvalidInput) as refused:
            await store.insert_job(child)
        assert list(refused.value.fields) == ["depends_on"] and bad in refused.value.fields["depends_on"]
        with pytest.raises(JobNotFound):
            await store.get_job(child.id)
    assert (await store.get_job(alive.id)).dependents == 0
    assert await store.dependents_of(alive.id) == []


async def test_a_failed_parent_cancels_its_dependents_and_theirs_naming_the_parent(store: JobStore) -> None:
    parent = make_job(title="the parent")
    child = waiting_job(parent, title="the child", created_at=at(1))
    grandchild = waiting_job(child, created_at=at(2))
    bystander = make_job(created_at=at(3))
    await insert_all(store, parent, child, grandchild, bystander)
    [(running, _)] = await store.claim_pending("me", at(4), LEASE, 1)
    await store.finish(
        running, "me", JobStatus.FAILED, now=at(5), seq=5, progress=Progress(), error_message="x"
    )
    ended = await store.get_job(child.id)
    assert (ended.status, ended.completed_at) == (JobStatus.CANCELLED, at(5))
    assert parent.id in (ended.error_message or "") and "the parent" in (ended.error_message or "")
    assert "failed" in (ended.error_message or "")
    trail = await store.get_transitions(child.id)
    assert moves(trail)[-1] == ("pending", "cancelled")
    assert (trail[-1]["actor"], trail[-1]["reason"]) == ("depends_on", ended.error_message)
    second = await store.get_job(grandchild.id)
    assert second.status is JobStatus.CANCELLED and child.id in (second.error_message or "")
    assert (await store.get_job(bystander.id)).status is JobStatus.PENDING
    assert (await store.count_by_status())[JobStatus.CANCELLED] == 2


async def test_cancelling_a_pending_parent_cancels_its_dependents(store: JobStore) -> None:
    parent = make_job()
    child = waiting_job(parent, created_at=at(1))
    await insert_all(store, parent, child)
    await store.request_cancel(parent.id, now=at(2), actor="cancel")
    ended = await store.get_job(child.id)
    assert ended.status is JobStatus.CANCELLED and "was cancelled" in (ended.error_message or "")
    assert await store.claim_pending("me", at(3), LEASE, 5) == []


async def test_a_parent_failed_by_recovery_cancels_its_dependents(store: JobStore) -> None:
    parent = await claim_one(store, make_job(max_attempts=1), owner="dead", lease=EXPIRED)
    child = waiting_job(parent, created_at=at(1))
    await store.insert_job(child)
    [recovered] = await store.recover_orphans("me", now=at(120), only_expired=True)
    assert recovered.action is JobStatus.FAILED
    assert (await store.get_job(child.id)).status is JobStatus.CANCELLED


async def test_dependents_of_lists_the_jobs_waiting_for_a_job_oldest_first(store: JobStore) -> None:
    parent = make_job()
    later, earlier = waiting_job(parent, created_at=at(5)), waiting_job(parent, created_at=at(1))
    await insert_all(store, parent, later, earlier)
    assert [job.id for job in await store.dependents_of(parent.id)] == [earlier.id, later.id]
    assert (await store.get_job(parent.id)).dependents == 2
    assert (await store.get_job(later.id)).depends_on == (parent.id,)
    assert await store.dependents_of("no-such-job") == []


async def test_a_released_dependent_with_a_start_time_still_waits_for_it(store: JobStore) -> None:
    parent = make_job()
    child = waiting_job(parent, created_at=at(1), scheduled_at=FAR_AHEAD)
    await insert_all(store, parent, child)
    [(running, _)] = await store.claim_pending("me", at(2), LEASE, 5)
    await store.finish(running, "me", JobStatus.COMPLETED, now=at(3), seq=5, progress=Progress())
    assert (await store.get_job(child.id)).waiting_on is None
    assert await store.claim_pending("me", at(50), LEASE, 5) == []  # released, but not due
    assert (await store.get_job(child.id)).status is JobStatus.PENDING


async def test_a_running_dependents_completed_input_is_stored_under_its_lease(store: JobStore) -> None:
    job = await claim_one(store, make_job(input_data={"language": "french"}))
    completed = {"language": "french", "text": "from the parent"}
    stored = await store.complete_input(job, "me", completed)
    assert stored.input_data == completed and (await store.get_job(job.id)).input_data == completed
    assert (await store.get_job(job.id)).seq == job.seq  # not a state change
    with pytest.raises(LeaseLost):
        await store.complete_input(job, "intruder", {"text": "no"})
    assert (await store.get_job(job.id)).input_data == completed


# -- the dispatch lock ------------------------------------------------------------------------------------


async def test_one_dispatch_lock_per_database_at_a_time(store_url: str) -> None:
    async with open_store(store_url) as a, open_store(store_url) as b:
        first, second, same_store = a.dispatch_lock(), b.dispatch_lock(), a.dispatch_lock()
        assert not first.held
        assert await first.try_acquire()
        assert first.held and await first.try_acquire()  # taking it again is a no-op
        assert not await second.try_acquire()
        assert not await same_store.try_acquire()
        assert not second.held
        await first.release()
        assert not first.held
        assert await second.try_acquire()
        await second.release()
        await second.release()  # releasing a free lock does nothing


# -- changes, as another process sees them --------------------------------------------------------------


async def test_changes_start_at_the_present_and_then_bring_each_moved_job_once(store_url: str) -> None:
    async with open_store(store_url) as writer, open_store(store_url) as watcher:
        before = make_job(created_at=at(0), updated_at=at(0))
        await writer.insert_job(before)
        start = await watcher.changed_since(None)
        assert start.jobs == []  # what was there before is not news
        assert (await watcher.changed_since(start.cursor)).jobs == []

        new = make_job(created_at=at(1), updated_at=at(1))
        await writer.insert_job(new)
        inserted = await watcher.changed_since(start.cursor)
        assert inserted.jobs == [new]
        quiet = await watcher.changed_since(inserted.cursor)
        assert quiet.jobs == []  # nothing moved since

        [(running, _)] = await writer.claim_pending("w", at(2), LEASE, 1)
        assert running.id == before.id  # the oldest
        progress = Progress(current_step="half", completed_steps=1, total_steps=2, timestamp=at(3), seq=7)
        await writer.save_progress([(running.id, "w", progress, 7)], now=at(3))
        moved = await watcher.changed_since(quiet.cursor)
        assert [(j.id, j.status, j.seq, j.progress) for j in moved.jobs] == [
            (running.id, JobStatus.RUNNING, 7, progress)
        ]  # claimed then saved: one job, as it is now

        await writer.request_cancel(running.id, now=at(4), actor="cancel")  # no seq of its own
        asked = await watcher.changed_since(moved.cursor)
        assert [(j.id, j.cancel_requested) for j in asked.jobs] == [(running.id, True)]
        assert (await watcher.changed_since(asked.cursor)).jobs == []


async def test_changes_come_oldest_first(store_url: str) -> None:
    async with open_store(store_url) as writer, open_store(store_url) as watcher:
        start = await watcher.changed_since(None)
        jobs = [make_job(created_at=at(10 - i), updated_at=at(10 - i)) for i in range(3)]
        await insert_all(writer, *jobs)
        changes = await watcher.changed_since(start.cursor)
        assert [j.id for j in changes.jobs] == [j.id for j in reversed(jobs)]


async def test_a_change_committed_behind_the_newest_timestamp_is_still_seen(store_url: str) -> None:
    """A writer reads its clock before its transaction waits for the lock: commits can land out of order."""
    async with open_store(store_url) as writer, open_store(store_url) as watcher:
        start = await watcher.changed_since(None)
        await writer.insert_job(make_job(created_at=at(10), updated_at=at(10)))
        seen = await watcher.changed_since(start.cursor)
        late = make_job(created_at=at(9), updated_at=at(9))
        await writer.insert_job(late)
        assert [j.id for j in (await watcher.changed_since(seen.cursor)).jobs] == [late.id]


async def test_a_finished_job_is_a_change_and_a_deleted_one_is_not(store_url: str) -> None:
    async with open_store(store_url) as writer, open_store(store_url) as watcher:
        job = await claim_one(writer, make_job(), owner="w")
        start = await watcher.changed_since(None)
        done = await writer.finish(job, "w", JobStatus.COMPLETED, now=at(5), seq=9, progress=Progress(seq=8))
        finished = await watcher.changed_since(start.cursor)
        assert finished.jobs == [done]
        await writer.delete_job(job.id)
        assert (await watcher.changed_since(finished.cursor)).jobs == []


async def test_a_cursor_from_elsewhere_is_refused(store: JobStore) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        await store.changed_since("not a cursor")


# -- the heartbeat rows of dispatching processes -----------------------------------------------------------


def make_worker(owner: str, **overrides: object) -> WorkerRecord:
    values: dict[str, object] = {
        "owner": owner, "kind": "worker", "host": "host-1", "pid": 4242, "version": "1.2.3",
        "concurrency": 8, "types": ("projection", "translation"), "started_at": at(0), "last_seen": at(0),
    }  # fmt: skip
    values.update(overrides)
    return WorkerRecord(**values)  # type: ignore[arg-type]  # the fields, typed by WorkerRecord itself


async def test_worker_rows_read_back_oldest_first_and_a_save_replaces_the_owners_row(store: JobStore) -> None:
    assert await store.list_workers() == []
    late, early = make_worker("b", started_at=at(5), last_seen=at(5)), make_worker("a", types=None)
    await store.save_worker(late)
    await store.save_worker(early)
    assert await store.list_workers() == [early, late]
    restarted = make_worker(
        "b", pid=7, concurrency=2, types=("translation",), started_at=at(9), last_seen=at(9)
    )
    await store.save_worker(restarted)
    assert await store.list_workers() == [early, restarted]


async def test_a_touch_moves_only_last_seen_and_says_whether_the_row_exists(store: JobStore) -> None:
    worker = make_worker("w")
    await store.save_worker(worker)
    assert await store.touch_worker("w", at(30)) is True
    assert await store.list_workers() == [replace(worker, last_seen=at(30))]
    assert await store.touch_worker("nobody", at(30)) is False
    assert await store.list_workers() == [replace(worker, last_seen=at(30))]


async def test_a_worker_row_is_deleted_or_forgotten_once_stale(store: JobStore) -> None:
    await store.save_worker(make_worker("gone"))
    await store.save_worker(make_worker("old", last_seen=at(10)))
    await store.save_worker(make_worker("fresh", last_seen=at(100)))
    await store.delete_worker("gone")
    await store.delete_worker("gone")  # nothing left: no error
    assert await store.forget_workers(at(50)) == 1
    [fresh] = await store.list_workers()
    assert fresh.owner == "fresh"
    assert fresh.is_stale(at(101)) and not fresh.is_stale(at(100))


# -- recurring schedules ------------------------------------------------------------------------------------


def make_schedule(
    *, interval_s: float = 10.0, catch_up: str = "skip", cron: str | None = None, timezone: str = "UTC"
) -> ScheduleRecord:
    """A schedule created at ``EPOCH``: every ``interval_s`` from then (or ``cron`` in ``timezone``)."""
    recurrence = Recurrence.checked(
        cron=cron, interval_s=None if cron else interval_s, timezone_name=timezone, anchor=EPOCH
    )
    first = recurrence.next_after(EPOCH)
    assert first is not None
    return ScheduleRecord(
        id=new_schedule_id(), job_type="noop", input_data={"n": 1}, title="every so often",
        recurrence=recurrence, catch_up=CatchUp(catch_up), created_at=at(), updated_at=at(),
        next_fire_at=to_iso(first), priority=2, max_attempts=4,
    )  # fmt: skip


def moment(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


async def test_a_schedule_reads_back_exactly_and_lists_oldest_first(store: JobStore) -> None:
    first, second = make_schedule(), make_schedule(cron="30 9 * * 1-5", timezone="Europe/Paris")
    second = replace(second, created_at=at(1), updated_at=at(1))
    await store.insert_schedule(second)
    await store.insert_schedule(first)
    assert await store.get_schedule(first.id) == first
    assert await store.get_schedule(second.id) == second
    assert [s.id for s in await store.list_schedules()] == [first.id, second.id]
    with pytest.raises(ScheduleNotFound):
        await store.get_schedule("sch_nope")


async def test_a_schedule_records_its_maker_whose_the_jobs_it_fires_are(store: JobStore) -> None:
    alices = replace(make_schedule(), username="alice")
    bobs = replace(make_schedule(), username="bob", created_at=at(1))
    unknown = replace(make_schedule(), created_at=at(2))
    for schedule in (alices, bobs, unknown):
        await store.insert_schedule(schedule)
    assert await store.get_schedule(alices.id) == alices
    assert [s.id for s in await store.list_schedules(username="alice")] == [alices.id]
    assert [s.id for s in await store.list_schedules(username="carol")] == []
    assert [s.id for s in await store.list_schedules()] == [alices.id, bobs.id, unknown.id]
    fired = {f.schedule_id: f.job for f in await store.fire_due_schedules(moment(10.2))}
    assert {fired[s.id].username for s in (alices, bobs, unknown) if fired[s.id]} == {"alice", "bob", None}
    job = fired[alices.id]
    assert job is not None and (await store.get_job(job.id)).username == "alice"


async def test_a_due_slot_fires_once_with_its_job_and_the_next_fire_time_moves_on(store: JobStore) -> None:
    schedule = make_schedule()
    await store.insert_schedule(schedule)
    assert await store.fire_due_schedules(moment(9.9)) == []  # not due yet
    [fired] = await store.fire_due_schedules(moment(10.2))
    assert (fired.schedule_id, fired.slot, fired.missed) == (schedule.id, at(10), False)
    assert fired.job is not None and await store.get_job(fired.job.id) == fired.job
    job = fired.job
    assert (job.type, job.input_data, job.priority, job.max_attempts) == ("noop", {"n": 1}, 2, 4)
    assert (job.status, job.created_at) == (JobStatus.PENDING, at(10.2))
    assert job.description == f"schedule {schedule.id}, slot {at(10)}"
    assert (await store.get_transitions(job.id))[0]["actor"] == f"schedule {schedule.id}"
    after = await store.get_schedule(schedule.id)
    assert (after.next_fire_at, after.last_slot, after.last_job_id, after.fire_count) == (
        at(20), at(10), job.id, 1,
    )  # fmt: skip
    assert await store.fire_due_schedules(moment(10.2)) == []  # the same moment again: nothing is due
    assert await store.list_schedule_fires(schedule.id) == [
        ScheduleFire(schedule.id, at(10), job.id, at(10.2))
    ]


async def test_two_stores_firing_at_once_create_one_job_per_slot(store_url: str) -> None:
    schedule = make_schedule()
    async with open_store(store_url) as one, open_store(store_url) as other:
        await one.insert_schedule(schedule)
        results = await asyncio.gather(
            *(store.fire_due_schedules(moment(10.1)) for store in (one, other, one, other))
        )
        jobs = [fired.job for result in results for fired in result if fired.job is not None]
        assert len(jobs) == 1
        assert [f.slot for f in await one.list_schedule_fires(schedule.id)] == [at(10)]
        assert (await one.count_by_status())[JobStatus.PENDING] == 1


@pytest.mark.parametrize(("catch_up", "slot"), [("skip", None), ("once", at(60))])
async def test_after_downtime_skip_fires_nothing_and_once_fires_the_latest_slot(
    store: JobStore, catch_up: str, slot: str | None
) -> None:
    schedule = make_schedule(catch_up=catch_up)
    await store.insert_schedule(schedule)
    [fired] = await store.fire_due_schedules(moment(66))  # slots 10..60 passed without a dispatcher
    assert (fired.slot, fired.missed) == (slot, True)
    after = await store.get_schedule(schedule.id)
    assert after.next_fire_at == at(70) and after.fire_count == (0 if slot is None else 1)
    assert [f.slot for f in await store.list_schedule_fires(schedule.id)] == ([] if slot is None else [slot])
    [on_time] = await store.fire_due_schedules(moment(70.3))  # then on time again
    assert (on_time.slot, on_time.missed) == (at(70), False)


async def test_a_paused_schedule_fires_nothing_and_resumes_from_now(store: JobStore) -> None:
    schedule = make_schedule()
    await store.insert_schedule(schedule)
    paused = await store.set_schedule_paused(schedule.id, True, now=moment(5))
    assert paused.paused and await store.next_schedule_fire_at() is None
    assert await store.fire_due_schedules(moment(45)) == []
    assert (await store.set_schedule_paused(schedule.id, True, now=moment(46))).paused  # idempotent
    resumed = await store.set_schedule_paused(schedule.id, False, now=moment(45))
    assert (resumed.paused, resumed.next_fire_at) == (False, at(50))  # 10..40 are not caught up
    assert await store.next_schedule_fire_at() == at(50)
    with pytest.raises(ScheduleNotFound):
        await store.set_schedule_paused("sch_nope", True, now=moment(45))


async def test_deleting_a_schedule_keeps_its_jobs(store: JobStore) -> None:
    schedule = make_schedule()
    await store.insert_schedule(schedule)
    [fired] = await store.fire_due_schedules(moment(10))
    await store.delete_schedule(schedule.id)
    assert fired.job is not None and (await store.get_job(fired.job.id)).status is JobStatus.PENDING
    assert await store.list_schedules() == [] and await store.next_schedule_fire_at() is None
    for call in (store.delete_schedule, store.get_schedule, store.list_schedule_fires):
        with pytest.raises(ScheduleNotFound):
            await call(schedule.id)


async def test_the_next_fire_time_is_the_soonest_unpaused_schedules(store: JobStore) -> None:
    assert await store.next_schedule_fire_at() is None
    slow, fast = make_schedule(interval_s=60), make_schedule(interval_s=5)
    await store.insert_schedule(slow)
    await store.insert_schedule(fast)
    assert await store.next_schedule_fire_at() == at(5)
    await store.set_schedule_paused(fast.id, True, now=moment(1))
    assert await store.next_schedule_fire_at() == at(60)


# -- cost and analytics -----------------------------------------------------------------------------------


def priced_step(job_id: str, index: int, *, model: str | None = "m1", cost_usd: float | None = 0.5,
                **usage: int) -> StepRecord:  # fmt: skip
    return replace(make_step(job_id, index), usage=usage, model=model, cost_usd=cost_usd)


async def ran(
    store: JobStore,
    *,
    created: float,
    took: float = 1.0,
    status: JobStatus = JobStatus.COMPLETED,
    job_type: str = "noop",
    steps: Sequence[dict[str, Any]] = (),
) -> JobRecord:
    """A job created at ``at(created)``, claimed a second later, that saved ``steps`` (priced_step's
    keywords) and ended with ``status`` ``took`` seconds after it started."""
    job = make_job(type=job_type, created_at=at(created), updated_at=at(created))
    claimed = await claim_one(store, job, now=at(created + 1))
    for index, step in enumerate(steps):
        await store.save_step(priced_step(job.id, index, **step), "me")
    progress = Progress(timestamp=at(created + 1 + took))
    return await store.finish(claimed, "me", status, now=at(created + 1 + took), seq=9, progress=progress)


async def test_a_jobs_cost_is_the_sum_of_its_steps_and_a_step_saved_twice_counts_once(
    store: JobStore,
) -> None:
    job = make_job()
    claimed = await claim_one(store, job)
    assert (await store.get_job(job.id)).cost_usd is None
    await store.save_step(priced_step(job.id, 0, cost_usd=0.25), "me")
    await store.save_step(priced_step(job.id, 0, cost_usd=0.25), "me")  # a resumed step saved again
    await store.save_step(priced_step(job.id, 1, cost_usd=None), "me")  # an unpriced model
    await store.save_step(priced_step(job.id, 2, cost_usd=0.5, model="m2"), "me")
    assert (await store.get_job(job.id)).cost_usd == pytest.approx(0.75)
    steps = await store.get_steps(job.id)
    assert [(s.model, s.cost_usd) for s in steps] == [("m1", 0.25), ("m1", None), ("m2", 0.5)]
    await store.finish(claimed, "me", JobStatus.COMPLETED, now=at(2), seq=5, progress=Progress())
    assert (await store.get_job(job.id)).cost_usd == pytest.approx(0.75)


async def test_analytics_totals_count_rate_time_tokens_cost_and_cache_hits(store: JobStore) -> None:
    tokens = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    for took in (1.0, 2.0, 3.0, 4.0):
        await ran(store, created=0, took=took, steps=[{**tokens, "llm_calls": 1}, {"cache_hits": 1}])
    await ran(store, created=0, took=10.0, status=JobStatus.FAILED, steps=[{**tokens, "llm_calls": 1}])
    await ran(store, created=0, took=0.5, status=JobStatus.CANCELLED)
    await store.insert_job(make_job(created_at=at(0)))  # still pending
    report = await store.analytics(AnalyticsRange(at(-1), at(3600), ()))
    assert report.groups == []
    t = report.totals
    assert (t.jobs, t.completed, t.failed, t.cancelled, t.pending, t.running) == (7, 4, 1, 1, 1, 0)
    assert t.success_rate == pytest.approx(4 / 5)
    assert t.duration_p50_s == pytest.approx(2.0, abs=1e-3)  # of 0.5, 1, 2, 3, 4, 10: rank 3
    assert t.duration_p95_s == pytest.approx(10.0, abs=1e-3)  # rank 6
    assert (t.prompt_tokens, t.completion_tokens, t.total_tokens) == (50, 25, 75)
    assert t.cost_usd == pytest.approx(0.5 * 9)
    assert (t.llm_calls, t.cache_hits) == (5, 4)
    assert t.cache_hit_rate == pytest.approx(4 / 9)


async def test_analytics_reads_the_range_since_inclusive_until_exclusive(store: JobStore) -> None:
    for created in (-10, 0, 50, 100):
        await ran(store, created=created)
    report = await store.analytics(AnalyticsRange(at(0), at(100), ()))
    assert report.totals.jobs == 2
    assert (report.since, report.until) == (at(0), at(100))


async def test_analytics_of_an_empty_range_has_zero_counts_and_no_rates(store: JobStore) -> None:
    report = await store.analytics(AnalyticsRange(at(0), at(10), ("day", "type")))
    assert report.groups == []
    t = report.totals
    assert (t.jobs, t.total_tokens, t.cache_hit_rate) == (0, 0, 0.0)
    assert (t.success_rate, t.duration_p50_s, t.cost_usd) == (None, None, None)


async def test_analytics_groups_by_day_type_and_status_in_key_order(store: JobStore) -> None:
    day = 86_400
    await ran(store, created=0, job_type="b", steps=[{"total_tokens": 1}])
    await ran(store, created=10, job_type="a", status=JobStatus.FAILED, steps=[{"total_tokens": 2}])
    await ran(store, created=day + 5, job_type="a", steps=[{"total_tokens": 4}])
    report = await store.analytics(AnalyticsRange(at(0), at(2 * day), ("day", "type")))
    assert report.group_by == ("day", "type")
    assert [(g.key, g.jobs, g.total_tokens) for g in report.groups] == [
        ({"day": "2026-01-01", "type": "a"}, 1, 2),
        ({"day": "2026-01-01", "type": "b"}, 1, 1),
        ({"day": "2026-01-02", "type": "a"}, 1, 4),
    ]
    by_status = await store.analytics(AnalyticsRange(at(0), at(2 * day), ("status",)))
    assert [(g.key["status"], g.jobs, g.success_rate) for g in by_status.groups] == [
        ("completed", 2, 1.0), ("failed", 1, 0.0),
    ]  # fmt: skip
    assert by_status.totals.jobs == 3 and by_status.totals.total_tokens == 7


async def test_analytics_by_model_splits_a_jobs_steps_and_puts_jobs_without_steps_under_none(
    store: JobStore,
) -> None:
    await ran(store, created=0, steps=[
        {"model": "big", "cost_usd": 1.0, "total_tokens": 100},
        {"model": "small", "cost_usd": 0.25, "total_tokens": 10},
        {"model": "small", "cost_usd": 0.25, "total_tokens": 10},
    ])  # fmt: skip
    await ran(store, created=1, steps=[{"model": "small", "cost_usd": None, "total_tokens": 1}])
    await ran(store, created=2, status=JobStatus.CANCELLED)
    report = await store.analytics(AnalyticsRange(at(0), at(60), ("model",)))
    groups = {g.key["model"]: g for g in report.groups}
    assert [g.key["model"] for g in report.groups] == [None, "big", "small"]
    assert (groups["big"].jobs, groups["big"].cost_usd, groups["big"].total_tokens) == (1, 1.0, 100)
    assert (groups["small"].jobs, groups["small"].cost_usd, groups["small"].total_tokens) == (2, 0.5, 21)
    assert (groups[None].jobs, groups[None].cost_usd, groups[None].cancelled) == (1, None, 1)
    assert report.totals.jobs == 3 and report.totals.cost_usd == pytest.approx(1.5)


# -- the result cache -------------------------------------------------------------------------------------


async def test_a_cached_value_reads_back_counts_its_hits_and_a_put_replaces_it(store: JobStore) -> None:
    assert await store.cache_get("k", created_after="", now=at(1)) is None
    await store.cache_put("k", "välue", now=at(1))
    assert await store.cache_get("k", created_after="", now=at(2)) == "välue"
    assert await store.cache_get("k", created_after=at(0), now=at(3)) == "välue"
    stats = await store.cache_stats()
    assert (stats.entries, stats.size_bytes, stats.hits) == (1, len("välue".encode()), 2)
    assert (stats.oldest_at, stats.newest_at) == (at(1), at(1))
    await store.cache_put("k", "new", now=at(4))
    assert await store.cache_get("k", created_after="", now=at(5)) == "new"
    stats = await store.cache_stats()
    assert (stats.entries, stats.size_bytes, stats.hits, stats.oldest_at) == (1, 3, 1, at(4))


async def test_an_entry_created_before_the_bound_is_not_served(store: JobStore) -> None:
    await store.cache_put("k", "v", now=at(10))
    assert await store.cache_get("k", created_after=at(10), now=at(20)) is None
    assert await store.cache_get("k", created_after=at(9), now=at(20)) == "v"


async def test_clearing_deletes_every_entry_and_says_how_many(store: JobStore) -> None:
    for i in range(3):
        await store.cache_put(f"k{i}", "v", now=at(i))
    assert await store.cache_clear() == 3
    assert await store.cache_get("k0", created_after="", now=at(9)) is None
    assert (await store.cache_stats()).entries == 0
    assert await store.cache_clear() == 0


async def test_a_purge_deletes_the_old_entries_then_the_least_recently_used(store: JobStore) -> None:
    for i in range(6):  # k0 (oldest) .. k5, 10 bytes each
        await store.cache_put(f"k{i}", "0123456789", now=at(i))
    await store.cache_get("k2", created_after="", now=at(10))  # used lately: survives the size bounds
    assert await store.cache_purge(created_before=at(1), max_entries=None, max_bytes=None) == 1  # k0
    assert await store.cache_purge(created_before=None, max_entries=3, max_bytes=None) == 2  # k1, k3
    survivors = [k for k in ("k2", "k4", "k5") if await store.cache_get(k, created_after="", now=at(11))]
    assert survivors == ["k2", "k4", "k5"]
    # the bytes bound: 25 bytes keep two entries, the two most recently used (k4 and k5 just now)
    assert await store.cache_purge(created_before=None, max_entries=None, max_bytes=25) == 1
    stats = await store.cache_stats()
    assert (stats.entries, stats.size_bytes) == (2, 20)
    assert await store.cache_get("k2", created_after="", now=at(12)) is None


async def test_a_purge_within_bounds_deletes_nothing(store: JobStore) -> None:
    await store.cache_put("k", "v", now=at(5))
    assert await store.cache_purge(created_before=at(1), max_entries=10, max_bytes=1000) == 0
    assert await store.cache_purge(created_before=None, max_entries=None, max_bytes=None) == 0
    assert (await store.cache_stats()).entries == 1


async def test_a_hit_is_counted_for_another_store_once_this_one_read_its_stats(store_url: str) -> None:
    # SQLite counts a hit in memory and writes it with a later write, at the latest before its stats;
    # PostgreSQL at once.
    async with open_store(store_url) as store, open_store(store_url) as other:
        await store.cache_put("k", "v", now=at(1))
        assert await store.cache_get("k", created_after="", now=at(2)) == "v"
        assert await store.cache_get("k", created_after="", now=at(3)) == "v"
        assert (await store.cache_stats()).hits == 2
        assert (await other.cache_stats()).hits == 2


async def test_a_stale_lookup_is_neither_served_nor_counted(store: JobStore) -> None:
    await store.cache_put("k", "v", now=at(10))
    assert await store.cache_get("k", created_after="", now=at(11)) == "v"
    assert await store.cache_get("k", created_after=at(10), now=at(12)) is None
    assert await store.cache_get("gone", created_after="", now=at(12)) is None
    assert (await store.cache_stats()).hits == 1


async def test_hits_not_yet_written_survive_a_clean_close(store_url: str) -> None:
    async with open_store(store_url) as store:
        for i in range(3):
            await store.cache_put(f"k{i}", "v", now=at(i))
        assert await store.cache_get("k0", created_after="", now=at(9)) == "v"
        assert await store.cache_get("k0", created_after="", now=at(8)) == "v"  # used_at stays at(9)
    async with open_store(store_url) as store:
        assert (await store.cache_stats()).hits == 2
        # k0, the oldest entry but the one used last, is what the LRU bound keeps
        assert await store.cache_purge(created_before=None, max_entries=1, max_bytes=None) == 2
        assert await store.cache_get("k0", created_after="", now=at(10)) == "v"


async def test_an_empty_cache_has_no_oldest_or_newest_entry(store: JobStore) -> None:
    stats = await store.cache_stats()
    assert (stats.entries, stats.size_bytes, stats.hits, stats.oldest_at, stats.newest_at) == (
        0,
        0,
        0,
        None,
        None,
    )


# -- users (issue 13) -------------------------------------------------------------------------------------


async def test_a_jobs_username_reads_back_and_survives_every_change(store: JobStore) -> None:
    claimed = await claim_one(store, make_job(username="bob"))
    assert claimed.username == "bob"
    await store.finish(claimed, "me", JobStatus.COMPLETED, now=at(2), seq=3, progress=Progress())
    assert (await store.get_job(claimed.id)).username == "bob"
    assert (await store.get_job_with_steps(claimed.id))[0].username == "bob"
    await store.insert_job(alice := make_job(username="alice", created_at=at(2)))
    assert (await store.get_job(alice.id)).username == "alice"
    await store.insert_job(unknown := make_job(created_at=at(3)))
    assert (await store.get_job(unknown.id)).username is None


async def test_a_users_listing_has_only_their_jobs_newest_first_in_pages(store: JobStore) -> None:
    # Alice's and Bob's jobs interleave in time, three share each created_at, and Alice's are in every
    # status, so a listing of hers must merge statuses and break ties on the id.
    jobs = [
        make_job(username="alice" if i % 2 else "bob", created_at=at(i // 3), updated_at=at(i // 3))
        for i in range(24)
    ]
    await insert_all(store, *jobs, make_job(created_at=at(30)))
    claimed = [job for job, _ in await store.claim_pending("me", at(40), LEASE, 6)]
    await store.finish(claimed[0], "me", JobStatus.COMPLETED, now=at(41), seq=3, progress=Progress())
    await store.finish(claimed[1], "me", JobStatus.FAILED, now=at(41), seq=3, progress=Progress())
    await store.request_cancel(jobs[23].id, now=at(42), actor="test")
    everything = await store.list_jobs(limit=100)
    for user, statuses in [
        ("alice", []),
        ("alice", [JobStatus.PENDING]),
        ("bob", [JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED]),
    ]:
        expected = [j.id for j in everything if j.username == user and (not statuses or j.status in statuses)]
        seen: list[str] = []
        before = None
        for _ in range(20):
            page = await store.list_jobs(statuses=statuses, limit=3, before=before, username=user)
            seen += [j.id for j in page]
            if len(page) < 3:
                break
            before = (page[-1].created_at, page[-1].id)
        assert seen == expected, (user, statuses)
    assert await store.list_jobs(username="carol") == []
    typed = await store.list_jobs(username="alice", job_type="other")
    assert typed == []


async def test_a_users_counts_are_of_their_jobs_only(store: JobStore) -> None:
    await insert_all(
        store,
        *(make_job(username="alice", created_at=at(i)) for i in range(3)),
        make_job(username="bob", created_at=at(5)),
        make_job(created_at=at(6)),
    )
    [(job, _)] = await store.claim_pending("me", at(9), LEASE, 1)  # alice's oldest
    await store.finish(job, "me", JobStatus.COMPLETED, now=at(10), seq=3, progress=Progress())
    none = dict.fromkeys(JobStatus, 0)
    assert await store.count_by_status(username="alice") == {
        **none, JobStatus.PENDING: 2, JobStatus.COMPLETED: 1,
    }  # fmt: skip
    assert await store.count_by_status(username="bob") == {**none, JobStatus.PENDING: 1}
    assert await store.count_by_status(username="carol") == none
    assert await store.count_by_status() == {**none, JobStatus.PENDING: 4, JobStatus.COMPLETED: 1}


async def test_analytics_of_one_user_counts_only_their_jobs(store: JobStore) -> None:
    for created, user in ((0, "ada"), (1, "bob"), (2, "ada")):
        job = make_job(created_at=at(created), updated_at=at(created), username=user)
        claimed = await claim_one(store, job, now=at(created + 1))
        await store.save_step(priced_step(job.id, 0, total_tokens=10), "me")
        await store.finish(
            claimed, "me", JobStatus.COMPLETED, now=at(created + 2), seq=9, progress=Progress()
        )
    mine = await store.analytics(AnalyticsRange(at(0), at(60), ("type",), username="ada"))
    assert (mine.totals.jobs, mine.totals.total_tokens, mine.groups[0].jobs) == (2, 20, 2)
    everyone = await store.analytics(AnalyticsRange(at(0), at(60), ()))
    assert everyone.totals.jobs == 3


# -- the user catalog ---------------------------------------------------------------------------------------


def catalog_row(name: str = "pirate", *, username: str | None = "alice", **overrides: Any) -> CatalogRow:
    values: dict[str, Any] = {
        "kind": "persona", "name": name, "description": "speaks of the sea",
        "fields": {"tone": "salty", "nested": [1, "è"]}, "created_at": at(0), "username": username,
    }  # fmt: skip
    values.update(overrides)
    return CatalogRow(**values)


async def test_catalog_entries_read_back_exactly_oldest_first(store: JobStore) -> None:
    assert await store.catalog_entries() == []
    later = catalog_row("miner", username="bob", created_at=at(2), fields={})
    first = catalog_row(created_at=at(1))
    unknown = catalog_row("elder", kind="style", username=None, created_at=at(3))
    for entry in (later, first, unknown):
        assert await store.save_catalog_entry(entry) is True
    assert await store.catalog_entries() == [first, later, unknown]


async def test_a_catalog_entry_is_replaced_only_by_its_own_maker(store: JobStore) -> None:
    await store.save_catalog_entry(catalog_row(created_at=at(1)))
    theirs = catalog_row(username="bob", description="a landlubber", created_at=at(2))
    assert await store.save_catalog_entry(theirs) is False
    assert [e.description for e in await store.catalog_entries()] == ["speaks of the sea"]
    mine = catalog_row(description="sings shanties", fields={}, created_at=at(3))
    assert await store.save_catalog_entry(mine) is True
    assert await store.catalog_entries() == [mine]
    # an entry of an unknown maker (None) is replaced by another of no maker, not by a named user's
    await store.save_catalog_entry(catalog_row("elder", username=None))
    assert await store.save_catalog_entry(catalog_row("elder", username="alice")) is False
    assert await store.save_catalog_entry(catalog_row("elder", username=None, description="x")) is True
    # the same name of another kind is another entry
    assert await store.save_catalog_entry(catalog_row(kind="style", username="bob")) is True


async def test_concurrent_saves_of_one_name_by_two_users_let_exactly_one_win(store: JobStore) -> None:
    results = await asyncio.gather(
        *(store.save_catalog_entry(catalog_row(username=f"user{i}")) for i in range(8))
    )
    assert results.count(True) == 1
    [kept] = await store.catalog_entries()
    assert kept.username == f"user{results.index(True)}"


async def test_a_catalog_entry_is_deleted_by_its_maker_or_without_a_user(store: JobStore) -> None:
    pirate, miner = catalog_row(created_at=at(1)), catalog_row("miner", username="bob", created_at=at(2))
    await store.save_catalog_entry(pirate)
    await store.save_catalog_entry(miner)
    assert await store.delete_catalog_entry("persona", "pirate", username="bob") is None  # alice's
    assert await store.delete_catalog_entry("persona", "parrot") is None  # none such
    assert await store.delete_catalog_entry("style", "pirate") is None  # another kind
    assert await store.delete_catalog_entry("persona", "pirate", username="alice") == pirate
    assert await store.delete_catalog_entry("persona", "miner") == miner  # no user: anyone's
    assert await store.catalog_entries() == []


async def test_a_catalog_entry_that_is_not_json_is_refused_before_any_write(store: JobStore) -> None:
    with pytest.raises(InvalidInput) as refused:
        await store.save_catalog_entry(catalog_row(fields={"bad": float("nan")}))
    assert "fields" in refused.value.fields
    assert await store.catalog_entries() == []


async def test_a_catalog_entry_saved_through_one_store_is_read_by_another_on_the_database(
    store_url: str,
) -> None:
    async with open_store(store_url) as first, open_store(store_url) as second:
        await first.save_catalog_entry(catalog_row())
        assert [e.name for e in await second.catalog_entries()] == ["pirate"]
        assert await second.delete_catalog_entry("persona", "pirate") is not None
        assert await first.catalog_entries() == []


async def test_the_catalog_revision_moves_with_each_change_and_only_then(store: JobStore) -> None:
    seen = [await store.catalog_revision()]
    await store.save_catalog_entry(catalog_row())
    seen.append(await store.catalog_revision())
    await store.save_catalog_entry(catalog_row(description="sings shanties"))  # a replacement
    seen.append(await store.catalog_revision())
    assert len(set(seen)) == 3
    assert await store.save_catalog_entry(catalog_row(username="bob")) is False  # refused: no change
    assert await store.delete_catalog_entry("persona", "parrot") is None
    assert await store.catalog_revision() == seen[-1]
    await store.delete_catalog_entry("persona", "pirate")
    assert await store.catalog_revision() not in seen
