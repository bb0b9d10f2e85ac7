"""Recurrences and the catch-up decision as pure data: slots by interval and by cron in a timezone (DST
included), the latest slot before a moment, and what a due schedule fires."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from lpe_nb.jobs.model import to_iso
from lpe_nb.jobs.recurrence import CatchUp, Recurrence, ScheduleRecord, on_time_s, plan_fire

UTC = timezone.utc
START = datetime(2026, 1, 1, tzinfo=UTC)


def cron(expression: str, zone: str = "UTC") -> Recurrence:
    return Recurrence.checked(cron=expression, interval_s=None, timezone_name=zone, anchor=START)


def slots_after(recurrence: Recurrence, moment: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        following = recurrence.next_after(moment)
        assert following is not None
        found.append(following)
        moment = following
    return found


def test_interval_slots_are_counted_from_the_anchor_without_drift() -> None:
    every = Recurrence.checked(cron=None, interval_s=0.1 * 30, timezone_name="UTC", anchor=START)
    assert every.next_after(START) == START + timedelta(seconds=3)
    assert every.next_after(START + timedelta(seconds=3)) == START + timedelta(seconds=6)  # strictly after
    far = START + timedelta(days=400, seconds=1)
    assert every.latest_at_or_before(far) == START + timedelta(days=400)  # 11,520,000 steps, exact
    assert every.latest_at_or_before(START + timedelta(seconds=2.9)) is None  # before the first slot


def test_a_cron_slot_is_included_at_its_own_moment_and_excluded_after_it() -> None:
    hourly = cron("0 * * * *")
    noon = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert hourly.latest_at_or_before(noon) == noon
    assert hourly.latest_at_or_before(noon - timedelta(microseconds=1)) == noon - timedelta(hours=1)
    assert hourly.next_after(noon) == noon + timedelta(hours=1)
    every_5_s = cron("*/5 * * * * *")  # six fields: seconds first
    assert slots_after(every_5_s, noon, 2) == [noon + timedelta(seconds=5), noon + timedelta(seconds=10)]


def test_a_time_the_spring_change_skips_runs_at_the_first_time_after_it() -> None:
    nightly = cron("30 2 * * *", "Europe/Paris")  # 2026-03-29: 02:00 -> 03:00 in Paris
    slots = slots_after(nightly, datetime(2026, 3, 28, 12, tzinfo=UTC), 2)
    assert [s.astimezone(nightly.zone).strftime("%d %H:%M %Z") for s in slots] == [
        "29 03:00 CEST",
        "30 02:30 CEST",
    ]


def test_a_fixed_time_in_the_repeated_autumn_hour_runs_once_and_every_half_hour_runs_through_both() -> None:
    nightly = cron("30 2 * * *", "Europe/Paris")  # 2026-10-25: 03:00 -> 02:00 in Paris
    slots = slots_after(nightly, datetime(2026, 10, 24, 12, tzinfo=UTC), 2)
    assert [to_iso(s) for s in slots] == [
        "2026-10-25T00:30:00.000000+00:00",
        "2026-10-26T01:30:00.000000+00:00",
    ]
    half_hourly = cron("*/30 * * * *", "Europe/Paris")
    slots = slots_after(half_hourly, datetime(2026, 10, 24, 23, 50, tzinfo=UTC), 4)
    local = [s.astimezone(half_hourly.zone).strftime("%H:%M %Z") for s in slots]
    assert local == ["02:00 CEST", "02:30 CEST", "02:00 CET", "02:30 CET"]


def schedule(catch_up: CatchUp, next_fire_s: float, last_slot_s: float | None = None) -> ScheduleRecord:
    every_10_s = Recurrence.checked(cron=None, interval_s=10, timezone_name="UTC", anchor=START)
    return ScheduleRecord(
        id="sch_1", job_type="noop", input_data={}, title="t", recurrence=every_10_s, catch_up=catch_up,
        created_at=to_iso(START), updated_at=to_iso(START), next_fire_at=to_iso(START + timedelta(seconds=next_fire_s)),
        last_slot=None if last_slot_s is None else to_iso(START + timedelta(seconds=last_slot_s)),
    )  # fmt: skip


@pytest.mark.parametrize("catch_up", list(CatchUp))
def test_an_on_time_slot_fires_whatever_the_policy(catch_up: CatchUp) -> None:
    plan = plan_fire(schedule(catch_up, 10), START + timedelta(seconds=14.9))
    assert (plan.slot, plan.next_fire_at, plan.missed) == (
        to_iso(START + timedelta(seconds=10)), to_iso(START + timedelta(seconds=20)), False,
    )  # fmt: skip


@pytest.mark.parametrize(("catch_up", "fired"), [(CatchUp.SKIP, None), (CatchUp.ONCE, 10)])
def test_a_late_slot_is_skipped_or_run_once(catch_up: CatchUp, fired: int | None) -> None:
    plan = plan_fire(schedule(catch_up, 10), START + timedelta(seconds=15.1))  # half a period late
    assert plan.slot == (None if fired is None else to_iso(START + timedelta(seconds=fired)))
    assert plan.next_fire_at == to_iso(START + timedelta(seconds=20))


def test_a_slot_at_or_before_the_last_fired_one_is_never_fired_again() -> None:
    again = plan_fire(schedule(CatchUp.ONCE, 10, last_slot_s=10), START + timedelta(seconds=10.5))
    assert (again.slot, again.next_fire_at) == (None, to_iso(START + timedelta(seconds=20)))


def test_a_clock_that_moved_back_fires_nothing() -> None:
    plan = plan_fire(schedule(CatchUp.ONCE, 30), START + timedelta(seconds=21))
    assert plan.slot is None


def test_a_paused_schedule_lists_no_next_times_and_resumes_after_its_last_slot() -> None:
    paused = replace(schedule(CatchUp.ONCE, 30, last_slot_s=20), paused=True)
    assert paused.next_fire_times() == []
    resumed = paused.resumed(START + timedelta(seconds=5))  # a clock behind the last fire
    assert resumed.next_fire_at == to_iso(START + timedelta(seconds=30)) and not resumed.paused


def test_on_time_is_a_minute_or_half_the_period() -> None:
    assert on_time_s(START, START + timedelta(seconds=1)) == 0.5
    assert on_time_s(START, START + timedelta(days=1)) == 60.0
    assert on_time_s(START, None) == 60.0
