"""The engine's figures on a real server: ``lpe/api/metrics`` (JSON, in the OpenAPI document) and the
server's own ``/metrics`` (Prometheus), which needs the token like the rest of the server."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lpe_nb.server_ext.engine import ServerEngine
from tests.server_ext.conftest import INPUTS, Api
from tests.server_ext.test_openapi import _reply_schema


async def _scrape(jp_fetch: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The server's /metrics, with the token: sample (name, labels) -> value."""
    response = await jp_fetch("metrics")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.body.decode())
        for sample in family.samples
    }


async def test_the_counters_move_on_the_servers_metrics_after_a_job_runs(
    api: Api, jp_fetch: Any, engine: ServerEngine
) -> None:
    submitted = ("lpe_jobs_submitted_total", (("job_type", "projection"),))
    completed = ("lpe_jobs_finished_total", (("job_type", "projection"), ("status", "completed")))
    requests = ("lpe_llm_requests_total", (("model", "lpe-mock-1"), ("outcome", "ok")))
    before = await _scrape(jp_fetch)
    code, job = await api("POST", "projection/create", body={**INPUTS["projection/create"], "wait": 30})
    assert (code, job["status"]) == (200, "completed")
    after = await _scrape(jp_fetch)

    assert after[submitted] == before.get(submitted, 0) + 1
    assert after[completed] == before.get(completed, 0) + 1
    assert after[requests] >= before.get(requests, 0) + len(job["steps"])  # a mock call per step at least
    assert after[("lpe_jobs_pending", ())] == 0
    assert after[("lpe_jobs_running", ())] == 0
    ours = {name for name, _ in after if name.startswith("lpe_")}
    assert {"lpe_step_duration_seconds_count", "lpe_llm_input_tokens_total", "lpe_job_retries_total"} <= ours


async def test_the_json_figures_match_their_documented_schema(api: Api) -> None:
    code, job = await api("POST", "projection/create", body={**INPUTS["projection/create"], "wait": 30})
    assert code == 200
    _code, doc = await api("GET", "openapi.json")
    code, metrics = await api("GET", "metrics")
    assert code == 200
    jsonschema.validate(metrics, _reply_schema(doc, "/lpe/api/metrics", "get", 200))
    projection = metrics["job_types"]["projection"]
    assert (projection["submitted"], projection["finished"]) == (1, {"completed": 1})
    assert set(projection["steps"]) == {step["name"] for step in job["steps"]}
    assert metrics["llm_models"]["lpe-mock-1"]["input_tokens"] == job["result_data"]["usage"]["prompt_tokens"]
    assert metrics["jobs"]["by_status"]["completed"] == 1


@pytest.mark.parametrize("headers", [{}, {"Authorization": "token not-the-token"}])
async def test_the_servers_metrics_need_the_token(
    http_server_client: Any, jp_base_url: str, engine: ServerEngine, headers: dict[str, str]
) -> None:
    response = await http_server_client.fetch(f"{jp_base_url}metrics", headers=headers, raise_error=False)
    assert response.code == 403
    assert b"lpe_" not in (response.body or b"")


async def test_the_queue_depth_is_read_from_the_database_at_each_scrape(
    api: Api, jp_fetch: Any, engine: ServerEngine
) -> None:
    for _ in range(3):  # they wait an hour: pending all along
        code, _body = await api(
            "POST", "projection/create", body={**INPUTS["projection/create"], "delay_s": 3600}
        )
        assert code == 202
    assert (await _scrape(jp_fetch))[("lpe_jobs_pending", ())] == 3
    code, page = await api("GET", "jobs")
    await api("POST", f"jobs/{page['jobs'][0]['id']}/cancel")
    scraped = await _scrape(jp_fetch)
    assert scraped[("lpe_jobs_pending", ())] == 2
    assert scraped[("lpe_jobs_finished_total", (("job_type", "projection"), ("status", "cancelled")))] >= 1
