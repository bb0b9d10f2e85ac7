"""A job's ``priority`` through REST: a submit option of both submit routes, changeable while pending.

The server here never dispatches (``dispatch="never"``), so its jobs stay pending for as long as a test
needs; the queue's order is then read with the store's own claim on the same database file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lpe_nb.jobs import open_store
from lpe_nb.jobs.model import to_iso, utc_now
from tests.server_ext.conftest import INPUTS, Api

PROJECTION = INPUTS["projection/create"]


@pytest.fixture
def lpe_dispatch() -> str:
    return "never"


async def submit(api: Api, priority: int | None = None) -> str:
    body = {"type": "projection", "input": PROJECTION}
    if priority is not None:
        body["priority"] = priority
    code, submitted = await api("POST", "jobs", body=body)
    assert code == 202, submitted
    job_id: str = submitted["job_id"]
    return job_id


async def claim_order(lpe_db: Path) -> list[str]:
    now = utc_now()
    async with open_store(lpe_db) as store:
        claimed = await store.claim_pending("test", to_iso(now), to_iso(now), 100)
    return [job.id for job, _ in claimed]


@pytest.mark.parametrize("where", ["body", "query"])
async def test_priority_is_a_submit_option_of_the_per_type_route(api: Api, where: str) -> None:
    body, params = dict(PROJECTION), {}
    if where == "body":
        body["priority"] = 7
    else:
        params["priority"] = "7"
    code, submitted = await api("POST", "projection/create", body=body, params=params)
    assert code == 202, submitted
    code, job = await api("GET", f"jobs/{submitted['job_id']}")
    assert (code, job["priority"]) == (200, 7)
    assert "priority" not in job["input_data"]  # an option, not a field of the job


async def test_a_high_priority_job_overtakes_the_queued_ones(api: Api, lpe_db: Path) -> None:
    first, second = await submit(api), await submit(api)
    urgent = await submit(api, priority=10)
    later = await submit(api, priority=-5)
    assert await claim_order(lpe_db) == [urgent, first, second, later]


async def test_a_pending_jobs_priority_can_be_changed(api: Api, lpe_db: Path) -> None:
    first, second = await submit(api), await submit(api)
    code, job = await api("PATCH", f"jobs/{second}", body={"priority": 3})
    assert (code, job["priority"], job["status"]) == (200, 3, "pending")
    code, job = await api("GET", f"jobs/{second}")
    assert job["priority"] == 3
    assert await claim_order(lpe_db) == [second, first]


async def test_only_a_pending_job_can_be_reprioritised(api: Api) -> None:
    job_id = await submit(api)
    code, _job = await api("POST", f"jobs/{job_id}/cancel")
    assert code == 200
    code, error = await api("PATCH", f"jobs/{job_id}", body={"priority": 3})
    assert (code, error["error"]) == (409, "invalid_transition")
    code, error = await api("PATCH", "jobs/no-such-job", body={"priority": 3})
    assert (code, error["error"]) == (404, "job_not_found")


@pytest.mark.parametrize("value", [1001, -1001, "3", 2.5, True, None])
async def test_a_bad_priority_is_refused_naming_it(api: Api, value: object) -> None:
    if value is not None:
        code, error = await api("POST", "projection/create", body={**PROJECTION, "priority": value})
        assert (code, list(error["fields"])) == (400, ["priority"]), error
        code, error = await api(
            "POST", "jobs", body={"type": "projection", "input": PROJECTION, "priority": value}
        )
        assert (code, list(error["fields"])) == (400, ["priority"]), error
    job_id = await submit(api)
    code, error = await api("PATCH", f"jobs/{job_id}", body={"priority": value})
    assert (code, list(error["fields"])) == (400, ["priority"]), error


async def test_a_bad_priority_in_the_query_is_refused_naming_it(api: Api) -> None:
    code, error = await api("POST", "projection/create", body=PROJECTION, params={"priority": "high"})
    assert (code, list(error["fields"])) == (400, ["priority"]), error


async def test_a_patch_takes_only_a_priority(api: Api) -> None:
    job_id = await submit(api)
    code, error = await api("PATCH", f"jobs/{job_id}", body={"priority": 1, "title": "x"})
    assert (code, list(error["fields"])) == (400, ["title"]), error
    code, error = await api("PATCH", f"jobs/{job_id}", body={})
    assert (code, list(error["fields"])) == (400, ["priority"]), error
