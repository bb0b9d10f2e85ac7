"""A job's own ``max_attempts`` through REST, and the shared LLM rate limits in ``lpe/api/status``."""

from __future__ import annotations

import pytest

from lpe_nb.llm.rate_limit import limiter_for
from tests.server_ext.conftest import INPUTS, Api


@pytest.mark.parametrize("where", ["body", "query"])
async def test_max_attempts_is_a_submit_option_of_the_per_type_route(api: Api, where: str) -> None:
    body, params = dict(INPUTS["projection/create"]), {}
    if where == "body":
        body["max_attempts"] = 7
    else:
        params["max_attempts"] = "7"
    code, submitted = await api("POST", "projection/create", body=body, params=params)
    assert code == 202, submitted
    code, job = await api("GET", f"jobs/{submitted['job_id']}")
    assert (code, job["max_attempts"]) == (200, 7)
    assert "max_attempts" not in job["input_data"]  # an option, not a field of the job


async def test_max_attempts_is_a_field_of_the_generic_submit(api: Api) -> None:
    body = {"type": "projection", "input": INPUTS["projection/create"], "max_attempts": 2}
    code, submitted = await api("POST", "jobs", body=body)
    assert code == 202, submitted
    code, job = await api("GET", f"jobs/{submitted['job_id']}")
    assert job["max_attempts"] == 2


@pytest.mark.parametrize("value", [0, 101, "3", 2.5, True])
async def test_a_bad_max_attempts_is_refused_naming_it(api: Api, value: object) -> None:
    code, error = await api(
        "POST", "projection/create", body={**INPUTS["projection/create"], "max_attempts": value}
    )
    assert code == 400, error
    assert list(error["fields"]) == ["max_attempts"]


async def test_a_bad_max_attempts_in_the_query_is_refused_naming_it(api: Api) -> None:
    code, error = await api(
        "POST", "projection/create", body=INPUTS["projection/create"], params={"max_attempts": "x"}
    )
    assert code == 400, error
    assert list(error["fields"]) == ["max_attempts"]


async def test_status_shows_the_shared_rate_limits(api: Api) -> None:
    limiter = limiter_for("http://llm.status.test/v1", "m", requests_per_minute=60, window_s=60)
    limiter.pause(5, "HTTP 429 from http://llm.status.test/v1")
    try:
        code, status = await api("GET", "status")
    finally:
        limiter.configure(requests_per_minute=None, tokens_per_minute=None, window_s=60)
    assert code == 200
    [shown] = [s for s in status["rate_limits"] if s["endpoint"] == "http://llm.status.test/v1"]
    assert (shown["model"], shown["requests_per_minute"], shown["tokens_per_minute"]) == ("m", 60, None)
    assert 0 < shown["paused_for_s"] <= 5
    assert shown["pause_reason"] == "HTTP 429 from http://llm.status.test/v1"
    assert shown["paused_until"] is not None
