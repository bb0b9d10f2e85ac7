"""Schedules: a database's recurring schedules (create, list, pause, resume, delete), and their firing.

Any manager on the database (a dispatcher or a peer) manages schedules; only the dispatching one fires
them. Its fire loop sleeps until the soonest ``next_fire_at`` (one index probe after each fire), fires
the due schedules through :meth:`JobStore.fire_due_schedules` (one transaction per batch: the slot's key,
its job, the next fire time), publishes the jobs it created and wakes the dispatcher. It wakes early when a
schedule changes here, or when another process commits (the change feed calls :meth:`Schedules.wake`), and
at least every :data:`MAX_SLEEP_S`: the timer runs on the loop's monotonic clock, which a suspended laptop
or a stepped wall clock leaves behind. Not thread-safe: use it on the manager's event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from lpe_nb._aio import wake_or_timeout
from lpe_nb.errors import InvalidInput, LpeError, ScheduleNotFound
from lpe_nb.jobs.events import EventBus, JobEvent
from lpe_nb.jobs.model import check_priority, to_iso
from lpe_nb.jobs.recurrence import (
    CatchUp,
    FiredSlot,
    Recurrence,
    ScheduleFire,
    ScheduleRecord,
    new_schedule_id,
)
from lpe_nb.jobs.registry import OperationRegistry
from lpe_nb.jobs.settings import ManagerSettings
from lpe_nb.jobs.store import JobStore

__all__ = ["MAX_SLEEP_S", "Schedules"]

log = logging.getLogger("lpe_nb.jobs.manager")  # the manager's logger

MAX_SLEEP_S = 60.0  # the fire loop looks again at least this often, whatever the next fire time
_FIRE_BATCH = 100  # schedules fired per transaction


class Schedules:
    """The recurring schedules of one manager's database (``manager.schedules``)."""

    def __init__(
        self,
        store: JobStore,
        registry: OperationRegistry,
        settings: ManagerSettings,
        events: EventBus,
        *,
        clock: Callable[[], datetime],
        wake_dispatcher: Callable[[], None],
        local_username: str | None = None,
    ) -> None:
        self.store = store
        self.local_username = local_username  # whose schedules a create without a username makes
        self.registry = registry
        self.settings = settings
        self.events = events
        self._clock = clock
        self._wake_dispatcher = wake_dispatcher
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    # -- managing --------------------------------------------------------------------------------------

    async def create(
        self,
        job_type: str,
        input_data: Any = None,
        *,
        cron: str | None = None,
        interval_s: float | None = None,
        timezone: str = "UTC",
        catch_up: str | CatchUp = CatchUp.SKIP,
        title: str | None = None,
        priority: int = 0,
        max_attempts: int | None = None,
        username: str | None = None,
    ) -> ScheduleRecord:
        """A new schedule that submits a ``job_type`` job with ``input_data`` at each slot: every
        ``interval_s`` seconds from now, or each match of ``cron`` (5 fields, or 6 with the seconds first)
        in ``timezone`` (an IANA name). ``catch_up``: after downtime, ``"skip"`` the missed slots or run
        ``"once"``. The input is validated now, as at submit. ``username`` is who makes it (None: this
        process's user, as for a job): the jobs it fires are theirs, and the methods below given a
        ``username`` show and change only that user's schedules.

        Raises :class:`UnknownJobType`, or :class:`InvalidInput` naming the field (``input.<name>``,
        ``cron``, ``interval_s``, ``timezone``, ``catch_up``, ``priority``, ``max_attempts``).
        """
        now = self._clock()
        recurrence = Recurrence.checked(cron=cron, interval_s=interval_s, timezone_name=timezone, anchor=now)
        operation = self.registry.get(job_type)
        if operation.prepare is not None:
            await operation.prepare(input_data)
        try:
            parsed_input, stored_input = operation.validate(input_data)
            if operation.check is not None:
                await operation.check(parsed_input)
        except InvalidInput as exc:  # named as the schedule's field `input` holds them
            raise InvalidInput(
                {(n if n.startswith("input") else f"input.{n}"): problem for n, problem in exc.fields.items()}
            ) from exc
        check_priority(priority)
        try:
            policy = CatchUp(catch_up)
        except ValueError:
            raise InvalidInput.field("catch_up", f"must be 'skip' or 'once', not {catch_up!r}") from None
        attempts = (
            max_attempts if max_attempts is not None else operation.max_attempts or self.settings.max_attempts
        )
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
            raise InvalidInput.field("max_attempts", f"must be an integer from 1 to 100, not {attempts!r}")
        if title is not None and (not isinstance(title, str) or len(title) > 200):
            raise InvalidInput.field("title", "must be a string of at most 200 characters")
        first = recurrence.next_after(now)
        schedule = ScheduleRecord(
            id=new_schedule_id(),
            job_type=job_type,
            input_data=stored_input,
            title=title or operation.title_for(parsed_input),
            recurrence=recurrence,
            catch_up=policy,
            created_at=to_iso(now),
            updated_at=to_iso(now),
            next_fire_at=None if first is None else to_iso(first),
            priority=priority,
            max_attempts=attempts,
            username=self.local_username if username is None else username,
        )
        await self.store.insert_schedule(schedule)
        self.wake()
        return schedule

    # ``username`` below: the schedule must be that user's, else ScheduleNotFound, the same as for an id
    # that does not exist (as for jobs). None: any schedule (an admin, an embedded engine).

    async def get(self, schedule_id: str, *, username: str | None = None) -> ScheduleRecord:
        """The schedule; raises :class:`ScheduleNotFound`."""
        schedule = await self.store.get_schedule(schedule_id)
        if username is not None and schedule.username != username:
            raise ScheduleNotFound(schedule_id)
        return schedule

    async def list(self, *, username: str | None = None) -> builtins.list[ScheduleRecord]:
        """Every schedule (with ``username``, that user's), oldest first."""
        return await self.store.list_schedules(username=username)

    async def pause(self, schedule_id: str, *, username: str | None = None) -> ScheduleRecord:
        """Stop firing it until :meth:`resume`; idempotent. Raises :class:`ScheduleNotFound`."""
        await self._check_owner(schedule_id, username)
        schedule = await self.store.set_schedule_paused(schedule_id, True, now=self._clock())
        self.wake()
        return schedule

    async def resume(self, schedule_id: str, *, username: str | None = None) -> ScheduleRecord:
        """Fire it again from the next slot to come (the slots that passed while it was paused are not
        caught up); idempotent. Raises :class:`ScheduleNotFound`."""
        await self._check_owner(schedule_id, username)
        schedule = await self.store.set_schedule_paused(schedule_id, False, now=self._clock())
        self.wake()
        return schedule

    async def delete(self, schedule_id: str, *, username: str | None = None) -> None:
        """Delete it (the jobs it created stay). Raises :class:`ScheduleNotFound`."""
        await self._check_owner(schedule_id, username)
        await self.store.delete_schedule(schedule_id)
        self.wake()

    async def fires(
        self, schedule_id: str, limit: int = 20, *, username: str | None = None
    ) -> builtins.list[ScheduleFire]:
        """Its latest fires (slot, job id, when), newest first. Raises :class:`ScheduleNotFound`."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput.field("limit", f"must be an integer from 1 to 1000, not {limit!r}")
        await self._check_owner(schedule_id, username)
        return await self.store.list_schedule_fires(schedule_id, limit=limit)

    async def _check_owner(self, schedule_id: str, username: str | None) -> None:
        # A schedule's maker never changes, so checking before the change (another transaction) is safe.
        if username is not None:
            await self.get(schedule_id, username=username)

    # -- firing (the dispatching manager) --------------------------------------------------------------

    def wake(self) -> None:
        """Look at the due schedules and the next fire time now (a schedule changed, here or elsewhere)."""
        self._wake.set()

    async def fire_due(self) -> builtins.list[FiredSlot]:
        """Fire every schedule due at the engine's clock now (catch-up policies applied), publish the jobs
        created and wake the dispatcher; returns what each due schedule did."""
        done: builtins.list[FiredSlot] = []
        while True:
            batch = await self.store.fire_due_schedules(self._clock(), limit=_FIRE_BATCH)
            done += batch
            for fired in batch:
                if fired.job is not None:
                    self.events.publish(JobEvent.status_of(fired.job))
                elif fired.missed:
                    log.info(
                        "schedule %s: slots missed while no dispatcher ran were skipped", fired.schedule_id
                    )
            if len(batch) < _FIRE_BATCH:
                break
        if any(fired.job is not None for fired in done):
            self._wake_dispatcher()
        return done

    def start(self) -> None:
        """Start firing (the dispatching manager, once it holds the role)."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._fire_loop(), name="lpe-schedules")

    async def stop(self) -> None:
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _fire_loop(self) -> None:
        while True:
            self._wake.clear()  # before reading: a change made while we read wakes the next wait
            delay_s: float | None = self.settings.poll_interval_s  # after a failure
            try:
                await self.fire_due()
                delay_s = self._seconds_until(await self.store.next_schedule_fire_at())
            except LpeError:
                log.exception("firing the recurring schedules failed; retrying")
            await wake_or_timeout(self._wake, delay_s)

    def _seconds_until(self, next_fire_at: str | None) -> float:
        if next_fire_at is None:
            return MAX_SLEEP_S
        left_s = (datetime.fromisoformat(next_fire_at) - self._clock()).total_seconds()
        # A hair past the slot: a timer that fires a millisecond early would find nothing due.
        return min(MAX_SLEEP_S, max(0.0, left_s) + 0.001)
