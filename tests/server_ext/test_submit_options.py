"""The submit routes' options read once (body or query, validated together) and the 202 built from the id.

The per-type route takes ``wait``, ``max_attempts``, ``priority``, ``run_at``, ``delay_s`` and ``cache`` from
the body or the query and validates them in one pass (issue 16: a cheaper submit path); these tests pin
what that pass must still refuse and what the job gets. The 202 is ``{job_id, status: "pending"}`` without
reading the row back: the job was stored pending, and a GET right after finds it.
"""

from __future__ import annotations

import pytest

from tests.server_ext.conftest import INPUTS, Api

PROJECTION = INPUTS["projection/create"]


async def test_the_202_is_the_stored_job_pending(api: Api) -> None:
    code, submitted = await api("POST", "projection/create", body={**PROJECTION, "delay_s": 60})
    assert (code, set(submitted)) == (202, {"job_id", "status"}), submitted
    assert submitted["status"] == "pending"
    code, job = await api("GET", f"jobs/{submitted['job_id']}")
    assert (code, job["status"], job["type"]) == (200, "pending", "projection")
    assert job["input_data"]["narrative"] == PROJECTION["narrative"]


async def test_every_bad_option_of_the_body_is_named_at_once(api: Api) -> None:
    body = {**PROJECTION, "priority": "high", "max_attempts": 0, "wait": -1}
    code, error = await api("POST", "projection/create", body=body)
    assert code == 400, error
    assert set(error["fields"]) == {"priority", "max_attempts", "wait"}


async def test_options_from_the_body_and_the_query_reach_the_job(api: Api) -> None:
    params = {"priority": "5", "cache": "false"}
    code, submitted = await api(
        "POST", "projection/create", body={**PROJECTION, "max_attempts": 4, "delay_s": 30}, params=params
    )
    assert code == 202, submitted
    code, job = await api("GET", f"jobs/{submitted['job_id']}")
    assert (job["priority"], job["max_attempts"], job["cache"]) == (5, 4, False)
    assert job["scheduled_at"] is not None
    assert not {"priority", "max_attempts", "delay_s", "cache"} & set(job["input_data"])


async def test_the_body_wins_over_the_query_but_a_bad_query_value_is_refused(api: Api) -> None:
    code, submitted = await api(
        "POST", "projection/create", body={**PROJECTION, "priority": 3}, params={"priority": "2"}
    )
    assert code == 202, submitted
    code, job = await api("GET", f"jobs/{submitted['job_id']}")
    assert job["priority"] == 3
    code, error = await api(
        "POST", "projection/create", body={**PROJECTION, "priority": 3}, params={"priority": "99999"}
    )
    assert (code, list(error["fields"])) == (400, ["priority"]), error


@pytest.mark.parametrize("route", ["projection/create", "jobs"])
async def test_an_option_given_twice_in_the_query_is_refused(api: Api, route: str) -> None:
    body = PROJECTION if route != "jobs" else {"type": "projection", "input": PROJECTION}
    code, error = await api("POST", route, body=body, params=[("wait", "1"), ("wait", "2")])
    assert code == 400, error
    assert "more than once" in error["fields"]["wait"]


async def test_a_chain_option_is_still_checked_and_applied(api: Api) -> None:
    code, parent = await api("POST", "projection/create", body={**PROJECTION, "delay_s": 60})
    assert code == 202, parent
    code, child = await api(
        "POST", "projection/create", body={**PROJECTION, "depends_on": [parent["job_id"]]}
    )
    assert code == 202, child
    code, job = await api("GET", f"jobs/{child['job_id']}")
    assert job["depends_on"] == [parent["job_id"]] and job["waiting_on"] == 1
    code, error = await api("POST", "projection/create", body={**PROJECTION, "depends_on": "not-a-list"})
    assert (code, list(error["fields"])) == (400, ["depends_on"]), error
