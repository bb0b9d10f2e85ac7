"""Recurring schedules as pure data: when a schedule's slots fall, what a due one does, and the job it makes.

A *slot* is one moment a schedule is meant to fire, in UTC (``to_iso``): every ``interval_s`` seconds
from the schedule's creation, or each match of a cron expression read in the schedule's timezone (parsed
and iterated by ``cronsim``, which moves a time that a DST change skips or repeats as cron does). A
schedule fires a slot once: the store keys each fire by ``(schedule, slot)`` and moves ``next_fire_at``
past it in the same transaction as the job it creates.

After downtime (no dispatcher while slots passed) :func:`plan_fire` applies the schedule's catch-up
policy: ``skip`` fires only a slot that is on time (:func:`on_time_s` late at most) and drops the missed
ones; ``once`` fires the latest missed slot once, whatever its lateness. Nothing here does I/O.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from lpe_nb.errors import InvalidInput
from lpe_nb.jobs.model import JobRecord, JobStatus, Progress, new_job_id, to_iso

__all__ = [
    "KEPT_FIRES",
    "MAX_INTERVAL_S",
    "MIN_INTERVAL_S",
    "ON_TIME_MAX_S",
    "CatchUp",
    "FirePlan",
    "FiredSlot",
    "Recurrence",
    "ScheduleFire",
    "ScheduleRecord",
    "check_timezone",
    "new_schedule_id",
    "plan_fire",
]

MIN_INTERVAL_S = 1.0  # a slot per second at most, as a cron expression with a seconds field
MAX_INTERVAL_S = 366 * 86_400.0
ON_TIME_MAX_S = 60.0  # a slot fired later than this (or than half its period) was missed
_MAX_CRON_CHARS = 200
_MAX_TIMEZONE_CHARS = 64
_ONE_US = timedelta(microseconds=1)


class CatchUp(str, Enum):
    """What a schedule does about the slots that passed while no dispatcher ran."""

    SKIP = "skip"  # fire none of them: the next run is the next slot to come
    ONCE = "once"  # fire the latest of them once, then carry on

    def __str__(self) -> str:
        return self.value


def new_schedule_id() -> str:
    return f"sch_{uuid.uuid4().hex[:20]}"


def check_timezone(name: object) -> ZoneInfo:
    """The IANA timezone ``name`` (e.g. ``Europe/Paris``); :class:`InvalidInput` naming ``timezone``."""
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_TIMEZONE_CHARS:
        raise InvalidInput.field(
            "timezone", f"must be an IANA timezone name such as Europe/Paris, not {name!r}"
        )
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput.field(
            "timezone", f"unknown timezone {name[:40]!r}; use an IANA name such as UTC or Europe/Paris"
        ) from None


@dataclass(frozen=True, slots=True)
class Recurrence:
    """When a schedule's slots fall: a cron expression in ``timezone``, or every ``interval_s`` from
    ``anchor`` (its creation, UTC ISO). Use :meth:`checked` to build one from a caller's values."""

    cron: str | None
    interval_s: float | None
    timezone: str
    anchor: str

    @classmethod
    def checked(
        cls, *, cron: object, interval_s: object, timezone_name: object, anchor: datetime
    ) -> Recurrence:
        """A recurrence from a caller's values; :class:`InvalidInput` naming the field: ``cron`` (not 5 or 6
        fields, a bad field, never fires), ``interval_s`` (not a number of seconds from
        :data:`MIN_INTERVAL_S` to :data:`MAX_INTERVAL_S`; both or neither given) or ``timezone``."""
        if (cron is None) == (interval_s is None):
            raise InvalidInput.field(
                "interval_s" if cron is not None else "cron", "give cron or interval_s, one of the two"
            )
        zone = check_timezone(timezone_name)
        if interval_s is not None:
            if (
                isinstance(interval_s, bool)
                or not isinstance(interval_s, (int, float))
                or not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S
            ):
                raise InvalidInput.field(
                    "interval_s",
                    f"must be a number of seconds from {MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:.0f}, "
                    f"not {interval_s!r}",
                )
            return cls(None, float(interval_s), zone.key, to_iso(anchor))
        if not isinstance(cron, str) or len(cron) > _MAX_CRON_CHARS:
            raise InvalidInput.field(
                "cron", f"must be a cron expression of at most {_MAX_CRON_CHARS} characters"
            )
        expression = " ".join(cron.split())
        try:
            next(CronSim(expression, anchor.astimezone(zone)))  # parses it, and it must fire at least once
        except CronSimError as exc:
            raise InvalidInput.field(
                "cron",
                f"{exc} in {expression[:60]!r}: give 5 fields (minute hour day month weekday) or 6 with the "
                "seconds first",
            ) from None
        except StopIteration:
            raise InvalidInput.field("cron", f"{expression[:60]!r} never fires") from None
        return cls(expression, None, zone.key, to_iso(anchor))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first slot strictly after ``moment`` (UTC), or None if there is none."""
        if self.interval_s is not None:
            anchor, step = datetime.fromisoformat(self.anchor), self._step()
            if moment < anchor:
                return anchor + step
            return anchor + step * (_whole_steps(moment - anchor, step) + 1)
        assert self.cron is not None
        try:
            return next(CronSim(self.cron, moment.astimezone(self.zone))).astimezone(timezone.utc)
        except StopIteration:
            return None

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        """The last slot at or before ``moment`` (UTC), or None if there is none (before the first)."""
        if self.interval_s is not None:
            anchor, step = datetime.fromisoformat(self.anchor), self._step()
            steps = _whole_steps(moment - anchor, step) if moment >= anchor else 0
            return anchor + step * steps if steps >= 1 else None
        assert self.cron is not None
        try:
            # cronsim iterates strictly before its start: start just after ``moment`` to include it
            found = next(CronSim(self.cron, (moment + _ONE_US).astimezone(self.zone), reverse=True))
        except StopIteration:
            return None
        return found.astimezone(timezone.utc)

    def _step(self) -> timedelta:
        assert self.interval_s is not None
        return timedelta(microseconds=round(self.interval_s * 1_000_000))


def _whole_steps(span: timedelta, step: timedelta) -> int:
    return math.floor(span / step)


def on_time_s(slot: datetime, following: datetime | None) -> float:
    """How late a slot may fire and still count as on time: :data:`ON_TIME_MAX_S`, or half the time to the
    slot after it if that is shorter (a per-second schedule is late after half a second)."""
    if following is None:
        return ON_TIME_MAX_S
    return min(ON_TIME_MAX_S, (following - slot).total_seconds() / 2)


# Fires kept per schedule (by every backend): the key only has to refuse a slot that could be due again,
# and next_fire_at only moves forward past the last slot fired; the rest are the history GET shows.
KEPT_FIRES = 1000


@dataclass(frozen=True, slots=True)
class FirePlan:
    """What a due schedule does now: fire ``slot`` (None: nothing), then wait for ``next_fire_at``."""

    slot: str | None
    next_fire_at: str | None  # None: the schedule has no slot left
    missed: bool  # slots passed that are not fired (skipped, or covered by the one catch-up run)


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A recurring schedule row. ``next_fire_at`` is the next slot it will fire (UTC ISO), kept while it is
    paused; ``last_slot`` and ``last_job_id`` the last slot it fired and the job that made."""

    id: str
    job_type: str
    input_data: Any
    title: str
    recurrence: Recurrence
    catch_up: CatchUp
    created_at: str
    updated_at: str
    next_fire_at: str | None
    priority: int = 0
    max_attempts: int = 3
    paused: bool = False
    last_slot: str | None = None
    last_job_id: str | None = None
    fire_count: int = 0
    username: str | None = None  # who made it (the jobs it fires are theirs); None: unknown

    @property
    def cron(self) -> str | None:
        return self.recurrence.cron

    @property
    def interval_s(self) -> float | None:
        return self.recurrence.interval_s

    @property
    def timezone(self) -> str:
        return self.recurrence.timezone

    def next_fire_times(self, count: int = 3) -> list[str]:
        """The next ``count`` slots it will fire, from ``next_fire_at`` (none while paused)."""
        if self.paused or self.next_fire_at is None:
            return []
        times = [self.next_fire_at]
        moment = datetime.fromisoformat(self.next_fire_at)
        while len(times) < count:
            following = self.recurrence.next_after(moment)
            if following is None:
                break
            times.append(to_iso(following))
            moment = following
        return times

    def job_for(self, slot: str, now: str) -> JobRecord:
        """The pending job that firing ``slot`` at ``now`` creates: the schedule's type, input, title,
        priority and attempts, submitted by the schedule's maker; its description names the schedule and
        the slot."""
        return JobRecord(
            id=new_job_id(),
            type=self.job_type,
            status=JobStatus.PENDING,
            title=self.title,
            description=f"schedule {self.id}, slot {slot}",
            input_data=self.input_data,
            progress=Progress(current_step="queued", timestamp=now, seq=1),
            created_at=now,
            updated_at=now,
            priority=self.priority,
            max_attempts=self.max_attempts,
            seq=1,
            username=self.username,
        )

    def resumed(self, now: datetime) -> ScheduleRecord:
        """Unpaused at ``now``: the slots that passed meanwhile are not caught up; the next is the first
        after ``now`` (and after the last one fired, should clocks disagree)."""
        since = now
        if self.last_slot is not None:
            since = max(now, datetime.fromisoformat(self.last_slot))
        following = self.recurrence.next_after(since)
        return replace(
            self,
            paused=False,
            updated_at=to_iso(now),
            next_fire_at=None if following is None else to_iso(following),
        )

    def to_dict(self) -> dict[str, Any]:
        """The wire form, with the next three fire times."""
        data = asdict(self)
        del data["recurrence"]
        data.update(
            cron=self.cron,
            interval_s=self.interval_s,
            timezone=self.timezone,
            catch_up=self.catch_up.value,
            next_fire_times=self.next_fire_times(),
        )
        return data


