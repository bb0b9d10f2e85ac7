"""The route table of the REST API and the OpenAPI 3.1 document generated from it.

Each :class:`Route` names its path (relative to the server's ``base_url``), its handler and an
:class:`Operation` per HTTP method: its request model, its query model, the reply model of each success
status and the error statuses it can answer. The models are those of :mod:`lpe_nb.server_ext.schemas`,
which the handlers validate requests with and serialise replies through; a submit route's body is its job
type's input model plus ``wait``. The handlers module builds the table, the app registers it, and
:func:`build_document` turns the same table into the document served at ``lpe/api/openapi.json``, so the
routes, the validation and the document cannot drift apart.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from lpe_nb.server_ext.schemas import (
    JOB_ID_MAX_CHARS,
    JOB_ID_PATTERN,
    MAX_WAIT_S,
    SCHEDULE_ID_PATTERN,
    ErrorBody,
    SubmitRequest,
    submit_model,
)

__all__ = ["ERROR_STATUSES", "MAX_WAIT_S", "Operation", "Route", "build_document", "handler_methods"]

_PARAM = re.compile(r"\{(\w+)\}")
_HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_REF = "#/components/schemas/{model}"

# What each error status means on this API; an operation lists the ones it can answer.
ERROR_STATUSES: Mapping[int, str] = {
    400: "invalid input: `fields` names each bad field (invalid_input), or an unknown job type "
    "(unknown_job_type, `details.known` lists the types)",
    403: "the token is missing or wrong, or lacks the `lpe` permission",
    404: "no job with this id (job_not_found), or no schedule (schedule_not_found)",
    409: "the job's status does not allow this (invalid_transition)",
    413: "the request body is larger than the server's max_body_bytes (body_too_large)",
    429: "a submission quota of this identity is used up; retry after `Retry-After` seconds",
    503: "the job database cannot be used (store_error)",
}

_PATH_PARAMS: Mapping[str, dict[str, Any]] = {
    "job_id": {
        "type": "string",
        "minLength": 1,
        "maxLength": JOB_ID_MAX_CHARS,
        "pattern": JOB_ID_PATTERN,
        "description": "a job's id, as submit returned it",
    },
    "kind": {"type": "string", "enum": ["persona", "namespace", "style"]},
    "name": {"type": "string", "minLength": 1, "maxLength": 40, "description": "the entry's name"},
    "schedule_id": {
        "type": "string",
        "pattern": SCHEDULE_ID_PATTERN,
        "description": "a recurring schedule's id, as POST lpe/api/schedules returned it",
    },
}


@dataclass(frozen=True)
class Operation:
    """One HTTP method of a route: what it takes and every status it answers.

    ``replies`` maps each success status to its body model (None: no body). ``errors`` lists the error
    statuses (each with the :class:`ErrorBody`). ``body`` is the request model (for a submit route the
    document derives it from the job type's input model); ``query`` a model whose fields are the query
    parameters, and ``job_type_params`` the parameters (query or body fields) that name a job type, whose
    schema lists the declared types.
    """

    summary: str
    replies: Mapping[int, type[BaseModel] | None]
    errors: Sequence[int]
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    job_type_params: Sequence[str] = ()
    description: str = ""


@dataclass(frozen=True)
class Route:
    """One URL of the extension. ``path`` is an OpenAPI template such as ``lpe/api/jobs/{job_id}``."""

    path: str
    handler: type[Any]
    operations: Mapping[str, Operation]  # lower-case HTTP method -> operation
    job_type: str | None = None  # submit routes: the job type they submit

    @property
    def pattern(self) -> str:
        """The Tornado URL pattern: each ``{name}`` becomes a named group matching one path segment."""
        return _PARAM.sub(r"(?P<\1>[^/]+)", self.path)

    @property
    def kwargs(self) -> dict[str, Any]:
        """The handler's ``initialize`` arguments."""
        return {"job_type": self.job_type} if self.job_type is not None else {}


def handler_methods(handler: type[Any]) -> set[str]:
    """The HTTP methods a handler class implements itself (lower case), not the ones it inherits unset."""
    from tornado.web import RequestHandler

    return {
        name
        for name in _HTTP_METHODS
        if getattr(handler, name, None) is not getattr(RequestHandler, name, None)
    }


Mode = Literal["validation", "serialization"]


def build_document(
    routes: Sequence[Route],
    input_models: Mapping[str, type[BaseModel] | None],
    *,
    version: str,
    job_types: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``routes``.

    ``input_models`` maps a job type to its input model (None: any JSON object); ``job_types`` are the
    names a job-type parameter accepts (default: the keys of ``input_models``).
    """
    known = sorted(job_types if job_types is not None else input_models)
    wanted: dict[tuple[type[BaseModel], Mode], None] = {(ErrorBody, "serialization"): None}
    for route in routes:
        for operation in route.operations.values():
            for model in operation.replies.values():
                if model is not None:
                    wanted[(model, "serialization")] = None
            body = _request_model(route, operation, input_models)
            if body is not None:
                wanted[(body, "validation")] = None
            if operation.query is not None:
                wanted[(operation.query, "validation")] = None
    refs, top = models_json_schema(list(wanted), ref_template=_REF)
    schemas: dict[str, Any] = top.get("$defs", {})
    query_schemas = {
        model: schemas.pop(refs[(model, mode)]["$ref"].rsplit("/", 1)[1])
        for model, mode in wanted
        if any(route_op.query is model for route in routes for route_op in route.operations.values())
    }

    def ref(model: type[BaseModel], mode: Mode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    if (SubmitRequest, "validation") in refs:  # the generic submit names a declared type
        submit = schemas[ref(SubmitRequest, "validation")["$ref"].rsplit("/", 1)[1]]
        submit["properties"]["type"]["enum"] = known
    paths: dict[str, Any] = {}
    for route in routes:
        item: dict[str, Any] = {}
        path_params = [
            {"name": name, "in": "path", "required": True, "schema": dict(_PATH_PARAMS[name])}
            for name in _PARAM.findall(route.path)
        ]
        for method, operation in route.operations.items():
            parameters = list(path_params)
            if operation.query is not None:
                parameters += _query_parameters(query_schemas[operation.query], operation, known)
            entry: dict[str, Any] = {
                "summary": operation.summary,
                "operationId": f"{method}_{re.sub(r'[^a-z0-9]+', '_', route.path.lower()).strip('_')}",
                "parameters": parameters,
                "responses": _responses(operation, ref),
            }
            if operation.description:
                entry["description"] = operation.description
            body = _request_model(route, operation, input_models)
            if body is not None:
                entry["requestBody"] = {
                    "required": operation.body_required,
                    "content": {"application/json": {"schema": ref(body, "validation")}},
                }
            item[method] = entry
        paths["/" + route.path] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lpe-nb jobs API",
            "version": version,
            "description": (
                "Paths are relative to the Jupyter server's base URL. Authenticate with the server's token: "
                "`Authorization: token <token>` (or `?token=<token>`); without it every route answers 403. "
                "Every error is the JSON `Error` body, including a 404 for an unknown `lpe/api/...` path and "
                "a 405 for a method a path does not have. Request bodies are JSON objects of at most "
                "max_body_bytes, nested at most 64 levels deep. Live events: the WebSocket at `lpe/ws`."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`token <the server's token>` (see `jupyter server list`)",
                },
                "token_query": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
        "security": [{"token": []}, {"token_query": []}],
    }


def _request_model(
    route: Route, operation: Operation, input_models: Mapping[str, type[BaseModel] | None]
) -> type[BaseModel] | None:
    if route.job_type is not None and operation.body is None:
        return submit_model(input_models.get(route.job_type))
    return operation.body


def _query_parameters(schema: Mapping[str, Any], operation: Operation, known: list[str]) -> list[Any]:
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(copy.deepcopy(prop))
        description = prop.pop("description", "")
        prop.pop("title", None)
        if name in operation.job_type_params:
            prop["enum"] = known
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if description:
            parameter["description"] = description
        parameter["schema"] = prop
        if prop.get("type") == "array":
            parameter |= {"style": "form", "explode": True}
        parameters.append(parameter)
    return parameters


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` as a query parameter is just ``X``, absent when not given."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        rest = [option for option in options if option != {"type": "null"}]
        if len(rest) == 1:
            merged = {key: value for key, value in schema.items() if key != "anyOf"}
            merged.update(rest[0])
            if merged.get("default", 0) is None:
                del merged["default"]
            return merged
    return schema


def _responses(operation: Operation, ref: Any) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in operation.replies.items():
        reply: dict[str, Any] = {"description": _describe_success(status, model)}
        if model is not None:
            reply["content"] = {"application/json": {"schema": ref(model, "serialization")}}
        if status == 202 and model is not None and "job_id" in model.model_fields:
            reply["headers"] = {"Location": {"description": "the job's URL", "schema": {"type": "string"}}}
        responses[str(status)] = reply
    error = {"application/json": {"schema": ref(ErrorBody, "serialization")}}
    for status in operation.errors:
        reply = {"description": ERROR_STATUSES[status], "content": error}
        if status == 429:
            reply["headers"] = {
                "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
            }
        responses[str(status)] = reply
    return responses


def _describe_success(status: int, model: type[BaseModel] | None) -> str:
    if model is None:
        return "done; no body"
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("``", "`")
    return " ".join(doc.split()) or "success"
