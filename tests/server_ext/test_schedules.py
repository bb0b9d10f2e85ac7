"""Recurring schedules through REST on a real Jupyter server: create, list with the next fire times, read
with the latest fires, pause, resume, delete; 400s naming the field; the OpenAPI document describes them.

(A server subprocess stopped and restarted in the middle of a schedule: ``test_schedules_restart.py``.)
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.server_ext.conftest import INPUTS, Api

PROJECTION = INPUTS["projection/create"]
HOURLY = {"job_type": "projection", "input": PROJECTION, "cron": "0 * * * *", "timezone": "Europe/Paris"}


async def schedule_when(api: Api, schedule_id: str, predicate: Any, timeout_s: float = 20) -> dict[str, Any]:
    """The schedule once ``predicate(schedule)`` holds, polled through the API (a real condition, bounded)."""
    async with asyncio.timeout(timeout_s):
        while True:
            code, schedule = await api("GET", f"schedules/{schedule_id}")
            assert code == 200, schedule
            if predicate(schedule):
                return schedule  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


async def test_a_schedule_is_created_listed_paused_resumed_and_deleted(api: Api) -> None:
    code, made = await api("POST", "schedules", body={**HOURLY, "catch_up": "once", "priority": 3})
    assert code == 201, made
    assert (made["cron"], made["timezone"], made["catch_up"], made["paused"]) == (
        "0 * * * *", "Europe/Paris", "once", False,
    )  # fmt: skip
    times = [datetime.fromisoformat(t) for t in made["next_fire_times"]]
    assert len(times) == 3 and times[1] - times[0] == timedelta(hours=1) and times[0].minute == 0
    assert made["input_data"]["narrative"] == PROJECTION["narrative"] and made["priority"] == 3
    code, listed = await api("GET", "schedules")
    assert code == 200 and [s["id"] for s in listed["schedules"]] == [made["id"]]
    assert listed["schedules"][0]["next_fire_times"] == made["next_fire_times"]

    code, paused = await api("PATCH", f"schedules/{made['id']}", body={"paused": True})
    assert (code, paused["paused"], paused["next_fire_times"]) == (200, True, [])
    code, resumed = await api("PATCH", f"schedules/{made['id']}", body={"paused": False})
    assert (code, resumed["paused"], resumed["next_fire_times"]) == (200, False, made["next_fire_times"])

    code, read = await api("GET", f"schedules/{made['id']}")
    assert (code, read["recent_fires"], read["fire_count"]) == (200, [], 0)
    code, _ = await api("DELETE", f"schedules/{made['id']}")
    assert code == 204
    for method, body in (("GET", None), ("PATCH", {"paused": True}), ("DELETE", None)):
        code, error = await api(method, f"schedules/{made['id']}", body=body)
        assert (code, error["error"]) == (404, "schedule_not_found"), method
    code, listed = await api("GET", "schedules")
    assert listed["schedules"] == []


async def test_an_interval_schedule_fires_jobs_that_name_it(api: Api) -> None:
    body = {"job_type": "projection", "input": PROJECTION, "interval_s": 1}
    code, made = await api("POST", "schedules", body=body)
    assert code == 201, made
    fired = await schedule_when(api, made["id"], lambda s: s["fire_count"] >= 2)
    code, _ = await api("PATCH", f"schedules/{made['id']}", body={"paused": True})
    stopped = await schedule_when(api, made["id"], lambda s: s["paused"])
    fires = stopped["recent_fires"]
    assert len(fires) == stopped["fire_count"] >= 2 and fires[0]["job_id"] == stopped["last_job_id"]
    assert len({fire["slot"] for fire in fires}) == len(fires)
    for fire in fires:
        code, job = await api("GET", f"jobs/{fire['job_id']}")
        assert code == 200 and job["description"] == f"schedule {made['id']}, slot {fire['slot']}"
        assert job["type"] == "projection" and job["input_data"]["persona"] == "critic"
    assert fired["fire_count"] >= 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**HOURLY, "cron": "61 * * * *"}, "cron"),
        ({**HOURLY, "cron": "every hour"}, "cron"),
        ({**HOURLY, "timezone": "Mars/Olympus"}, "timezone"),
        ({**HOURLY, "interval_s": 60}, "interval_s"),  # both
        ({"job_type": "projection", "input": PROJECTION}, "cron"),  # neither
        ({"job_type": "projection", "input": PROJECTION, "interval_s": 0.1}, "interval_s"),
        ({"job_type": "projection", "input": PROJECTION, "interval_s": "60"}, "interval_s"),
        ({**HOURLY, "catch_up": "later"}, "catch_up"),
        ({**HOURLY, "input": {**PROJECTION, "persona": "poet"}}, "input.persona"),
        ({**HOURLY, "input": {"persona": "critic"}}, "input.narrative"),
        ({**HOURLY, "paused": True}, "paused"),
        ({**HOURLY, "priority": 10**6}, "priority"),
        ({key: value for key, value in HOURLY.items() if key != "job_type"}, "job_type"),
    ],
)
async def test_a_bad_schedule_is_a_400_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    code, error = await api("POST", "schedules", body=body)
    assert (code, error["error"], list(error["fields"])) == (400, "invalid_input", [field]), error
    _code, listed = await api("GET", "schedules")
    assert listed["schedules"] == []


async def test_an_unknown_job_type_or_a_bad_patch_is_a_400(api: Api) -> None:
    code, error = await api("POST", "schedules", body={**HOURLY, "job_type": "poem"})
    assert (code, error["error"], error["details"]["job_type"]) == (400, "unknown_job_type", "poem")
    code, made = await api("POST", "schedules", body=HOURLY)
    for patch in ({"paused": "yes"}, {}, {"paused": True, "cron": "* * * * *"}):
        code, error = await api("PATCH", f"schedules/{made['id']}", body=patch)
        assert code == 400 and error["error"] == "invalid_input", patch
    code, error = await api("GET", "schedules/not-a-schedule")
    assert (code, error["error"]) == (404, "schedule_not_found")


async def test_the_schedules_are_in_the_openapi_document(api: Api) -> None:
    _code, doc = await api("GET", "openapi.json")
    schemas, paths = doc["components"]["schemas"], doc["paths"]
    assert set(paths["/lpe/api/schedules"]) == {"get", "post"}
    assert set(paths["/lpe/api/schedules/{schedule_id}"]) == {"get", "patch", "delete"}
    request = schemas["ScheduleRequest"]["properties"]
    assert {"job_type", "input", "cron", "interval_s", "timezone", "catch_up"} <= set(request)
    assert "next_fire_times" in schemas["ScheduleBody"]["properties"]
    assert "recent_fires" in schemas["ScheduleWithFiresBody"]["properties"]
    assert schemas["SchedulePatchRequest"]["required"] == ["paused"]
