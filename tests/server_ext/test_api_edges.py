"""The API's edges as a newcomer meets them: every refusal is a JSON error that says what to do, an id is
never echoed whole, an unknown filter is an error, and a cancel says whether the job has ended."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse

from lpe_nb.jobs import JobStatus
from lpe_nb.server_ext.engine import ServerEngine
from tests.server_ext.conftest import INPUTS, Api

ERROR_KEYS = {"error", "message", "fields", "details"}


async def _fetch(
    client: Any, base_url: str, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[HTTPResponse, dict[str, Any]]:
    if body is None and method in ("POST", "PUT", "PATCH"):
        body = b"{}"
    response = await client.fetch(
        f"{base_url}lpe/api/{path}", method=method, headers=headers, body=body, raise_error=False
    )
    assert response.headers["Content-Type"].startswith("application/json"), response.body[:200]
    return response, json.loads(response.body)


# -- authentication ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "token not-the-token"}], ids=["none", "wrong"])
async def test_a_post_without_a_valid_token_is_the_same_json_403_as_a_get(
    http_server_client: Any, jp_base_url: str, engine: ServerEngine, headers: dict[str, str]
) -> None:
    got, get_body = await _fetch(http_server_client, jp_base_url, "GET", "jobs", headers)
    posted, post_body = await _fetch(
        http_server_client,
        jp_base_url,
        "POST",
        "projection/create",
        headers,
        json.dumps(INPUTS["projection/create"]).encode(),
    )
    assert got.code == posted.code == 403
    assert post_body == get_body
    assert set(post_body) == ERROR_KEYS and post_body["error"] == "forbidden"
    assert "_xsrf" not in post_body["message"]
    assert "token" in post_body["message"]


# -- unknown routes and methods --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "nope"), ("POST", "jobs/x/y/z"), ("DELETE", "projection"), ("GET", ""), ("PUT", "nope/deeper")],
)
async def test_an_unknown_api_route_is_a_json_404(
    http_server_client: Any,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    engine: ServerEngine,
    method: str,
    path: str,
) -> None:
    response, body = await _fetch(http_server_client, jp_base_url, method, path, jp_auth_header)
    assert response.code == 404
    assert set(body) == ERROR_KEYS and body["error"] == "not_found"
    assert "lpe/api/openapi.json" in body["message"]


async def test_an_unknown_api_route_without_a_token_is_403(
    http_server_client: Any, jp_base_url: str, engine: ServerEngine
) -> None:
    response, body = await _fetch(http_server_client, jp_base_url, "GET", "nope", {})
    assert response.code == 403 and body["error"] == "forbidden"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "jobs"),
        ("PUT", "jobs/abc"),
        ("DELETE", "status"),
        ("GET", "projection/create"),
        ("POST", "catalog"),
    ],
)
async def test_a_wrong_method_is_a_json_405(
    http_server_client: Any,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    engine: ServerEngine,
    method: str,
    path: str,
) -> None:
    response, body = await _fetch(http_server_client, jp_base_url, method, path, jp_auth_header)
    assert response.code == 405
    assert set(body) == ERROR_KEYS and body["error"] == "method_not_allowed"


# -- filters and ids -------------------------------------------------------------------------------------------


async def test_an_unknown_type_filter_is_400_naming_the_known_types(api: Api) -> None:
    code, error = await api("GET", "jobs", params={"type": "nope"})
    assert code == 400
    assert error["error"] == "unknown_job_type"
    assert "projection" in error["details"]["known"] and "projection" in error["message"]


@pytest.mark.parametrize("status", ["", ",", "running,", " "])
async def test_an_empty_status_filter_is_400_not_any_status(api: Api, status: str) -> None:
    # Found by the fuzzer: `status=` was read as "no filter" while the document allows only statuses.
    code, error = await api("GET", "jobs", params={"status": status})
    assert code == 400 and error["error"] == "invalid_input" and "status" in error["fields"]


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "jobs/{}"), ("DELETE", "jobs/{}"), ("POST", "jobs/{}/cancel")]
)
async def test_a_huge_or_odd_id_is_404_without_being_echoed(api: Api, method: str, path: str) -> None:
    for job_id in ("a" * 10_000, "x" * 65, "a'b<c>"):
        code, error = await api(method, path.format(job_id))
        assert code == 404, (job_id[:20], error)
        assert error["error"] == "job_not_found"
        assert len(json.dumps(error)) < 500


# -- cancel ------------------------------------------------------------------------------------------------------


async def _running(engine: ServerEngine, job_id: str) -> None:
    manager = (await engine.ready()).manager
    with await manager.subscribe([job_id]) as sub:
        while (await sub.get(timeout_s=10)).status is not JobStatus.RUNNING:
            pass


@pytest.mark.parametrize("mock_latency_s", [2.0])
async def test_cancelling_a_running_job_waits_briefly_and_answers_it_cancelled(
    api: Api, engine: ServerEngine
) -> None:
    _code, accepted = await api("POST", "projection/create", body=INPUTS["projection/create"])
    await _running(engine, accepted["job_id"])
    code, job = await api("POST", f"jobs/{accepted['job_id']}/cancel")
    assert code == 200
    assert job["status"] == "cancelled"


@pytest.mark.parametrize("mock_latency_s", [2.0])
async def test_a_cancel_not_waited_for_is_202_with_cancel_requested(api: Api, engine: ServerEngine) -> None:
    _code, accepted = await api("POST", "projection/create", body=INPUTS["projection/create"])
    await _running(engine, accepted["job_id"])
    code, job = await api("POST", f"jobs/{accepted['job_id']}/cancel", body={"wait": 0})
    assert code == 202
    assert (job["status"], job["cancel_requested"]) == ("running", True)
    manager = (await engine.ready()).manager
    assert (await manager.wait(accepted["job_id"], timeout_s=10)).status is JobStatus.CANCELLED


async def test_a_cancel_wait_out_of_bounds_is_400_naming_wait(api: Api) -> None:
    code, error = await api("POST", "jobs/abc/cancel", body={"wait": 600})
    assert code == 400 and list(error["fields"]) == ["wait"]


@pytest.mark.parametrize(
    "params",
    [[("wait", "soon")], [("wait", "1"), ("wait", "2")], [("max_attempts", "x")]],
    ids=["bad", "twice", "attempts"],
)
async def test_a_bad_query_option_is_refused_even_when_the_body_has_one(
    api: Api, params: list[tuple[str, str]]
) -> None:
    body = {**INPUTS["projection/create"], "wait": 1, "max_attempts": 2}
    code, error = await api("POST", "projection/create", body=body, params=params)
    assert code == 400 and list(error["fields"]) == [params[0][0]], error


async def test_a_405_names_the_methods_the_route_has(
    http_server_client: Any, jp_base_url: str, jp_auth_header: dict[str, str], engine: ServerEngine
) -> None:
    response, _body = await _fetch(http_server_client, jp_base_url, "PUT", "jobs/abc", jp_auth_header)
    assert response.code == 405 and response.headers["Allow"] == "DELETE, GET, PATCH"
