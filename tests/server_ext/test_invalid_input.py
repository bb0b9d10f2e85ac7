"""Whatever a client sends, the answer is a 4xx JSON error that names the problem, never a 500."""

from __future__ import annotations

import json

import pytest

from tests.server_ext.conftest import NARRATIVE, Api

CASES: list[tuple[str, str, bytes, int, str]] = [
    # (name, path, raw body, status, field named)
    ("empty body", "projection/create", b"", 400, "(body)"),
    ("not json", "projection/create", b"narrative=hello", 400, "(body)"),
    ("truncated json", "projection/create", b'{"narrative": "a', 400, "(body)"),
    ("not utf-8", "projection/create", b'{"narrative": "\xff\xfe"}', 400, "(body)"),
    ("NaN", "maieutic/start", b'{"narrative": "x", "max_turns": NaN}', 400, "(body)"),
    ("array", "projection/create", b'[{"narrative": "x"}]', 400, "(body)"),
    ("string", "projection/create", b'"hello"', 400, "(body)"),
    ("null", "projection/create", b"null", 400, "(body)"),
    ("missing narrative", "projection/create", b'{"persona": "critic"}', 400, "narrative"),
    ("empty narrative", "projection/create", b'{"narrative": "   "}', 400, "narrative"),
    ("narrative not a string", "projection/create", b'{"narrative": 42}', 400, "narrative"),
    ("narrative an object", "projection/create", b'{"narrative": {"a": 1}}', 400, "narrative"),
    ("unknown persona", "projection/create", b'{"narrative": "x", "persona": "poet"}', 400, "persona"),
    ("unknown field", "projection/create", b'{"narrative": "x", "colour": "red"}', 400, "colour"),
    (
        "unsupported language",
        "translation/round-trip",
        b'{"text": "x", "intermediate_language": "klingon"}',
        400,
        "intermediate_language",
    ),
    (
        "same language",
        "translation/round-trip",
        b'{"text": "x", "intermediate_language": "english"}',
        400,
        "intermediate_language",
    ),
    ("max_turns too big", "maieutic/start", b'{"narrative": "x", "max_turns": 99}', 400, "max_turns"),
    ("max_turns a string", "maieutic/start", b'{"narrative": "x", "max_turns": "many"}', 400, "max_turns"),
    ("answers not a list", "maieutic/answer", b'{"session_id": "s", "answers": "yes"}', 400, "answers"),
    ("no answers", "maieutic/answer", b'{"session_id": "s", "answers": []}', 400, "answers"),
    (
        "one language",
        "translation/multi",
        b'{"text": "x", "intermediate_languages": ["french"]}',
        400,
        "intermediate_languages",
    ),
    (
        "bad attribute",
        "configuration/generate",
        b'{"attribute": "villain", "brief": "a bad one"}',
        400,
        "attribute",
    ),
    ("wait negative", "projection/create", b'{"narrative": "x", "wait": -1}', 400, "wait"),
    ("wait too long", "projection/create", b'{"narrative": "x", "wait": 3600}', 400, "wait"),
    ("wait a word", "projection/create", b'{"narrative": "x", "wait": "soon"}', 400, "wait"),
    ("wait a bool", "projection/create", b'{"narrative": "x", "wait": true}', 400, "wait"),
]


@pytest.mark.parametrize(
    ("path", "raw", "status", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_invalid_body_is_a_4xx_naming_the_field(
    api: Api, path: str, raw: bytes, status: int, field: str
) -> None:
    code, error = await api("POST", path, raw=raw)
    assert code == status, error
    assert error["error"] == "invalid_input"
    assert field in error["fields"], error
    assert "Traceback" not in json.dumps(error)


async def test_oversize_body_is_413(api: Api) -> None:
    code, error = await api("POST", "projection/create", body={"narrative": NARRATIVE * 2000})
    assert code == 413
    assert error["error"] == "body_too_large"


async def test_an_answer_to_an_unknown_session_is_refused_naming_it(api: Api) -> None:
    code, error = await api("POST", "maieutic/answer", body={"session_id": "nope", "answers": ["a"]})
    assert code == 400, error
    assert error["error"] == "invalid_input" and "no maieutic session" in error["fields"]["session_id"]
    code, listed = await api("GET", "jobs")
    assert code == 200 and listed["jobs"] == []  # refused before anything was stored


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "lots"},
        {"limit": "0"},
        {"limit": "100000"},
        {"status": "sleeping"},
        {"cursor": "%%%"},
        {"cursor": "bm90IGEgY3Vyc29y"},
        {"type": "x" * 500},
    ],
)
async def test_bad_query_is_400(api: Api, params: dict[str, str]) -> None:
    code, error = await api("GET", "jobs", params=params)
    assert code == 400, error
    assert error["error"] == "invalid_input"
    assert set(error["fields"]) & {"limit", "status", "cursor", "type"}


async def test_wrong_method_is_a_json_405(api: Api) -> None:
    code, error = await api("PUT", "projection/create", raw=b"{}")
    assert code == 405
    assert error["error"] == "method_not_allowed"


async def test_a_validators_message_has_no_pydantic_prefix(api: Api) -> None:
    raw = b'{"text": "x", "intermediate_language": "english"}'
    code, error = await api("POST", "translation/round-trip", raw=raw)
    assert code == 400
    assert error["fields"]["intermediate_language"] == "must differ from source_language"
    assert "Value error" not in error["message"]
