"""Build a JSON value that validates against a JSON Schema, from phrases of some input text.

The mock LLM uses this to answer any structured request with a valid document. It covers what pydantic's
``model_json_schema()`` emits (objects, arrays, scalars with bounds, enums and consts, ``$defs``/``$ref``,
``anyOf``/``oneOf``/``allOf``, nullable types, ``additionalProperties`` maps). Not covered: ``pattern``,
``multipleOf``, ``not``, conditional schemas; those constraints may be missed.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from lpe_nb.llm.text_features import key_phrases, proper_names, sentences, stable_hash, truncate_words

__all__ = ["schema_instance"]

_T = TypeVar("_T")

_MAX_DEPTH = 6  # past this, optional branches are cut so recursive models stay finite
_HARD_DEPTH = 32
_LONG_TEXT_HINTS = (
    "analysis", "answer", "content", "description", "explanation", "insight", "narrative", "projection",
    "reason", "reflection", "story", "summary", "synthesis", "text", "translation", "understanding",
)  # fmt: skip
_NAME_HINTS = ("actor", "character", "counterpart", "entity", "label", "name", "persona", "title")
_INDEX = re.compile(r"\[(\d+)\]")
_FALLBACK_PHRASES = ("the matter at hand", "the central tension", "a turning point", "the wider picture")


def schema_instance(schema: Mapping[str, Any], source: str, seed: int) -> Any:
    """A value valid against ``schema`` whose strings come from ``source``; the same inputs give the same value."""
    return _Builder(schema, source, seed).build(schema, "$", 0)


class _Builder:
    def __init__(self, root: Mapping[str, Any], source: str, seed: int) -> None:
        self.root = root
        self.seed = seed
        self.names = proper_names(source)
        self.phrases = key_phrases(source, 16) or list(_FALLBACK_PHRASES)
        self.sentences = [truncate_words(s, 28) for s in sentences(source)]

    def build(self, schema: Mapping[str, Any], path: str, depth: int) -> Any:
        if depth > _HARD_DEPTH:
            return None
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self._pick(list(schema["enum"]), path)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.build(self._choose_branch(schema[key], depth), path, depth + 1)
        kind = self._type_of(schema, depth)
        if kind == "object":
            return self._object(schema, path, depth)
        if kind == "array":
            return self._array(schema, path, depth)
        if kind == "integer":
            return self._integer(schema, path)
        if kind == "number":
            return self._number(schema, path)
        if kind == "boolean":
            return stable_hash(self.seed, path) % 2 == 0
        if kind == "null":
            return None
        return self._string(schema, path)

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen: set[str] = set()
        while "$ref" in schema or ("allOf" in schema and isinstance(schema["allOf"], list)):
            if "$ref" in schema:
                ref = str(schema["$ref"])
                if ref in seen or not ref.startswith("#"):
                    return {}
                seen.add(ref)
                target: Any = self.root
                for part in ref.lstrip("#").strip("/").split("/"):
                    if part:
                        target = target[part.replace("~1", "/").replace("~0", "~")]
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                schema = {**target, **rest}
            else:
                schema = _merge_all_of(schema)
        return schema

    def _choose_branch(self, options: Sequence[Mapping[str, Any]], depth: int) -> Mapping[str, Any]:
        non_null = [o for o in options if self._resolve(o).get("type") != "null"]
        nullable = len(non_null) < len(options)
        if not non_null or (nullable and depth >= _MAX_DEPTH):
            return {"type": "null"}
        return non_null[0]

    def _type_of(self, schema: Mapping[str, Any], depth: int) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            kinds = [str(k) for k in declared]
            non_null = [k for k in kinds if k != "null"]
            if not non_null or ("null" in kinds and depth >= _MAX_DEPTH):
                return "null"
            return non_null[0]
        if isinstance(declared, str):
            return declared
        if "properties" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        return "string"

    def _object(self, schema: Mapping[str, Any], path: str, depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            if depth < _MAX_DEPTH or name in required:
                out[name] = self.build(sub, f"{path}.{name}", depth + 1)
        extra = schema.get("additionalProperties")
        if not properties and extra is not False and depth < _MAX_DEPTH:
            value_schema: Mapping[str, Any] = extra if isinstance(extra, Mapping) else {"type": "string"}
            keys = self.names[:2] + [p for p in self.phrases if p not in self.names]
            for i, key in enumerate(keys[: 2 + stable_hash(self.seed, path) % 2]):
                out[key] = self.build(value_schema, f"{path}[{i}]", depth + 1)
        return out

    def _array(self, schema: Mapping[str, Any], path: str, depth: int) -> list[Any]:
        prefix: Sequence[Mapping[str, Any]] = schema.get("prefixItems", ())
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", max(low, 3)))
        count = low if depth >= _MAX_DEPTH else min(max(2 + stable_hash(self.seed, path) % 2, low), high)
        count = max(count, len(prefix)) if schema.get("items") is not False else len(prefix)
        item_schema: Mapping[str, Any] = schema.get("items") or {}
        return [
            self.build(prefix[i] if i < len(prefix) else item_schema, f"{path}[{i}]", depth + 1)
            for i in range(count)
        ]

    def _integer(self, schema: Mapping[str, Any], path: str) -> int:
        low, high = _bounds(schema)
        low_i = None if low is None else _int_at_least(low, exclusive=_exclusive(schema, "Minimum"))
        high_i = None if high is None else -_int_at_least(-high, exclusive=_exclusive(schema, "Maximum"))
        if low_i is None:
            low_i = 1 if high_i is None or high_i >= 1 else high_i - 9
        if high_i is None:
            high_i = low_i + 9
        return low_i + stable_hash(self.seed, path) % max(high_i - low_i + 1, 1)

    def _number(self, schema: Mapping[str, Any], path: str) -> float:
        low, high = _bounds(schema)
        if low is None:
            low = 0.0 if high is None or high >= 1 else high - 1.0
        if high is None:
            high = low + 1.0
        value = round(low + (stable_hash(self.seed, path) % 1001) / 1000 * (high - low), 2)
        value = min(max(value, low), high)
        if value in (schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")):
            value = (low + high) / 2
        return value

    def _string(self, schema: Mapping[str, Any], path: str) -> str:
        text = self._formatted(str(schema.get("format", "")), path) or self._text(path)
        low = int(schema.get("minLength", 0))
        while len(text) < low:
            text = f"{text} {self._pick(self.phrases, text)}"
        if "maxLength" in schema:
            text = text[: int(schema["maxLength"])]
        return text

    def _text(self, path: str) -> str:
        key = _INDEX.sub("", path.rsplit(".", 1)[-1]).lower()
        phrase = self._pick(self.phrases, path)
        other = self._pick(self.phrases, path, "other")
        if "question" in key:
            return f"What does {phrase} reveal about {other}?"
        if any(hint in key for hint in _NAME_HINTS):
            return self._pick(self.names, path) if self.names else phrase.title()
        if any(hint in key for hint in _LONG_TEXT_HINTS):
            quoted = f" {self._pick(self.sentences, path)}" if self.sentences else ""
            return f"{phrase[:1].upper()}{phrase[1:]} is bound up with {other}.{quoted}"
        return phrase

    def _formatted(self, fmt: str, path: str) -> str | None:
        slug = re.sub(r"[^a-z0-9]+", "-", self._pick(self.phrases, path).lower()).strip("-") or "item"
        return {
            "date-time": "2024-01-01T00:00:00Z",
            "date": "2024-01-01",
            "time": "00:00:00",
            "email": f"{slug}@example.com",
            "uri": f"https://example.com/{slug}",
            "uuid": str(uuid.UUID(int=stable_hash(self.seed, path) << 64 | stable_hash(path, self.seed))),
        }.get(fmt)

    def _pick(self, options: Sequence[_T], path: str, *salt: str) -> _T:
        # Items of one array share a base and step by their index, so siblings differ where they can.
        indexes = [int(i) for i in _INDEX.findall(path)]
        base = stable_hash(self.seed, _INDEX.sub("[]", path), *salt)
        return options[(base + (indexes[-1] if indexes else 0)) % len(options)]


def _bounds(schema: Mapping[str, Any]) -> tuple[float | None, float | None]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    return (None if low is None else float(low), None if high is None else float(high))


def _int_at_least(bound: float, *, exclusive: bool) -> int:
    return math.floor(bound) + 1 if exclusive else math.ceil(bound)


def _exclusive(schema: Mapping[str, Any], bound: str) -> bool:
    return f"{bound.lower()}" not in schema and f"exclusive{bound}" in schema


def _merge_all_of(schema: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged
