"""The offline mock: deterministic, input-dependent, always structurally valid."""

from __future__ import annotations

import enum
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel, Field

from lpe_nb.llm import MOCK_MODEL, Message, MockLLM, register_mock_responder, unregister_mock_responder
from tests.grammar import grammar_problems

PARKS = (
    "In 1955, Rosa Parks refused to give up her seat on a Montgomery bus. Her arrest sparked the "
    "Montgomery Bus Boycott, led by Martin Luther King Jr. The boycott lasted 381 days."
)
APOLLO = (
    "In 1969, Neil Armstrong and Buzz Aldrin landed on the Moon while Michael Collins orbited above. "
    "The Apollo program had raced the Soviet Union for a decade."
)


def _ask(text: str) -> list[Message]:
    return [{"role": "system", "content": "You analyse narratives."}, {"role": "user", "content": text}]


class Mood(enum.Enum):
    HOPEFUL = "hopeful"
    GRIM = "grim"


class Actor(BaseModel):
    name: str
    role: str
    motive: str | None = None


class Node(BaseModel):
    label: str
    children: list[Node] = []


class Deconstruction(BaseModel):
    actors: list[Actor] = Field(min_length=1)
    events: list[str] = Field(min_length=2, max_length=3)
    outcome: str
    mood: Mood
    kind: Literal["historical", "fictional"]
    drift: float = Field(ge=0, le=1)
    depth: int = Field(gt=0, lt=5)
    mapping: dict[str, str]
    tags: set[str]
    counterpart: Actor | None
    tree: Node


class TestDeterminism:
    async def test_same_input_gives_the_same_completion(self) -> None:
        first = await MockLLM().complete(_ask(PARKS), task="x.y", context={"narrative": PARKS})
        second = await MockLLM().complete(_ask(PARKS), task="x.y", context={"narrative": PARKS})

        assert first == second

    def test_same_input_gives_the_same_reply_in_other_processes(self) -> None:
        # str hashes differ per process unless PYTHONHASHSEED is fixed: the mock must not depend on them
        schema = Deconstruction.model_json_schema()
        script = (
            "import json, sys; from lpe_nb.llm import MockLLM; text, schema = json.load(sys.stdin); "
            "m = MockLLM(); msgs = [{'role': 'user', 'content': text}]; "
            "print(json.dumps([m.reply_text(msgs), m.reply_text(msgs, json_schema=schema)]))"
        )
        root = str(Path(__file__).resolve().parents[2])
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", script],
                env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": root},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for seed in ("1", "2")
        ]
        outputs = [json.loads(run.communicate(json.dumps([PARKS, schema]), timeout=60)[0]) for run in runs]

        messages: list[Message] = [{"role": "user", "content": PARKS}]
        here = [MockLLM().reply_text(messages), MockLLM().reply_text(messages, json_schema=schema)]
        assert outputs == [here, here]

    def test_different_inputs_give_different_prose(self) -> None:
        mock = MockLLM()

        parks, apollo = mock.reply_text(_ask(PARKS)), mock.reply_text(_ask(APOLLO))

        assert parks != apollo
        assert "Rosa Parks" in parks
        assert "Neil Armstrong" in apollo

    def test_different_inputs_give_different_json(self) -> None:
        schema = Deconstruction.model_json_schema()
        mock = MockLLM()

        parks = json.loads(mock.reply_text(_ask(PARKS), json_schema=schema))
        apollo = json.loads(mock.reply_text(_ask(APOLLO), json_schema=schema))

        assert parks != apollo
        assert {a["name"] for a in parks["actors"]} <= {
            "Rosa Parks",
            "Montgomery",
            "Montgomery Bus Boycott",
            "Martin Luther King Jr",
        }

    def test_context_is_preferred_to_prompt_boilerplate(self) -> None:
        reply = MockLLM().reply_text(
            _ask("Break the following narrative into its parts, concretely."), context={"narrative": APOLLO}
        )

        assert "Armstrong" in reply
        assert "Break" not in reply


class TestProse:
    @pytest.mark.parametrize("text", [PARKS, APOLLO, "A child planted a tree in the empty lot.", "x", ""])
    def test_prose_is_grammatical_whatever_the_input(self, text: str) -> None:
        for more in ("", " Then it rained.", " Nobody knew why."):  # the wording varies with the input
            reply = MockLLM().reply_text(_ask((text + more).strip()))

            assert grammar_problems(reply) == [], reply

    def test_the_grammar_check_catches_what_the_old_mock_wrote(self) -> None:
        assert grammar_problems("Told as scientist would tell it: the envoys stood at the heart of events.")
        assert grammar_problems("The tension between the the city and a empty lot drives it forward.")
        assert grammar_problems("[standard] it ended")


