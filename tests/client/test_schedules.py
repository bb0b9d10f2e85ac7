"""Recurring schedules through both clients, on both backends (this process's engine, a real Jupyter
server): the same handles, the same fires, the same errors naming the field."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lpe_nb.client import AsyncClient, AsyncSchedule, Client, Schedule
from lpe_nb.errors import InvalidInput, ScheduleNotFound, UnknownJobType
from lpe_nb.llm.mock import MockLLM
from tests.client.contract import NARRATIVE, WAIT_S


@pytest.fixture(params=["embedded", "remote"])
def client(request: pytest.FixtureRequest) -> AsyncClient:
    client: AsyncClient = request.getfixturevalue(f"{request.param}_client")
    return client


async def fired(schedule: AsyncSchedule, count: int) -> AsyncSchedule:
    """The schedule once it has fired ``count`` slots, read again until then (a real condition, bounded)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            if (await schedule.refresh()).fire_count >= count:
                return schedule
            await asyncio.sleep(0.05)


async def test_a_schedule_fires_jobs_and_is_paused_resumed_and_deleted(client: AsyncClient) -> None:
    schedule = await client.schedule("projection", narrative=NARRATIVE, persona="critic", interval_s=1)
    assert isinstance(schedule, AsyncSchedule) and schedule.job_type == "projection"
    assert len(schedule.next_fire_times) == 3 and schedule.describe() == "every 1 s"
    await fired(schedule, 1)
    await schedule.pause()
    assert schedule.paused and schedule.next_fire_times == []
    await schedule.refresh()
    assert schedule.fires and schedule.fires[0].job_id == schedule.last_job_id
    job = await (await client.job(schedule.fires[0].job_id))
    assert job.data.description == f"schedule {schedule.id}, slot {schedule.fires[0].slot}"
    assert job.data.input_data["persona"] == "critic" and job.result["final_projection"]
    assert [s.id for s in await client.schedules()] == [schedule.id]
    await schedule.resume()
    assert not schedule.paused and len(schedule.next_fire_times) == 3
    again = await client.get_schedule(schedule.id)
    assert again.id == schedule.id and not again.paused
    assert (again.data.next_fire_at or "") >= (schedule.data.next_fire_at or "")  # a slot may pass meanwhile
    await schedule.delete()
    with pytest.raises(ScheduleNotFound):
        await client.get_schedule(schedule.id)
    assert await client.schedules() == []


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"cron": "0 25 * * *"}, "cron"),
        ({"cron": "0 9 * * *", "timezone": "Nowhere/Town"}, "timezone"),
        ({"cron": "0 9 * * *", "interval_s": 60}, "interval_s"),
        ({"interval_s": 60, "catch_up": "twice"}, "catch_up"),
        ({"interval_s": 60, "persona": "poet"}, "input.persona"),
    ],
)
async def test_a_bad_schedule_names_its_field_on_every_backend(
    client: AsyncClient, options: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        await client.schedule("projection", narrative=NARRATIVE, **options)  # type: ignore[arg-type]
    assert list(info.value.fields) == [field]
    with pytest.raises(UnknownJobType):
        await client.schedule("poem", interval_s=60)


def test_the_sync_client_has_the_same_schedules(tmp_path: Path) -> None:
    with Client.embedded(tmp_path / "sync.db", llm=MockLLM()) as client:
        schedule = client.schedule(
            "translation",
            text=NARRATIVE,
            intermediate_language="german",
            cron="0 9 * * 1-5",
            timezone="Asia/Tokyo",
        )
        assert isinstance(schedule, Schedule) and "cron '0 9 * * 1-5' (Asia/Tokyo)" in repr(schedule)
        assert all(
            moment.hour == 0 and moment.weekday() < 5 for moment in schedule.next_fire_times
        )  # 9:00 JST
        assert schedule.pause().paused and [s.paused for s in client.schedules()] == [True]
        assert not schedule.resume().paused
        assert client.get_schedule(schedule.id).fire_count == 0
        schedule.delete()
        assert client.schedules() == []
