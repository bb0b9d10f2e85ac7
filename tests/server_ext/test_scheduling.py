"""Scheduled jobs through REST: ``run_at`` / ``delay_s`` at submit, a visible wait, a cancel meanwhile."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from tests.server_ext.conftest import INPUTS, Api

PROJECTION = INPUTS["projection/create"]


async def job_when(api: Api, job_id: str, predicate: object, timeout_s: float = 20) -> dict[str, object]:
    """The job once ``predicate(job)`` holds, polled through the API (a real condition, bounded)."""
    async with asyncio.timeout(timeout_s):
        while True:
            code, job = await api("GET", f"jobs/{job_id}")
            assert code == 200, job
            if predicate(job):  # type: ignore[operator]
                return job  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


async def test_a_delayed_job_starts_no_earlier_than_asked(api: Api) -> None:
    code, submitted = await api("POST", "projection/create", body={**PROJECTION, "delay_s": 1.0})
    assert code == 202, submitted
    code, job = await api("GET", f"jobs/{submitted['job_id']}")
    assert (job["status"], "delay_s" in job["input_data"]) == ("pending", False)
    scheduled_at = job["scheduled_at"]
    assert scheduled_at is not None
    done = await job_when(api, job["id"], lambda j: j["status"] == "completed")
    assert done["started_at"] >= scheduled_at and done["scheduled_at"] is None


async def test_run_at_takes_any_offset_and_is_stored_in_utc(api: Api) -> None:
    run_at = datetime.now(timezone(timedelta(hours=-5))) + timedelta(hours=1)
    body = {"type": "projection", "input": PROJECTION, "run_at": run_at.isoformat()}
    code, submitted = await api("POST", "jobs", body=body)
    assert code == 202, submitted
    code, job = await api("GET", f"jobs/{submitted['job_id']}")
    assert datetime.fromisoformat(job["scheduled_at"]) == run_at
    assert job["scheduled_at"].endswith("+00:00")
    code, cancelled = await api("POST", f"jobs/{job['id']}/cancel")
    assert (code, cancelled["status"], cancelled["started_at"]) == (200, "cancelled", None)


async def test_a_cancelled_scheduled_job_never_starts(api: Api) -> None:
    code, submitted = await api("POST", "projection/create", body=PROJECTION, params={"delay_s": "0.5"})
    assert code == 202, submitted
    job_id = submitted["job_id"]
    code, _ = await api("POST", f"jobs/{job_id}/cancel")
    assert code == 200
    # a job submitted after it with a longer delay runs: the scheduled time has long passed by then
    code, later = await api("POST", "projection/create", body={**PROJECTION, "delay_s": 0.7})
    await job_when(api, later["job_id"], lambda j: j["status"] == "completed")
    code, job = await api("GET", f"jobs/{job_id}")
    assert (job["status"], job["started_at"], job["attempts"]) == ("cancelled", None, 0)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"delay_s": -1}, "delay_s"),
        ({"delay_s": "5"}, "delay_s"),
        ({"delay_s": 10**9}, "delay_s"),
        ({"run_at": "2026-01-01T00:00:00"}, "run_at"),  # no offset: which timezone?
        ({"run_at": "tomorrow"}, "run_at"),
        ({"run_at": "2126-01-01T00:00:00Z"}, "run_at"),
        ({"run_at": "2026-01-01T00:00:00Z", "delay_s": 1}, "delay_s"),
    ],
)
async def test_a_bad_schedule_is_refused_naming_the_field(
    api: Api, options: dict[str, object], field: str
) -> None:
    for path, body in (
        ("projection/create", {**PROJECTION, **options}),
        ("jobs", {"type": "projection", "input": PROJECTION, **options}),
    ):
        code, error = await api("POST", path, body=body)
        assert (code, list(error["fields"])) == (400, [field]), (path, error)


async def test_the_schedule_options_are_documented(api: Api) -> None:
    _code, doc = await api("GET", "openapi.json")
    schemas = doc["components"]["schemas"]
    for path in ("/lpe/api/jobs", "/lpe/api/projection/create"):
        operation = doc["paths"][path]["post"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        properties = schemas[ref.rsplit("/", 1)[1]]["properties"]
        assert {"run_at", "delay_s"} <= set(properties), path
        assert {"run_at", "delay_s"} <= {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert "scheduled_at" in schemas["JobBody"]["properties"]
