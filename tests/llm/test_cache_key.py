"""The result cache's key and stored value, at the unit level (the engine's use: tests/operations/test_caching.py)."""

from __future__ import annotations

import hashlib
import json

from lpe_nb.llm.base import Completion, Message, Usage
from lpe_nb.llm.cache import KEY_VERSION, _decode, _encode, cache_key

IDENTITY = {"provider": "openai", "model": "m", "temperature": 0.7, "reads": ["context"]}
MESSAGES: list[Message] = [
    {"role": "system", "content": "Sé breve."},
    {"role": "user", "content": "Mara — at dawn"},
]


def test_the_key_is_the_sha256_of_the_requests_canonical_json() -> None:
    context = {"b": {1, 2}, "a": "ä"}  # a set is not JSON: it counts by its str()
    request = {
        "v": KEY_VERSION, "llm": IDENTITY, "messages": MESSAGES, "json_schema": None, "task": None,
        "context": context,
    }  # fmt: skip
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    assert '"a":"ä"' in canonical  # sorted, compact, not escaped
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert cache_key(IDENTITY, MESSAGES, task="ignored: not read", context=context) == expected
    reordered = {"a": "ä", "b": {1, 2}}
    assert cache_key(dict(reversed(IDENTITY.items())), MESSAGES, context=reordered) == expected
    assert cache_key(IDENTITY, MESSAGES, context={"a": "a"}) != expected


def test_a_stored_reply_reads_back_as_a_hit_that_cost_nothing() -> None:
    made = Completion(text="Ünïcode reply", usage=Usage(1, 2, 3), provider="openai", model="m", cost_usd=0.5)
    value = _encode(made)
    assert json.loads(value) == {
        "text": "Ünïcode reply", "provider": "openai", "model": "m",
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }  # fmt: skip
    assert "Ü" in value and " " not in value.replace("Ünïcode reply", "")
    assert _decode(value) == Completion(
        text="Ünïcode reply", usage=Usage(), provider="openai", model="m", cached=True, cost_usd=0.0
    )
    assert _decode("not json") is None
    assert _decode('{"text": "no provider"}') is None
