"""The route table of the REST API and the OpenAPI 3 document generated from it.

Each :class:`Route` names its path (relative to the server's ``base_url``), its handler and a summary per
HTTP method; create routes also name their job type, whose pydantic input model gives the request schema.
The handlers module builds the table, the app registers it, and :func:`build_document` turns the same
table into the document served at ``lpe/api/openapi.json``, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

__all__ = ["MAX_WAIT_S", "Route", "build_document", "handler_methods"]

MAX_WAIT_S = 60.0
_PARAM = re.compile(r"\{(\w+)\}")
_HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Route:
    """One URL of the extension. ``path`` is an OpenAPI template such as ``lpe/api/jobs/{job_id}``."""

    path: str
    handler: type[Any]
    summaries: Mapping[str, str]  # lower-case HTTP method -> one-line summary
    job_type: str | None = None  # create routes: the job type they submit
    query: Mapping[str, str] = field(default_factory=dict)  # query parameter -> description

    @property
    def pattern(self) -> str:
        """The Tornado URL pattern: each ``{name}`` becomes a named group matching one path segment."""
        return _PARAM.sub(r"(?P<\1>[^/]+)", self.path)

    @property
    def kwargs(self) -> dict[str, Any]:
        return {"job_type": self.job_type} if self.job_type is not None else {}


def handler_methods(handler: type[Any]) -> set[str]:
    """The HTTP methods a handler class implements itself (lower case), not the ones it inherits unset."""
    from tornado.web import RequestHandler

    return {
        name
        for name in _HTTP_METHODS
        if getattr(handler, name, None) is not getattr(RequestHandler, name, None)
    }


_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "stable machine-readable code, e.g. invalid_input"},
        "message": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "details": {"type": "object", "description": "the error's constructor arguments, e.g. job_id"},
    },
}
_ERROR_RESPONSES = {
    "400": "invalid input (``fields`` names each bad field)",
    "403": "not authenticated or not authorized",
    "404": "no such job",
    "409": "the job's status does not allow this",
    "413": "request body too large",
    "503": "the job database cannot be used (store_error) or another manager runs it (dispatcher_busy)",
}


def build_document(
    routes: Sequence[Route], input_models: Mapping[str, type[BaseModel]], *, version: str
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``routes``; ``input_models`` maps a job type to its input model."""
    schemas: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, Any] = {}
    for route in routes:
        item: dict[str, Any] = {}
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(route.path)
        ]
        for method, summary in route.summaries.items():
            operation: dict[str, Any] = {
                "summary": summary,
                "operationId": f"{method}_{re.sub(r'[^a-z0-9]+', '_', route.path.lower()).strip('_')}",
                "parameters": [
                    *parameters,
                    *(
                        {"name": name, "in": "query", "required": False, "description": text}
                        | {"schema": {"type": "string"}}
                        for name, text in route.query.items()
                    ),
                ],
                "responses": _responses(route, method),
            }
            model = input_models.get(route.job_type) if route.job_type else None
            if model is not None and method == "post":
                name = model.__name__
                schemas[name] = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for sub_name, sub_schema in schemas[name].pop("$defs", {}).items():
                    schemas[sub_name] = sub_schema
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                }
            item[method] = operation
        paths["/" + route.path] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lpe-nb jobs API",
            "version": version,
            "description": (
                "Paths are relative to the Jupyter server's base URL. Authenticate with the server's token "
                "(`Authorization: token <token>`). Live events: the WebSocket at `lpe/ws`."
            ),
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _responses(route: Route, method: str) -> dict[str, Any]:
    ok = "202" if route.job_type is not None else ("204" if method == "delete" else "200")
    responses: dict[str, Any] = {ok: {"description": "accepted" if ok == "202" else "success"}}
    if route.job_type is not None:
        responses["200"] = {"description": "the finished job, when `wait` was given and it finished in time"}
    error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for status, text in _ERROR_RESPONSES.items():
        responses[status] = {"description": text, "content": error_ref}
    return responses