class TestJsonSchemas:
    def test_nested_pydantic_models_validate(self) -> None:
        for text in (PARKS, APOLLO, "", "x"):
            reply = MockLLM().reply_text(_ask(text), json_schema=Deconstruction.model_json_schema())

            parsed = Deconstruction.model_validate_json(reply)
            assert 2 <= len(parsed.events) <= 3
            assert parsed.mapping

    @pytest.mark.parametrize(
        "schema",
        [
            {"type": "integer", "exclusiveMinimum": 3, "exclusiveMaximum": 5},
            {"type": "number", "minimum": -2.5, "maximum": -2.4},
            {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.01},
            {"type": "integer", "maximum": -20},
            {"enum": ["a", "b", "c", 4]},
            {"const": {"fixed": True}},
            {"type": "string", "minLength": 80, "maxLength": 90},
            {"type": "string", "maxLength": 3},
            {"type": "string", "format": "date-time"},
            {"type": "string", "format": "uuid"},
            {"type": ["null", "boolean"]},
            {"type": "array", "items": {"type": "string"}, "minItems": 5, "uniqueItems": True},
            {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
            {"type": "object", "additionalProperties": {"type": "integer", "minimum": 10}},
            {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}]},
            {"oneOf": [{"type": "null"}, {"type": "object", "properties": {"b": {"type": "number"}}}]},
            {},
        ],
    )
    def test_raw_schemas_validate(self, schema: dict[str, Any]) -> None:
        for text in (PARKS, APOLLO):
            value = json.loads(MockLLM().reply_text(_ask(text), json_schema=schema))

            jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator)

    def test_enums_depend_on_the_input(self) -> None:
        schema = {"enum": [f"option-{i}" for i in range(20)]}

        picks = {MockLLM().reply_text(_ask(f"story number {i}"), json_schema=schema) for i in range(10)}

        assert len(picks) > 1

    def test_questions_read_as_questions(self) -> None:
        schema = {"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]}

        value = json.loads(MockLLM().reply_text(_ask(PARKS), json_schema=schema))

        assert value["question"].endswith("?")


class TestUsageAndStreaming:
    async def test_usage_counts_whitespace_tokens(self) -> None:
        completion = await MockLLM().complete([{"role": "user", "content": "one two three"}])

        assert completion.usage.prompt_tokens == 3
        assert completion.usage.completion_tokens == len(completion.text.split())
        assert completion.usage.total_tokens == 3 + completion.usage.completion_tokens
        assert (completion.provider, completion.model) == ("mock", MOCK_MODEL)

    async def test_deltas_make_up_the_text(self) -> None:
        deltas: list[str] = []

        completion = await MockLLM().complete(_ask(PARKS), on_delta=deltas.append)

        assert len(deltas) > 3
        assert "".join(deltas) == completion.text

    async def test_latency_is_spread_across_deltas(self) -> None:
        latency_s = 0.4
        arrivals: list[float] = []
        started = time.monotonic()

        await MockLLM(latency_s=latency_s).complete(
            _ask(PARKS), on_delta=lambda _: arrivals.append(time.monotonic())
        )

        assert arrivals[0] - started < latency_s / 2  # text starts appearing early...
        assert arrivals[-1] - started >= latency_s * 0.9  # ...and keeps coming for the whole latency
        assert arrivals == sorted(arrivals)

    async def test_latency_is_honoured_without_streaming(self) -> None:
        started = time.monotonic()

        await MockLLM(latency_s=0.2).complete(_ask(PARKS))

        assert time.monotonic() - started >= 0.19

    def test_negative_latency_is_refused(self) -> None:
        with pytest.raises(ValueError, match="latency_s"):
            MockLLM(latency_s=-1)


class TestResponders:
    @pytest.fixture
    def registered(self) -> Iterator[list[tuple[Sequence[Message], Mapping[str, Any]]]]:
        calls: list[tuple[Sequence[Message], Mapping[str, Any]]] = []

        def respond(messages: Sequence[Message], context: Mapping[str, Any]) -> str:
            calls.append((messages, context))
            return f"ACTORS: {context.get('narrative', '')[:8]}"

        register_mock_responder("test.deconstruct", respond)
        yield calls
        unregister_mock_responder("test.deconstruct")

    async def test_responder_answers_its_task(self, registered: list[Any]) -> None:
        completion = await MockLLM().complete(
            _ask("x"), task="test.deconstruct", context={"narrative": PARKS}
        )

        assert completion.text == "ACTORS: In 1955,"
        assert registered == [(_ask("x"), {"narrative": PARKS})]

    async def test_responder_wins_over_the_schema(self, registered: list[Any]) -> None:
        completion = await MockLLM().complete(
            _ask("x"), task="test.deconstruct", json_schema={"type": "object"}
        )

        assert completion.text == "ACTORS: "

    async def test_other_tasks_are_not_affected(self, registered: list[Any]) -> None:
        completion = await MockLLM().complete(_ask(PARKS), task="test.other")

        assert not completion.text.startswith("ACTORS")
        assert registered == []

    async def test_unregistered_responder_is_gone(self) -> None:
        register_mock_responder("test.gone", lambda messages, context: "gone")
        unregister_mock_responder("test.gone")

        completion = await MockLLM().complete(_ask(PARKS), task="test.gone")

        assert completion.text != "gone"
