"""Getting JSON out of LLM replies, which wrap it in code fences or prose more often than not.

:func:`parse_json_reply` finds the JSON document in a reply and optionally validates it with a pydantic
model; :func:`complete_json` asks for a schema and parses the answer in one call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar, overload

import pydantic

from lpe_nb.errors import LlmBadResponse
from lpe_nb.llm.base import LLM, Completion, DeltaCallback, Message

__all__ = ["complete_json", "parse_json_reply"]

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)

_FENCE = re.compile(r"```[ \t]*(?:json5?|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_MAX_CANDIDATES = 32  # bracket positions tried in prose; bounds the work on long, JSON-free replies
_QUOTE_CHARS = 160


@overload
def parse_json_reply(text: str, schema: None = None) -> Any: ...
@overload
def parse_json_reply(text: str, schema: type[ModelT]) -> ModelT: ...
def parse_json_reply(text: str, schema: type[pydantic.BaseModel] | None = None) -> Any:
    """Extract the JSON document from an LLM reply; validate it with ``schema`` when given.

    Tries, in order: the whole reply, each fenced code block, then each ``{``/``[`` in the prose (the
    first one that starts a complete document). With a schema, the first candidate that validates wins.
    Raises :class:`LlmBadResponse` quoting the start of the reply and saying what was wrong.
    """
    first_problem: str | None = None
    found_json = False
    for candidate in _candidates(text):
        found_json = True
        if schema is None:
            return candidate
        try:
            return schema.model_validate(candidate)
        except pydantic.ValidationError as exc:
            first_problem = first_problem or _describe(exc, schema)
    if not found_json:
        problem = "the reply is empty" if not text.strip() else "no JSON object or array found in the reply"
    else:
        problem = first_problem or "the JSON does not fit the expected shape"
    raise LlmBadResponse(f"{problem}; the reply starts: {_quote(text)}")


async def complete_json(
    llm: LLM,
    messages: Sequence[Message],
    model_cls: type[ModelT],
    *,
    task: str | None = None,
    context: Mapping[str, Any] | None = None,
    on_delta: DeltaCallback | None = None,
) -> tuple[ModelT, Completion]:
    """Ask ``llm`` for a reply following ``model_cls``'s JSON Schema and parse it into ``model_cls``.

    Returns the parsed model and the completion (for text, usage, provider). Raises :class:`LlmBadResponse`
    naming the task and model when the reply does not parse, and whatever ``llm.complete`` raises.
    """
    completion = await llm.complete(
        messages, task=task, context=context, json_schema=model_cls.model_json_schema(), on_delta=on_delta
    )
    try:
        parsed = parse_json_reply(completion.text, model_cls)
    except LlmBadResponse as exc:
        endpoint = getattr(llm, "base_url", None)
        at = f" at {endpoint}" if isinstance(endpoint, str) else ""
        label = f"{task or 'LLM call'} ({completion.provider} model {completion.model!r}{at})"
        raise LlmBadResponse(
            f"{label}: {exc}", endpoint=endpoint if at else None, model=completion.model
        ) from exc
    return parsed, completion


def _candidates(text: str) -> Iterator[Any]:
    """Each JSON value found in ``text``, most likely first."""
    yield from _loads(text.strip())
    for match in _FENCE.finditer(text):
        yield from _loads(match.group(1).strip())
    decoder = json.JSONDecoder()
    for tried, match in enumerate(re.finditer(r"[{\[]", text)):
        if tried == _MAX_CANDIDATES:
            return
        try:
            yield decoder.raw_decode(text, match.start())[0]
        except ValueError:
            continue


def _loads(text: str) -> list[Any]:
    """``[value]`` when ``text`` is one JSON document, else ``[]``."""
    try:
        return [json.loads(text)]
    except ValueError:
        return []


def _describe(exc: pydantic.ValidationError, schema: type[pydantic.BaseModel]) -> str:
    errors = exc.errors(include_url=False)
    shown = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"the JSON does not fit {schema.__name__}: {shown}{more}"


def _quote(text: str) -> str:
    head = text.strip()
    return repr(head[:_QUOTE_CHARS] + ("…" if len(head) > _QUOTE_CHARS else ""))
