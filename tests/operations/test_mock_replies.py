"""The offline mock's replies read well: grammatical, about the input, varied by persona, namespace and
style, and the same for the same input. Checked through the mock LLM the operations use, step by step."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from lpe_nb.llm import MockLLM
from lpe_nb.operations.catalog import BUILTIN_ENTRIES, KINDS, Catalog
from lpe_nb.operations.configuration import GeneratedEntry
from lpe_nb.operations.maieutic import Insights, SuggestedConfig
from lpe_nb.operations.translation import DriftJudgement, ElementAnalysis
from tests.grammar import grammar_problems

PARKS = (
    "Rosa Parks refused to give up her seat on a Montgomery bus in 1955. Her arrest sparked a boycott "
    "led by Martin Luther King, and the city's segregation law was struck down a year later."
)
APOLLO = (
    "In 1969, Neil Armstrong and Buzz Aldrin landed on the Moon while Michael Collins orbited above. "
    "The Apollo program had raced the Soviet Union for a decade."
)
UNNAMED = "A child planted a tree in the empty lot. Years later, the neighbours gathered in its shade."
HEADINGS = (
    "# Background\nThe Town Council met in Springfield to vote on the dam.\n\n"
    "## Outcome\nMayor Quimby resigned after the vote, and the river was left to run free."
)
QUOTED = (
    "The old fisherman asked, \u201cWill the sea give back what it took?\u201d Nobody answered. At dawn, his "
    "daughter rowed out alone, and she found the lost nets by noon."
)
NARRATIVES = (PARKS, APOLLO, UNNAMED, HEADINGS, QUOTED)
IDS = ["parks", "apollo", "unnamed", "headings", "quoted"]
BUILTIN = {
    kind: [e.name for e in BUILTIN_ENTRIES if e.kind == kind] for kind in ("persona", "namespace", "style")
}

CHOICES = {kind: Catalog().names(kind) for kind in KINDS}


def reply(task: str, **context: Any) -> str:
    return MockLLM().reply_text([{"role": "user", "content": "(the prompt)"}], task=task, context=context)


def projection(narrative: str, persona: str = "neutral", namespace: str = "lamish-galaxy", style: str = "standard") -> dict[str, str]:  # fmt: skip
    """Each projection step's mock reply, chained as the operation chains them."""
    base = {"persona": persona, "namespace": namespace, "style": style}
    out: dict[str, str] = {}
    out["deconstruct"] = reply("projection.deconstruct", **base, narrative=narrative)
    out["map"] = reply("projection.map", **base, namespace_description="", deconstruct=out["deconstruct"])
    out["reconstruct"] = reply(
        "projection.reconstruct", **base, narrative=narrative, persona_description="", map=out["map"]
    )
    out["stylize"] = reply("projection.stylize", **base, style_description="", reconstruct=out["reconstruct"])
    out["reflect"] = reply("projection.reflect", **base, narrative=narrative, stylize=out["stylize"])
    return out


def questions(narrative: str, goal: str = "understand", turns: int = 10) -> list[str]:
    asked: list[str] = []
    for depth in range(turns):
        asked.append(
            reply(
                "maieutic.question",
                narrative=narrative,
                goal=goal,
                depth=depth,
                previous_questions=list(asked),
            )
        )
    return asked


class TestGrammar:
    @pytest.mark.parametrize("narrative", NARRATIVES, ids=IDS)
    def test_every_projection_step_reads_as_sentences(self, narrative: str) -> None:
        for persona, namespace, style in zip(
            BUILTIN["persona"], BUILTIN["namespace"], BUILTIN["style"], strict=False
        ):
            steps = projection(narrative, persona, namespace, style)
            for name, text in steps.items():
                assert grammar_problems(text) == [], (name, persona, namespace, style, text)
        assert grammar_problems(projection(narrative, style="futuristic")["stylize"]) == []

    @pytest.mark.parametrize("narrative", NARRATIVES, ids=IDS)
    def test_questions_are_distinct_open_questions(self, narrative: str) -> None:
        for goal in ("understand", "clarify", "discover", "question"):
            asked = questions(narrative, goal)
            assert len(set(asked)) == len(asked) == 10
            for question in asked:
                assert question.endswith("?") and question.count("?") == 1, question
                assert grammar_problems(question) == [], question

    def test_the_old_broken_phrasings_are_gone(self) -> None:
        seen = " ".join([*projection(UNNAMED, persona="scientist").values(), *questions(UNNAMED)])
        assert "would tell it" not in seen and "when child planted" not in seen
        assert "when a child planted a tree in the empty lot" in seen

    def test_translation_analysis_and_dialogue_replies_are_grammatical(self) -> None:
        forward = reply("translation.forward", text=PARKS, from_language="english", to_language="german")
        back = reply("translation.backward", text=forward, from_language="german", to_language="english")
        drift = json.loads(reply("translation.drift", original=PARKS, back_translation=back))
        insights = json.loads(reply("maieutic.insights", narrative=PARKS, goal="understand", dialogue=[
            {"depth": 0, "question": "q", "answer": "she was tired of giving in"},
            {"depth": 1, "question": "q", "answer": "Dignity mattered more than comfort."},
        ]))["insights"]  # fmt: skip
        synthesis = reply("maieutic.synthesis", narrative=PARKS, insights=insights)
        for text in (forward, back, drift["explanation"], *insights, synthesis):
            assert grammar_problems(text) == [], text


class TestAboutTheInput:
    def test_deconstruct_names_actors_places_and_events_not_headings(self) -> None:
        parks = reply("projection.deconstruct", narrative=PARKS)
        assert "Actors: Rosa Parks; Martin Luther King." in parks and "Places: Montgomery." in parks
        assert "1. Rosa Parks refused to give up her seat on a Montgomery bus in 1955." in parks
        headed = projection(HEADINGS)
        actors = headed["deconstruct"].splitlines()[0]
        assert "Town Council" in actors and "Mayor Quimby" in actors
        for heading in ("Background", "Outcome Mayor", "# "):
            assert heading not in actors and heading not in headed["map"]
        unnamed = reply("projection.deconstruct", narrative=UNNAMED)
        assert unnamed.splitlines()[0] == "Actors: the child; the neighbours."

    def test_the_map_gives_each_actor_and_place_its_own_counterpart(self) -> None:
        lines = projection(PARKS, namespace="medieval-realm")["map"].splitlines()
        originals = [line.split(" -> ")[0] for line in lines]
        assert originals[:3] == ["Rosa Parks", "Martin Luther King", "Montgomery"]
        counterparts = [line.split(" -> ")[1].split(",")[0] for line in lines[:3]]
        assert len(set(counterparts)) == 3 and "Montgomery" not in counterparts

    def test_the_retelling_keeps_the_events_under_new_names(self) -> None:
        steps = projection(PARKS, namespace="steampunk-era")
        retold = steps["reconstruct"]
        hero = steps["map"].splitlines()[0].split(" -> ")[1].split(",")[0]
        assert hero in retold and "Rosa Parks" not in retold and "Montgomery" not in retold
        assert "refused to give up her seat" in retold and "omnibus" in retold  # same act, that world's bus
        assert (
            "Rosa Parks" in steps["reflect"] and "Montgomery" in steps["reflect"]
        )  # compares with the original

    def test_structured_replies_keep_their_json_shape(self) -> None:
        back = reply(
            "translation.backward", text=reply("translation.forward", text=APOLLO, to_language="hindi")
        )
        shapes: list[tuple[type[BaseModel], str]] = [
            (DriftJudgement, reply("translation.drift", original=APOLLO, back_translation=back)),
            (ElementAnalysis, reply("translation.elements", original=APOLLO, back_translation=back)),
            (Insights, reply("maieutic.insights", dialogue=[{"depth": 2, "question": "q", "answer": "Pride."}])),
            (SuggestedConfig, reply("maieutic.suggest", synthesis="About Rosa Parks.", choices=CHOICES)),
            (GeneratedEntry, reply("configuration.generate", attribute="style", brief="telegrams from the front")),
        ]  # fmt: skip
        for model, text in shapes:
            model.model_validate_json(text)
        elements = ElementAnalysis.model_validate_json(shapes[1][1])
        assert "Neil Armstrong" in elements.preserved_elements and elements.lost_elements


class TestVariety:
    @pytest.mark.parametrize(("kind", "step"), [("persona", "reconstruct"), ("persona", "reflect"),
                                                ("namespace", "map"), ("namespace", "reconstruct"),
                                                ("style", "stylize")])  # fmt: skip
    def test_each_builtin_entry_gives_different_wording(self, kind: str, step: str) -> None:
        texts = {name: projection(PARKS, **{kind: name})[step] for name in BUILTIN[kind]}
        for (a, text_a), (b, text_b) in itertools.combinations(texts.items(), 2):
            assert _first_sentence(text_a) != _first_sentence(text_b), (a, b)

    def test_an_entry_a_user_added_gets_a_voice_named_after_it(self) -> None:
        steps = projection(PARKS, persona="noir-detective", namespace="deep-sea-trench", style="telegram")
        assert "the noir detective" in steps["reconstruct"] and "deep sea trench" in steps["map"]
        assert steps["stylize"].startswith("A telegram telling: ")
        for text in steps.values():
            assert grammar_problems(text) == [], text

    def test_each_goal_leads_its_questions_differently(self) -> None:
        firsts = {
            goal: questions(PARKS, goal, 1)[0] for goal in ("understand", "clarify", "discover", "question")
        }
        assert len({q.split(",")[0] for q in firsts.values()}) == 4


class TestDeterminism:
    def test_the_same_input_gives_the_same_replies(self) -> None:
        assert projection(APOLLO, "artist", "cyberpunk-future", "poetic") == projection(
            APOLLO, "artist", "cyberpunk-future", "poetic"
        )
        assert questions(UNNAMED, "clarify") == questions(UNNAMED, "clarify")

    def test_and_the_same_in_another_process(self) -> None:
        script = (
            "import json, sys; from tests.operations.test_mock_replies import projection, questions; "
            "print(json.dumps([projection(sys.argv[1], 'critic', 'natural-world', 'archaic'), "
            "questions(sys.argv[1])]))"
        )
        root = str(Path(__file__).resolve().parents[2])
        outputs = [
            json.loads(
                subprocess.run(
                    [sys.executable, "-c", script, PARKS],
                    env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": root},
                    capture_output=True, text=True, check=True, timeout=60,
                ).stdout
            )
            for seed in ("1", "2")
        ]  # fmt: skip
        here = json.loads(
            json.dumps([projection(PARKS, "critic", "natural-world", "archaic"), questions(PARKS)])
        )
        assert outputs == [here, here]


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?:])\s", text.strip(), maxsplit=1)[0]
