from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from lpe_nb._aio import with_timeout
from lpe_nb.jobs import EventBus, JobEvent, JobStatus, Progress, SubscriptionClosed


def progress(job_id: str, seq: int, pct: float) -> JobEvent:
    return JobEvent.progress_of(job_id, Progress(percentage=pct, seq=seq))


def status(job_id: str, seq: int, value: JobStatus) -> JobEvent:
    return JobEvent("status", job_id, seq, status=value)


async def test_slow_reader_gets_only_the_latest_progress_but_every_status() -> None:
    bus = EventBus()
    sub = bus.subscribe(["a"])
    bus.publish(status("a", 1, JobStatus.RUNNING))
    for seq in range(2, 102):
        bus.publish(progress("a", seq, seq - 1))
    bus.publish(status("a", 102, JobStatus.COMPLETED))
    received = [await sub.get(timeout_s=1) for _ in range(3)]
    assert [(e.kind, e.seq) for e in received] == [("status", 1), ("progress", 101), ("status", 102)]
    assert sub.coalesced == 99 and sub.get_nowait() is None


async def test_progress_after_a_status_is_not_merged_ahead_of_it() -> None:
    bus = EventBus()
    sub = bus.subscribe(["a"])
    bus.publish(progress("a", 1, 10))
    bus.publish(status("a", 2, JobStatus.PENDING))
    bus.publish(progress("a", 3, 20))
    assert [(await sub.get(timeout_s=1)).seq for _ in range(3)] == [1, 2, 3]


async def test_events_older_than_what_was_delivered_are_skipped() -> None:
    bus = EventBus()
    sub = bus.subscribe(["a"])
    bus.publish(progress("a", 5, 50))
    assert (await sub.get(timeout_s=1)).seq == 5
    bus.publish(status("a", 4, JobStatus.RUNNING))
    bus.publish(progress("a", 6, 60))
    assert (await sub.get(timeout_s=1)).seq == 6


async def test_snapshot_goes_first_and_hides_the_events_it_covers() -> None:
    bus = EventBus()
    sub = bus.subscribe(["a"])
    bus.publish(progress("a", 7, 70))  # raced with the snapshot read
    sub.offer_snapshot([
        JobEvent("status", "a", 8, status=JobStatus.RUNNING, snapshot=True),
        JobEvent.progress_of("a", Progress(percentage=75, seq=8), snapshot=True),
    ])  # fmt: skip
    bus.publish(progress("a", 9, 90))
    got = [await sub.get(timeout_s=1) for _ in range(3)]
    assert [(e.kind, e.seq, e.snapshot) for e in got] == [
        ("status", 8, True), ("progress", 8, True), ("progress", 9, False),
    ]  # fmt: skip
    assert sub.get_nowait() is None


async def test_a_job_watched_before_its_snapshot_is_held_back_until_the_snapshot_comes() -> None:
    bus = EventBus()
    sub = bus.subscribe([])
    sub.watch("a", awaiting_snapshot=True)  # the manager now reads the job's state from the store...
    bus.publish(status("a", 2, JobStatus.RUNNING))  # ...while live events arrive
    bus.publish(progress("a", 4, 40))
    sub.watch("b")
    bus.publish(progress("b", 7, 70))
    assert (await sub.get(timeout_s=1)).job_id == "b"  # another job is not held up
    assert sub.get_nowait() is None  # nothing of "a" before its current state
    sub.offer_snapshot(
        [replace(e, snapshot=True) for e in (status("a", 3, JobStatus.RUNNING), progress("a", 3, 30))]
    )
    received = [await sub.get(timeout_s=1) for _ in range(3)]
    assert [(e.kind, e.seq) for e in received] == [("status", 3), ("progress", 3), ("progress", 4)]
    assert sub.get_nowait() is None  # the status at seq 2 is covered by the snapshot


