"""``GET lpe/api/analytics`` on a real Jupyter server with the mock LLM: real jobs, their figures, and a
400 naming the field for each bad parameter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lpe_nb.jobs.model import to_iso, utc_now
from tests.server_ext.conftest import INPUTS, Api


async def run(api: Api, route: str) -> dict[str, object]:
    code, job = await api("POST", route, body=INPUTS[route], params={"wait": "30"})
    assert code == 200 and job["status"] == "completed", job
    return job  # type: ignore[no-any-return]


async def test_analytics_sums_the_jobs_the_server_ran_by_type(api: Api) -> None:
    projection = await run(api, "projection/create")
    translations = [await run(api, "translation/round-trip") for _ in range(2)]
    code, report = await api("GET", "analytics", params={"group_by": "type"})
    assert code == 200, report
    groups = {g["key"]["type"]: g for g in report["groups"]}
    assert set(groups) == {"projection", "translation"}
    assert (groups["projection"]["jobs"], groups["translation"]["jobs"]) == (1, 2)
    assert groups["translation"]["success_rate"] == 1.0
    tokens = sum(s["usage"]["total_tokens"] for s in projection["steps"])  # type: ignore[index, union-attr]
    assert groups["projection"]["total_tokens"] == tokens > 0
    assert groups["projection"]["cost_usd"] == 0.0  # the mock is free
    totals = report["totals"]
    assert totals["jobs"] == 3 and totals["key"] == {}
    assert totals["duration_p50_s"] is not None and totals["duration_p95_s"] >= totals["duration_p50_s"]
    assert len({projection["id"], *(j["id"] for j in translations)}) == 3
    soon, later = (to_iso(utc_now() + timedelta(hours=h)) for h in (1, 2))
    code, empty = await api("GET", "analytics", params={"since": soon, "until": later})
    assert code == 200 and empty["totals"]["jobs"] == 0


async def test_analytics_groups_by_several_names_comma_separated(api: Api) -> None:
    await run(api, "projection/create")
    code, report = await api("GET", "analytics", params={"group_by": "day,status,model"})
    assert code == 200, report
    assert report["group_by"] == ["day", "status", "model"]
    [group] = report["groups"]
    assert group["key"] == {"day": utc_now().date().isoformat(), "status": "completed", "model": "lpe-mock-1"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "colour"}, "group_by"),
        ({"group_by": "day,day"}, "group_by"),
        ({"group_by": ""}, "group_by"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-01T00:00:00"}, "since"),  # no offset
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "since"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),  # no UTC form
        ({"until": "0001-01-02T00:00:00Z"}, "until"),  # no 30 days before it
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it(api: Api, params: dict[str, str], field: str) -> None:
    code, error = await api("GET", "analytics", params=params)
    assert code == 400, error
    assert error["error"] == "invalid_input" and field in error["fields"], error


async def test_the_openapi_document_describes_analytics_and_the_cost_fields(api: Api) -> None:
    code, document = await api("GET", "openapi.json")
    assert code == 200
    operation = document["paths"]["/lpe/api/analytics"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"since", "until", "group_by"}
    schemas = document["components"]["schemas"]
    assert "cache_hit_rate" in schemas["AnalyticsGroupBody"]["properties"]
    assert "cost_usd" in schemas["JobBody"]["properties"]
    assert "cost_usd" in schemas["StepBody"]["properties"]
