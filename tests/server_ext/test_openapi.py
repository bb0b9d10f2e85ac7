"""The OpenAPI document describes exactly the routes the server serves."""

from __future__ import annotations

from typing import Any

from lpe_nb.server_ext.handlers import rest_routes
from lpe_nb.server_ext.openapi import handler_methods
from lpe_nb.server_ext.ws import JobsWebSocket
from tests.server_ext.conftest import Api
from tests.server_ext.routes import served_routes


async def test_document_lists_exactly_the_served_routes(
    api: Api, jp_serverapp: Any, jp_base_url: str
) -> None:
    code, doc = await api("GET", "openapi.json")
    assert code == 200
    assert doc["openapi"].startswith("3.")
    documented = {
        (path, method) for path, item in doc["paths"].items() for method in item if method != "parameters"
    }
    served = set()
    for path, handler in served_routes(jp_serverapp.web_app):
        if handler is JobsWebSocket:
            continue
        relative = "/" + path.removeprefix(jp_base_url).replace("/x/", "/{job_id}/")
        relative = relative.removesuffix("/x") + ("/{job_id}" if relative.endswith("/x") else "")
        served |= {(relative, method) for method in handler_methods(handler)}
    assert documented == served


def test_route_table_declares_the_methods_each_handler_implements() -> None:
    for route in rest_routes():
        assert set(route.summaries) == handler_methods(route.handler), route.path


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
