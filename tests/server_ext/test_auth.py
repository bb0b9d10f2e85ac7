"""Every route refuses requests without a valid token; the WebSocket also refuses other origins."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from lpe_nb.operations import JOB_TYPES
from lpe_nb.server_ext.engine import ServerEngine
from lpe_nb.server_ext.handlers import rest_routes
from lpe_nb.server_ext.openapi import handler_methods
from lpe_nb.server_ext.ws import JobsWebSocket
from tests.server_ext.routes import served_routes

BAD_HEADERS = {"no token": {}, "wrong token": {"Authorization": "token not-the-token"}}


def test_every_route_is_found(jp_serverapp: Any) -> None:
    routes = served_routes(jp_serverapp.web_app)
    expected = {"/a%40b/" + re.sub(r"\{\w+\}", "x", route.path) for route in rest_routes()} | {
        "/a%40b/lpe/ws"
    }
    assert {path for path, _ in routes} == expected
    assert len(expected) == 14 + len(JOB_TYPES)  # 13 fixed routes, the WebSocket, a submit route per job type


@pytest.mark.parametrize("who", sorted(BAD_HEADERS))
async def test_every_rest_method_is_403_without_a_valid_token(
    jp_serverapp: Any, http_server_client: Any, engine: ServerEngine, who: str
) -> None:
    checked = 0
    for path, handler in served_routes(jp_serverapp.web_app):
        if handler is JobsWebSocket:
            continue
        for method in sorted(handler_methods(handler)):
            response = await http_server_client.fetch(
                path,
                method=method.upper(),
                headers=dict(BAD_HEADERS[who]),
                body=b"{}" if method in ("post", "put", "patch") else None,
                raise_error=False,
            )
            assert response.code == 403, (method, path, response.code)
            checked += 1
    assert checked >= 12


@pytest.mark.parametrize("who", sorted(BAD_HEADERS))
async def test_websocket_is_403_without_a_valid_token(
    jp_serverapp: Any, jp_http_port: int, http_server_client: Any, engine: ServerEngine, who: str
) -> None:
    [path] = [p for p, h in served_routes(jp_serverapp.web_app) if h is JobsWebSocket]
    request = HTTPRequest(f"ws://localhost:{jp_http_port}{path}", headers=dict(BAD_HEADERS[who]))
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(request)
    assert refused.value.code == 403


async def test_cross_origin_websocket_is_refused_even_with_a_token(
    jp_serverapp: Any,
    jp_http_port: int,
    http_server_client: Any,
    jp_auth_header: dict[str, str],
    engine: ServerEngine,
) -> None:
    [path] = [p for p, h in served_routes(jp_serverapp.web_app) if h is JobsWebSocket]
    url = f"ws://localhost:{jp_http_port}{path}"
    evil = HTTPRequest(url, headers={**jp_auth_header, "Origin": "http://evil.example"})
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(evil)
    assert refused.value.code == 403
    same = HTTPRequest(url, headers={**jp_auth_header, "Origin": f"http://localhost:{jp_http_port}"})
    ws = await websocket_connect(same)
    ws.close()
