"""Extracting JSON from LLM replies, and asking for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from pydantic import BaseModel

from lpe_nb.errors import LlmBadResponse
from lpe_nb.llm import Completion, DeltaCallback, Message, MockLLM, Usage, complete_json, parse_json_reply


class Verdict(BaseModel):
    verdict: str
    score: float


class TestParseJsonReply:
    def test_plain_json(self) -> None:
        assert parse_json_reply('  {"a": [1, 2]}\n') == {"a": [1, 2]}

    def test_json_inside_a_fence(self) -> None:
        reply = 'Here you go:\n```json\n{"verdict": "kept", "score": 0.9}\n```\nAnything else?'

        assert parse_json_reply(reply) == {"verdict": "kept", "score": 0.9}

    def test_json_inside_a_bare_fence(self) -> None:
        assert parse_json_reply("```\n[1, 2, 3]\n```") == [1, 2, 3]

    def test_first_balanced_object_in_prose(self) -> None:
        reply = (
            'Sure! The analysis is {"verdict": "a {brace} in a string", "score": 1} as you asked. {"x": 2}'
        )

        assert parse_json_reply(reply) == {"verdict": "a {brace} in a string", "score": 1}

    def test_array_in_prose(self) -> None:
        assert parse_json_reply('The elements: ["tone", "rhythm"].') == ["tone", "rhythm"]

    def test_validates_with_the_model(self) -> None:
        parsed = parse_json_reply('```json\n{"verdict": "kept", "score": "0.5"}\n```', Verdict)

        assert parsed == Verdict(verdict="kept", score=0.5)

    def test_with_a_model_the_first_candidate_that_fits_wins(self) -> None:
        reply = 'For example {"foo": 1}, but really: {"verdict": "lost", "score": 0.1}'

        assert parse_json_reply(reply, Verdict) == Verdict(verdict="lost", score=0.1)

    def test_no_json_quotes_the_reply(self) -> None:
        with pytest.raises(LlmBadResponse, match=r"no JSON object or array found.*'I cannot help with that"):
            parse_json_reply("I cannot help with that.")

    def test_empty_reply_says_so(self) -> None:
        with pytest.raises(LlmBadResponse, match="the reply is empty"):
            parse_json_reply("   ")

    def test_shape_mismatch_names_the_fields(self) -> None:
        with pytest.raises(LlmBadResponse, match=r"does not fit Verdict: score: Field required"):
            parse_json_reply('{"verdict": "kept"}', Verdict)

    def test_long_replies_are_quoted_truncated(self) -> None:
        with pytest.raises(LlmBadResponse) as caught:
            parse_json_reply("no json here " * 100)

        assert len(str(caught.value)) < 300
        assert "…" in str(caught.value)

    def test_truncated_json_is_not_accepted(self) -> None:
        with pytest.raises(LlmBadResponse):
            parse_json_reply('{"verdict": "kept", "score": 0.', Verdict)


class _FixedLLM:
    """An LLM that always says the same thing, to test complete_json's parsing alone."""

    provider = "fixed"
    model = "fixed-1"

    def __init__(self, text: str) -> None:
        self.text = text
        self.schemas: list[Mapping[str, Any] | None] = []

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        task: str | None = None,
        context: Mapping[str, Any] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> Completion:
        self.schemas.append(json_schema)
        return Completion(self.text, Usage(1, 1, 2), self.provider, self.model)

    async def aclose(self) -> None:
        pass


class TestCompleteJson:
    async def test_passes_the_models_schema_and_parses_the_reply(self) -> None:
        llm = _FixedLLM('```json\n{"verdict": "kept", "score": 0.75}\n```')

        parsed, completion = await complete_json(llm, [{"role": "user", "content": "judge"}], Verdict)

        assert parsed == Verdict(verdict="kept", score=0.75)
        assert completion.usage.total_tokens == 2
        assert llm.schemas == [Verdict.model_json_schema()]

    async def test_bad_reply_names_the_task_and_model(self) -> None:
        llm = _FixedLLM("no idea")

        with pytest.raises(LlmBadResponse, match=r"translation\.drift \(fixed model 'fixed-1'\): no JSON"):
            await complete_json(
                llm, [{"role": "user", "content": "judge"}], Verdict, task="translation.drift"
            )

    async def test_the_mock_always_satisfies_it(self) -> None:
        parsed, completion = await complete_json(
            MockLLM(), [{"role": "user", "content": "Judge the drift of this sentence."}], Verdict
        )

        assert isinstance(parsed, Verdict)
        assert completion.provider == "mock"
