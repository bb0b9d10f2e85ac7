"""The recurring-schedule methods of both backends (the ``Backend`` protocol's schedule section), mixed into
:class:`~lpe_nb.client.EmbeddedBackend` (this process's engine) and :class:`~lpe_nb.client.RemoteBackend`
(``lpe/api/schedules`` on a server)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from lpe_nb.jobs.recurrence import ScheduleFire, ScheduleRecord

from ._backend import ScheduleOptions
from ._host import EngineHost
from ._schedule import fire_from_dict, schedule_from_dict

__all__ = ["EmbeddedSchedules", "RemoteSchedules"]

_RECENT_FIRES = 20


class EmbeddedSchedules:
    """``manager.schedules`` of the host's engine, called on the host's loop."""

    host: EngineHost

    async def create_schedule(
        self, job_type: str, data: dict[str, Any], options: ScheduleOptions
    ) -> ScheduleRecord:
        schedules = self.host.engine.manager.schedules
        return await self.host.thread.hop(
            schedules.create(
                job_type,
                data,
                cron=options.cron,
                interval_s=options.interval_s,
                timezone=options.timezone,
                catch_up=options.catch_up,
                title=options.title,
                priority=options.priority or 0,
                max_attempts=options.max_attempts,
            )
        )

    async def list_schedules(self) -> list[ScheduleRecord]:
        return await self.host.thread.hop(self.host.engine.manager.schedules.list())

    async def get_schedule(self, schedule_id: str) -> tuple[ScheduleRecord, list[ScheduleFire]]:
        schedules = self.host.engine.manager.schedules

        async def read() -> tuple[ScheduleRecord, list[ScheduleFire]]:
            return await schedules.get(schedule_id), await schedules.fires(schedule_id, _RECENT_FIRES)

        return await self.host.thread.hop(read())

    async def set_schedule_paused(self, schedule_id: str, paused: bool) -> ScheduleRecord:
        schedules = self.host.engine.manager.schedules
        change = schedules.pause if paused else schedules.resume
        return await self.host.thread.hop(change(schedule_id))

    async def delete_schedule(self, schedule_id: str) -> None:
        await self.host.thread.hop(self.host.engine.manager.schedules.delete(schedule_id))


class RemoteSchedules:
    """``lpe/api/schedules`` through the remote backend's ``_request``."""

    async def _request(self, method: str, path: str, *, body: Any = None, query: str = "") -> Any:
        raise NotImplementedError  # RemoteBackend's

    async def create_schedule(
        self, job_type: str, data: dict[str, Any], options: ScheduleOptions
    ) -> ScheduleRecord:
        body: dict[str, Any] = {"job_type": job_type, "input": data}
        body.update({name: value for name, value in asdict(options).items() if value is not None})
        return schedule_from_dict(await self._request("POST", "schedules", body=body))

    async def list_schedules(self) -> list[ScheduleRecord]:
        data = await self._request("GET", "schedules")
        return [schedule_from_dict(item) for item in data["schedules"]]

    async def get_schedule(self, schedule_id: str) -> tuple[ScheduleRecord, list[ScheduleFire]]:
        data = await self._request("GET", f"schedules/{quote(schedule_id, safe='')}")
        return schedule_from_dict(data), [fire_from_dict(fire) for fire in data.get("recent_fires", [])]

    async def set_schedule_paused(self, schedule_id: str, paused: bool) -> ScheduleRecord:
        path = f"schedules/{quote(schedule_id, safe='')}"
        return schedule_from_dict(await self._request("PATCH", path, body={"paused": paused}))

    async def delete_schedule(self, schedule_id: str) -> None:
        await self._request("DELETE", f"schedules/{quote(schedule_id, safe='')}")
