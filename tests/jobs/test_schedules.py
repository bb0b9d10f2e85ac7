"""Recurring schedules on the engine: each slot fired once, at its time, by the dispatching manager only,
across a restart (catch-up policy obeyed), paused, resumed and deleted; bad ones refused naming the field.

Real SQLite files; an injected clock where the test moves time, the real one where it checks the wake-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lpe_nb.errors import InvalidInput, ScheduleNotFound, UnknownJobType
from lpe_nb.jobs import JobManager, JobStatus
from lpe_nb.jobs.model import to_iso
from lpe_nb.jobs.recurrence import ScheduleRecord
from tests.jobs.conftest import FAST
from tests.jobs.ops import Probe, build_registry

START = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def at(seconds: float) -> str:
    return to_iso(START + timedelta(seconds=seconds))


async def schedule_when(
    manager: JobManager, schedule_id: str, predicate: Callable[[ScheduleRecord], bool], timeout_s: float = 10
) -> ScheduleRecord:
    """The schedule once ``predicate`` holds, read from the database (a real condition, bounded)."""
    async with asyncio.timeout(timeout_s):
        while True:
            schedule = await manager.schedules.get(schedule_id)
            if predicate(schedule):
                return schedule
            await asyncio.sleep(0.02)


async def fire_count_reaches(
    manager: JobManager, schedule_id: str, count: int, timeout_s: float = 10
) -> ScheduleRecord:
    return await schedule_when(manager, schedule_id, lambda s: s.fire_count >= count, timeout_s)


async def test_an_interval_schedule_fires_each_slot_once_on_time(db_path: Path, probe: Probe) -> None:
    async with JobManager.open(db_path, registry=build_registry(probe), settings=FAST) as manager:
        # "once": a slot reached late (a loaded machine) still fires, so the slots stay consecutive
        schedule = await manager.schedules.create("noop", {"n": 1}, interval_s=1, catch_up="once")
        created = datetime.fromisoformat(schedule.created_at)
        assert schedule.next_fire_times() == [to_iso(created + timedelta(seconds=k)) for k in (1, 2, 3)]
        await fire_count_reaches(manager, schedule.id, 3)
        await manager.schedules.pause(schedule.id)
        fires = sorted(await manager.schedules.fires(schedule.id), key=lambda fire: fire.slot)
        assert [datetime.fromisoformat(f.slot) for f in fires[:3]] == [
            created + timedelta(seconds=k) for k in (1, 2, 3)
        ]
        assert len({f.slot for f in fires}) == len(fires)
        late_s = []
        for fire in fires:
            job = await manager.wait(fire.job_id, timeout_s=10)
            assert job.status is JobStatus.COMPLETED
            assert job.description == f"schedule {schedule.id}, slot {fire.slot}"
            late_s.append(
                (datetime.fromisoformat(fire.fired_at) - datetime.fromisoformat(fire.slot)).total_seconds()
            )
        # woken at the slot, not by a poll: never early, and typically within milliseconds (a poll every
        # second would make the median half a second)
        assert min(late_s) >= 0 and sorted(late_s)[len(late_s) // 2] < 0.1, late_s


@pytest.mark.parametrize(("catch_up", "slots_fired"), [("skip", [10, 60]), ("once", [10, 50, 60])])
async def test_a_restart_in_the_middle_fires_no_slot_twice_and_obeys_the_catch_up_policy(
    db_path: Path, probe: Probe, catch_up: str, slots_fired: list[int]
) -> None:
    moment = [START]
    registry = build_registry(probe)

    def clock() -> datetime:
        return moment[0]

    async with JobManager.open(db_path, registry=registry, settings=FAST, clock=clock) as manager:
        schedule = await manager.schedules.create("noop", interval_s=10, catch_up=catch_up)
        moment[0] += timedelta(seconds=10.2)
        await manager.schedules.fire_due()
        assert (await manager.schedules.get(schedule.id)).fire_count == 1
    moment[0] += timedelta(seconds=45)  # slots 20, 30, 40 and 50 pass with no engine running
    async with JobManager.open(db_path, registry=registry, settings=FAST, clock=clock) as manager:
        # the restarted dispatcher applies the policy at once; firing again finds nothing due
        after = await schedule_when(manager, schedule.id, lambda s: s.next_fire_at == at(60))
        assert after.fire_count == len(slots_fired) - 1
        assert [f for f in await manager.schedules.fire_due() if f.job is not None] == []
        moment[0] += timedelta(seconds=4.9)  # slot 60, on time
        await manager.schedules.fire_due()
        fires = await manager.schedules.fires(schedule.id)
        assert sorted(f.slot for f in fires) == [at(s) for s in slots_fired]
        jobs = [await manager.wait(f.job_id, timeout_s=10) for f in fires]
        assert {job.status for job in jobs} == {JobStatus.COMPLETED}
        page = await manager.list_jobs(limit=50)
        assert len(page.jobs) == len(slots_fired)  # one job per slot, no more


async def test_only_the_dispatcher_fires_and_it_sees_a_peers_new_schedule(
    db_path: Path, probe: Probe
) -> None:
    registry = build_registry(probe)
    async with (
        JobManager.open(db_path, registry=registry, settings=FAST) as dispatcher,
        JobManager.open(db_path, registry=registry, settings=FAST, dispatch=False) as peer,
    ):
        assert dispatcher.is_dispatching and not peer.is_dispatching
        # every second from now: the dispatcher slept with nothing to fire, the peer's commit wakes it
        schedule = await peer.schedules.create("noop", interval_s=1)
        fired = await fire_count_reaches(peer, schedule.id, 1, timeout_s=5)
        assert fired.last_job_id is not None
        late_s = (
            datetime.fromisoformat(fired.updated_at) - datetime.fromisoformat(fired.last_slot or "")
        ).total_seconds()
        assert late_s < 0.5
        await peer.schedules.delete(schedule.id)
        with pytest.raises(ScheduleNotFound):
            await dispatcher.schedules.get(schedule.id)


async def test_a_paused_schedule_fires_nothing_and_resumes_at_the_next_slot(
    db_path: Path, probe: Probe
) -> None:
    moment = [START]
    async with JobManager.open(
        db_path, registry=build_registry(probe), settings=FAST, clock=lambda: moment[0]
    ) as manager:
        schedule = await manager.schedules.create("noop", interval_s=10, catch_up="once")
        paused = await manager.schedules.pause(schedule.id)
        assert paused.paused and paused.next_fire_times() == []
        moment[0] += timedelta(seconds=35)
        assert await manager.schedules.fire_due() == []
        resumed = await manager.schedules.resume(schedule.id)
        assert resumed.next_fire_times() == [at(40), at(50), at(60)]  # 10..30 are not caught up
        moment[0] += timedelta(seconds=5)
        [fired] = await manager.schedules.fire_due()
        assert fired.slot == at(40) and fired.job is not None
        await manager.schedules.delete(schedule.id)
        moment[0] += timedelta(seconds=60)
        assert await manager.schedules.fire_due() == []
        assert (await manager.wait(fired.job.id, timeout_s=10)).status is JobStatus.COMPLETED  # its job stays


async def test_a_cron_schedule_follows_its_timezone(db_path: Path, probe: Probe) -> None:
    moment = [datetime(2026, 3, 28, 12, tzinfo=timezone.utc)]  # the day before Paris moves to summer time
    async with JobManager.open(
        db_path, registry=build_registry(probe), settings=FAST, clock=lambda: moment[0]
    ) as manager:
        schedule = await manager.schedules.create("noop", cron="0 9 * * *", timezone="Europe/Paris")
        # 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC from March 29
        assert schedule.next_fire_times() == [
            "2026-03-29T07:00:00.000000+00:00",
            "2026-03-30T07:00:00.000000+00:00",
            "2026-03-31T07:00:00.000000+00:00",
        ]
        assert (schedule.cron, schedule.timezone) == ("0 9 * * *", "Europe/Paris")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"cron": "0 0 30 2 *"}, "cron"),
        ({"cron": 5}, "cron"),
        ({}, "cron"),
        ({"cron": "* * * * *", "interval_s": 60}, "interval_s"),
        ({"interval_s": 0.5}, "interval_s"),
        ({"interval_s": "60"}, "interval_s"),
        ({"interval_s": 60, "timezone": "Mars/Olympus"}, "timezone"),
        ({"interval_s": 60, "timezone": ""}, "timezone"),
        ({"interval_s": 60, "catch_up": "later"}, "catch_up"),
        ({"interval_s": 60, "priority": 5000}, "priority"),
        ({"interval_s": 60, "max_attempts": 0}, "max_attempts"),
    ],
)
async def test_a_bad_schedule_is_refused_naming_the_field(
    manager: JobManager, options: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        await manager.schedules.create("noop", **options)  # type: ignore[arg-type]
    assert list(info.value.fields) == [field]
    assert await manager.schedules.list() == []


async def test_a_schedules_input_is_validated_by_its_job_type_at_creation(manager: JobManager) -> None:
    with pytest.raises(InvalidInput) as info:
        await manager.schedules.create("strict", {"narrative": "", "turns": 3}, interval_s=60)
    assert list(info.value.fields) == ["input.narrative"]
    with pytest.raises(UnknownJobType):
        await manager.schedules.create("poem", {}, interval_s=60)
    made = await manager.schedules.create("strict", {"narrative": "once upon a time"}, interval_s=60)
    assert made.input_data == {"narrative": "once upon a time", "turns": 3}
    assert [s.id for s in await manager.schedules.list()] == [made.id]


async def test_a_users_schedules_are_theirs_to_see_and_change(manager: JobManager) -> None:
    """``username`` on a read or change: another user's schedule is not found, as a job is."""
    mine = await manager.schedules.create("noop", {"n": 1}, interval_s=3600, username="alice")
    local = await manager.schedules.create("noop", {"n": 2}, interval_s=3600)
    assert (mine.username, local.username) == ("alice", manager.local_username)
    assert [s.id for s in await manager.schedules.list(username="alice")] == [mine.id]
    assert {s.id for s in await manager.schedules.list()} == {mine.id, local.id}
    for change in (
        manager.schedules.get(mine.id, username="bob"),
        manager.schedules.pause(mine.id, username="bob"),
        manager.schedules.resume(mine.id, username="bob"),
        manager.schedules.fires(mine.id, username="bob"),
        manager.schedules.delete(mine.id, username="bob"),
    ):
        with pytest.raises(ScheduleNotFound):
            await change
    assert (await manager.schedules.get(mine.id, username="alice")).paused is False
    assert (await manager.schedules.pause(mine.id, username="alice")).paused is True
    await manager.schedules.delete(mine.id, username="alice")
    assert [s.id for s in await manager.schedules.list()] == [local.id]