def plan_fire(schedule: ScheduleRecord, now: datetime) -> FirePlan:
    """What ``schedule``, due (``next_fire_at <= now``), does at ``now`` under its catch-up policy.

    The slot fired is the latest one at or before ``now``, and never one at or before ``last_slot``;
    ``skip`` fires it only if it is on time, ``once`` always. Either way the next fire time is the first
    slot after ``now``.
    """
    recurrence = schedule.recurrence
    latest = recurrence.latest_at_or_before(now)
    following = recurrence.next_after(now)
    next_fire_at = None if following is None else to_iso(following)
    due_from = datetime.fromisoformat(schedule.next_fire_at) if schedule.next_fire_at else now
    if latest is None or latest < due_from:
        return FirePlan(None, next_fire_at, missed=False)  # not due after all (a clock moved back)
    if schedule.last_slot is not None and latest <= datetime.fromisoformat(schedule.last_slot):
        return FirePlan(None, next_fire_at, missed=False)
    missed = latest > due_from  # slots between the one due and the latest passed unfired
    on_time = (now - latest).total_seconds() <= on_time_s(latest, following)
    if on_time or schedule.catch_up is CatchUp.ONCE:
        return FirePlan(to_iso(latest), next_fire_at, missed=missed)
    return FirePlan(None, next_fire_at, missed=True)


@dataclass(frozen=True, slots=True)
class ScheduleFire:
    """One slot a schedule fired: when, and the job it created."""

    schedule_id: str
    slot: str
    job_id: str
    fired_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FiredSlot:
    """What firing a due schedule did: the ``slot`` fired and the ``job`` it created (both None when no
    slot was fired), and whether slots passed unfired (``missed``: skipped, or folded into a catch-up)."""

    schedule_id: str
    slot: str | None
    job: JobRecord | None
    missed: bool