async def test_unwatching_a_job_awaiting_its_snapshot_drops_what_was_held() -> None:
    bus = EventBus()
    sub = bus.subscribe([])
    sub.watch("a", awaiting_snapshot=True)
    bus.publish(status("a", 2, JobStatus.RUNNING))
    sub.unwatch("a")  # the job was not found, say
    assert sub.get_nowait() is None and sub.pending == 0


async def test_a_reader_too_far_behind_is_dropped_and_told_so() -> None:
    bus = EventBus(max_pending=10)
    sub = bus.subscribe(None)
    for i in range(11):
        bus.publish(status(f"job{i}", 1, JobStatus.PENDING))
    assert sub.overflowed and sub.pending == 0 and bus.subscriber_count == 0
    with pytest.raises(SubscriptionClosed, match="fell too far behind"):
        await sub.get(timeout_s=1)


async def test_a_metered_reader_is_dropped_once_what_was_published_passes_the_limit() -> None:
    """Metered bytes count superseded progress too: the queue stays one slot, the count keeps growing."""
    bus = EventBus()
    sub = bus.subscribe(["a"])
    frame_bytes = len(progress("a", 10, 10).to_frame())  # each within a few bytes of it
    sub.meter_bytes(frame_bytes * 21 // 2)  # room for 10 frames, not 11
    for seq in range(1, 11):
        bus.publish(progress("a", seq, seq))
    assert sub.pending == 1 and sub.metered_bytes > 9 * frame_bytes and not sub.closed
    bus.publish(progress("a", 11, 11))
    assert sub.closed and sub.overflowed and sub.overflowed_by == "bytes"
    assert not bus.has_watchers("a") and sub.pending == 0
    with pytest.raises(SubscriptionClosed) as closed:
        await sub.get(timeout_s=1)
    assert closed.value.overflowed


async def test_a_metered_reader_that_passed_some_on_is_renewed_one_that_did_not_is_dropped() -> None:
    bus = EventBus()
    sub = bus.subscribe(["a"])
    frame_bytes = len(progress("a", 10, 10).to_frame())
    renewals: list[int | None] = [5 * frame_bytes, None]  # it took some once, then nothing

    def renew() -> int | None:
        return renewals.pop(0)

    sub.meter_bytes(frame_bytes * 3 // 2, renew=renew)
    for seq in range(1, 3):  # the second passes the first limit: renewed, counted from zero
        bus.publish(progress("a", seq, seq))
    assert not sub.closed and sub.metered_bytes == 0 and renewals == [None]
    for seq in range(3, 9):  # the sixth passes the new limit: nothing taken meanwhile, dropped
        bus.publish(progress("a", seq, seq))
    assert sub.closed and sub.overflowed_by == "bytes" and renewals == []


async def test_a_reader_that_passed_on_what_it_had_is_metered_from_zero_again() -> None:
    bus = EventBus()
    sub = bus.subscribe(["a"])
    limit = 3 * len(progress("a", 1, 0).to_frame())
    for round_ in range(20):  # 20 limits' worth in all, never 3 within one metering
        sub.meter_bytes(limit)
        bus.publish(progress("a", 2 * round_ + 1, round_))
        bus.publish(progress("a", 2 * round_ + 2, round_))
        sub.stop_metering()
        assert (await sub.get(timeout_s=1)).seq == 2 * round_ + 2
    assert not sub.closed and sub.metered_bytes == 0
    bus.publish(status("a", 100, JobStatus.COMPLETED))  # not metered: nothing counted
    assert sub.metered_bytes == 0 and not sub.closed


async def test_wait_closed_returns_once_the_owner_closes_or_the_reader_overflows() -> None:
    bus = EventBus(max_pending=1)
    owned, slow = bus.subscribe(["a"]), bus.subscribe(["b"])
    waiting = asyncio.create_task(owned.wait_closed())
    bus.publish(status("a", 1, JobStatus.RUNNING))  # an event is not the end
    done, _ = await asyncio.wait({waiting}, timeout=0.05)
    assert not done
    owned.close()
    await with_timeout(waiting, 1)
    bus.publish(status("b", 1, JobStatus.RUNNING))
    bus.publish(status("b", 2, JobStatus.COMPLETED))  # one more than max_pending
    assert slow.overflowed
    await with_timeout(slow.wait_closed(), 1)  # already closed: at once
    await with_timeout(owned.wait_closed(), 1)  # and again


async def test_closing_ends_iteration_and_unsubscribes() -> None:
    bus = EventBus()
    sub = bus.subscribe(["a"])
    bus.publish(status("a", 1, JobStatus.RUNNING))
    sub.close()
    assert bus.subscriber_count == 0
    assert [e.seq async for e in sub] == [1]


async def test_watch_and_unwatch_change_what_a_subscription_receives() -> None:
    bus = EventBus()
    sub = bus.subscribe([])
    bus.publish(status("a", 1, JobStatus.RUNNING))
    sub.watch("a")
    bus.publish(status("a", 2, JobStatus.COMPLETED))
    sub.watch("b")
    sub.unwatch("b")
    bus.publish(status("b", 1, JobStatus.RUNNING))
    assert [e.job_id for e in [await sub.get(timeout_s=1)]] == ["a"]
    assert sub.get_nowait() is None


async def test_get_times_out() -> None:
    sub = EventBus().subscribe(["a"])
    with pytest.raises(TimeoutError):
        await sub.get(timeout_s=0.05)


def test_wire_format_matches_the_seed() -> None:
    p = JobEvent.progress_of("a", Progress(current_step="map", percentage=50.0, seq=3))
    assert p.to_message()["type"] == "progress" and p.to_message()["data"]["current_step"] == "map"
    s = JobEvent("status", "a", 4, status=JobStatus.FAILED, error_message="boom")
    assert s.to_message() == {
        "type": "status", "job_id": "a", "seq": 4, "status": "failed", "result_data": None, "error_message": "boom",
    }  # fmt: skip


async def test_an_event_is_encoded_once_for_all_its_subscribers() -> None:
    bus = EventBus()
    subs = [bus.subscribe(["a"]) for _ in range(3)]
    bus.publish(replace(status("a", 1, JobStatus.COMPLETED), result_data={"text": "naïve"}))
    events = [await sub.get(timeout_s=1) for sub in subs]
    frames = [event.to_frame() for event in events]
    assert all(frame is frames[0] for frame in frames)  # one encoding, shared
    assert json.loads(frames[0]) == events[0].to_message()
    assert json.loads(frames[0])["result_data"] == {"text": "naïve"}
    assert replace(events[0], seq=2).to_frame() != frames[0]  # a changed copy is encoded anew
    fresh = replace(status("a", 1, JobStatus.COMPLETED), result_data={"text": "naïve"})
    assert events[0] == fresh  # the cached frame is not part of the value


async def test_a_statuses_only_reader_gets_every_jobs_status_and_no_progress() -> None:
    bus = EventBus()
    statuses = bus.subscribe(None, statuses_only=True)
    assert not bus.wants_progress("a")  # nobody would receive a progress event of "a"
    bus.publish(status("a", 1, JobStatus.RUNNING))
    bus.publish(progress("a", 2, 50.0))
    bus.publish(status("b", 1, JobStatus.RUNNING))
    bus.publish(status("a", 3, JobStatus.COMPLETED))
    received = [await statuses.get(timeout_s=1) for _ in range(3)]
    assert [(e.job_id, e.kind, e.seq) for e in received] == [
        ("a", "status", 1),
        ("b", "status", 1),
        ("a", "status", 3),
    ]
    assert statuses.get_nowait() is None
    watcher = bus.subscribe(["a"])
    assert bus.wants_progress("a") and not bus.wants_progress("b")
    everything = bus.subscribe(None)
    assert bus.wants_progress("b")
    everything.close()
    watcher.close()
    statuses.close()
    assert bus.subscriber_count == 0
