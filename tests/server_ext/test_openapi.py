"""The OpenAPI document describes exactly the routes the server serves, is a valid OpenAPI 3.1 document,
and its reply schemas are those the server's replies validate against."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_spec

from lpe_nb.server_ext.handlers import rest_routes
from lpe_nb.server_ext.openapi import handler_methods
from lpe_nb.server_ext.ws import JobsWebSocket
from tests.server_ext.conftest import INPUTS, Api
from tests.server_ext.routes import served_routes


async def test_document_lists_exactly_the_served_routes(
    api: Api, jp_serverapp: Any, jp_base_url: str
) -> None:
    code, doc = await api("GET", "openapi.json")
    assert code == 200
    assert doc["openapi"].startswith("3.")
    documented = {
        (re.sub(r"\{\w+\}", "x", path), method)
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = set()
    for path, handler in served_routes(jp_serverapp.web_app):
        if handler is JobsWebSocket:
            continue
        served |= {("/" + path.removeprefix(jp_base_url), method) for method in handler_methods(handler)}
    assert documented == served


def test_route_table_declares_the_methods_each_handler_implements() -> None:
    for route in rest_routes():
        assert set(route.operations) == handler_methods(route.handler), route.path


async def test_create_routes_carry_their_input_schemas(api: Api) -> None:
    _code, doc = await api("GET", "openapi.json")
    schemas = doc["components"]["schemas"]
    body = doc["paths"]["/lpe/api/projection/create"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    projection = schemas[ref.rsplit("/", 1)[1]]
    assert "narrative" in projection["required"]
    assert projection.get("additionalProperties") is False
    for item in doc["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                for media in response.get("content", {}).values():
                    assert media["schema"]["$ref"].rsplit("/", 1)[1] in schemas


async def test_document_is_valid_openapi_3_1(api: Api) -> None:
    _code, doc = await api("GET", "openapi.json")
    assert doc["openapi"] == "3.1.0"
    validate_spec(doc)


async def test_every_operation_documents_its_replies_and_403_and_503(api: Api) -> None:
    _code, doc = await api("GET", "openapi.json")
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert {"403", "503"} <= statuses, (method, path)
            assert statuses & {"200", "201", "202", "204"}, (method, path)
            for status, response in operation["responses"].items():
                if status != "204" and not (path.endswith("openapi.json") and status == "200"):
                    assert response["content"]["application/json"]["schema"]["$ref"], (method, path, status)


async def test_statuses_are_the_ones_each_route_can_answer(api: Api) -> None:
    _code, doc = await api("GET", "openapi.json")
    paths = doc["paths"]

    def statuses(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    assert statuses("/lpe/api/jobs", "get") == {"200", "400", "403", "503"}
    assert statuses("/lpe/api/projection/create", "post") == {"200", "202", "400", "403", "413", "429", "503"}
    assert statuses("/lpe/api/jobs/{job_id}", "get") == {"200", "403", "404", "503"}
    assert statuses("/lpe/api/jobs/{job_id}", "delete") == {"204", "403", "404", "409", "503"}
    assert statuses("/lpe/api/status", "get") == {"200", "403", "503"}
    assert "404" not in statuses("/lpe/api/projection/create", "post")


async def test_limit_is_a_bounded_integer_and_path_ids_are_typed(api: Api) -> None:
    _code, doc = await api("GET", "openapi.json")
    params = {p["name"]: p for p in doc["paths"]["/lpe/api/jobs"]["get"]["parameters"]}
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
    assert params["status"]["schema"]["type"] == "array"
    assert "projection" in params["type"]["schema"]["enum"]
    [job_id] = doc["paths"]["/lpe/api/jobs/{job_id}"]["get"]["parameters"]
    assert job_id["in"] == "path" and job_id["schema"]["maxLength"] == 64 and job_id["schema"]["pattern"]


async def test_the_submit_options_are_documented_in_the_body_and_the_query(api: Api) -> None:
    _code, doc = await api("GET", "openapi.json")
    schemas = doc["components"]["schemas"]
    for path in ("/lpe/api/jobs", "/lpe/api/projection/create"):
        operation = doc["paths"][path]["post"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert {"wait", "max_attempts", "priority"} <= set(schemas[ref.rsplit("/", 1)[1]]["properties"]), path
        query = [p["name"] for p in operation["parameters"] if p["in"] == "query"]
        assert query == ["wait", "max_attempts", "priority", "run_at", "delay_s", "cache"], path
    patch = doc["paths"]["/lpe/api/jobs/{job_id}"]["patch"]
    ref = patch["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    priority = schemas[ref.rsplit("/", 1)[1]]["properties"]["priority"]
    assert (priority["minimum"], priority["maximum"]) == (-1000, 1000) and "409" in patch["responses"]
    generic = schemas["SubmitRequest"]
    assert generic["required"] == ["type"] and generic["additionalProperties"] is False


async def test_the_token_is_the_security_scheme(api: Api) -> None:
    _code, doc = await api("GET", "openapi.json")
    schemes = doc["components"]["securitySchemes"]
    assert schemes["token"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": schemes["token"]["description"],
    }
    assert schemes["token_query"] == {"type": "apiKey", "in": "query", "name": "token"}
    assert doc["security"] == [{"token": []}, {"token_query": []}]


def _reply_schema(doc: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    response = doc["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}


@pytest.mark.parametrize(
    ("method", "path", "documented"),
    [
        ("GET", "jobs", "/lpe/api/jobs"),
        ("GET", "job-types", "/lpe/api/job-types"),
        ("GET", "catalog", "/lpe/api/catalog"),
        ("GET", "status", "/lpe/api/status"),
    ],
)
async def test_replies_validate_against_their_documented_schema(
    api: Api, method: str, path: str, documented: str
) -> None:
    _code, doc = await api("GET", "openapi.json")
    await api("POST", "projection/create", body={**INPUTS["projection/create"], "wait": 30})
    code, body = await api(method, path)
    assert code == 200
    jsonschema.validate(body, _reply_schema(doc, documented, method.lower(), code))


async def test_submit_job_cancel_and_error_replies_validate(api: Api) -> None:
    _code, doc = await api("GET", "openapi.json")
    code, accepted = await api("POST", "projection/create", body=INPUTS["projection/create"])
    assert code == 202
    jsonschema.validate(accepted, _reply_schema(doc, "/lpe/api/projection/create", "post", 202))
    code, done = await api(
        "POST", "jobs", body={"type": "projection", "input": INPUTS["projection/create"], "wait": 30}
    )
    assert code == 200
    jsonschema.validate(done, _reply_schema(doc, "/lpe/api/jobs", "post", 200))
    code, job = await api("GET", f"jobs/{done['id']}")
    jsonschema.validate(job, _reply_schema(doc, "/lpe/api/jobs/{job_id}", "get", code))
    code, error = await api("POST", f"jobs/{done['id']}/cancel")
    assert code == 409
    jsonschema.validate(error, _reply_schema(doc, "/lpe/api/jobs/{job_id}/cancel", "post", 409))
