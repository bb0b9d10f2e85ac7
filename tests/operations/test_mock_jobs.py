"""Translation, maieutic, configuration and invalid inputs with the mock LLM."""

from __future__ import annotations

import pytest

from lpe_nb.embedded import Engine
from lpe_nb.errors import InvalidInput
from lpe_nb.jobs import JobStatus
from tests.operations.conftest import (
    NARRATIVE,
    OTHER_NARRATIVE,
    assert_subsequence,
    percentages,
    progress_labels,
    run_and_watch,
)


async def test_translation_round_trip_reports_drift_chrf_and_elements(engine: Engine) -> None:
    job, events = await run_and_watch(
        engine.manager, "translation", {"text": NARRATIVE, "intermediate_language": "French"}
    )
    assert job.status is JobStatus.COMPLETED, job.error_message
    expected = ["initializing", "forward translation: running", "forward translation: done",
                "backward translation: running", "backward translation: done", "semantic drift analysis: running",
                "semantic drift analysis: done", "element analysis: running", "complete", "completed"]  # fmt: skip
    assert_subsequence(progress_labels(events), expected)
    pct = percentages(events)
    assert pct == sorted(pct) and pct[-1] == 100.0
    r = job.result_data
    assert r["intermediate_language"] == "french" and r["intermediate_text"].startswith("[in French] ")
    assert r["drift"] == pytest.approx(1 - r["similarity"], abs=1e-4)
    assert 0 < r["drift"] < 1 and 0 < r["chrf"] < 100
    assert r["lost_elements"] and r["linguistic_analysis"]["structural_changes"]
    assert {"preserved_elements", "gained_elements", "steps", "llm", "usage"} <= set(r)
    other, _ = await run_and_watch(
        engine.manager, "translation", {"text": OTHER_NARRATIVE, "intermediate_language": "german"}
    )
    assert other.result_data["back_translation"] != r["back_translation"]


async def test_maieutic_asks_one_question_per_depth_and_answers_chain_into_projection(engine: Engine) -> None:
    job, events = await run_and_watch(
        engine.manager, "maieutic", {"narrative": NARRATIVE, "goal": "discover", "max_turns": 3}
    )
    assert job.status is JobStatus.COMPLETED, job.error_message
    expected = ["session initialization"]
    for depth in range(3):
        expected += [f"question at depth {depth}: running", f"question at depth {depth}: done"]
    expected += ["dialogue structure preparation", "interactive session setup", "completed"]
    assert_subsequence(progress_labels(events), expected)
    session = job.result_data
    assert session["session_id"] == job.id and session["status"] == "awaiting_answers"
    assert [q["depth"] for q in session["questions"]] == [0, 1, 2]
    assert all(
        q["question"].startswith("Looking past the obvious, ") for q in session["questions"]
    )  # the goal
    steps = {s["name"]: s for s in session["steps"]}
    assert steps["question_2"]["input"]["previous_questions"] == [
        q["question"] for q in session["questions"][:2]
    ]

    answers = ["She was tired of giving in.", "", "Dignity mattered more than comfort."]
    answered, _ = await run_and_watch(
        engine.manager, "maieutic_answer", {"session_id": job.id, "answers": answers, "project": True}
    )
    assert answered.status is JobStatus.COMPLETED, answered.error_message
    r = answered.result_data
    assert len(r["dialogue"]) == 2 and r["insights"] and r["synthesis"]
    cfg = r["suggested_config"]
    assert cfg["persona"] in engine.catalog.names("persona") and cfg["style"] in engine.catalog.names("style")
    assert "Dignity mattered" in r["enriched_narrative"]
    assert r["projection"]["final_projection"] and r["projection"]["persona"] == cfg["persona"]
    assert [s["name"] for s in r["steps"]][-5:] == [
        f"projection_{n}" for n in ("deconstruct", "map", "reconstruct", "stylize", "reflect")
    ]


async def test_maieutic_answer_is_refused_at_submit_without_a_usable_session(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="no maieutic session") as unknown:
        await engine.manager.submit("maieutic_answer", {"session_id": "nope", "answers": ["x"]})
    assert set(unknown.value.fields) == {"session_id"}
    projection, _ = await run_and_watch(engine.manager, "projection", {"narrative": NARRATIVE})
    with pytest.raises(InvalidInput, match="not a completed maieutic session"):
        await engine.manager.submit("maieutic_answer", {"session_id": projection.id, "answers": ["x"]})
    session, _ = await run_and_watch(engine.manager, "maieutic", {"narrative": NARRATIVE, "max_turns": 2})
    with pytest.raises(InvalidInput, match="3 answers for 2 questions") as too_many:
        await engine.manager.submit("maieutic_answer", {"session_id": session.id, "answers": ["a", "b", "c"]})
    assert set(too_many.value.fields) == {"answers"}
    assert [job.type for job in (await engine.manager.list_jobs()).jobs] == ["maieutic", "projection"]


async def test_configuration_saves_an_entry_that_a_projection_then_accepts(
    engine: Engine, db_path: object
) -> None:
    with pytest.raises(InvalidInput):
        await engine.projection(NARRATIVE, persona="noir-detective")
    job, events = await run_and_watch(
        engine.manager,
        "configuration",
        {"attribute": "persona", "brief": "a noir detective who distrusts institutions"},
    )
    assert job.status is JobStatus.COMPLETED, job.error_message
    assert_subsequence(
        progress_labels(events),
        [
            "initializing",
            "generating the persona",
            "validating entry",
            "saving entry",
            "complete",
            "completed",
        ],
    )
    name = job.result_data["entry"]["name"]
    assert name in engine.catalog.names("persona")
    stored = await engine.manager.store.catalog_entries()
    assert [e.name for e in stored] == [name]
    done, _ = await run_and_watch(engine.manager, "projection", {"narrative": NARRATIVE, "persona": name})
    assert done.status is JobStatus.COMPLETED and done.result_data["persona"] == name


@pytest.mark.parametrize(
    ("job_type", "data", "field"),
    [
        ("projection", {}, "narrative"),
        ("projection", {"narrative": "   "}, "narrative"),
        ("projection", {"narrative": "x", "persona": "poet"}, "persona"),
        ("projection", {"narrative": "x" * 20_001}, "narrative"),
        ("projection", {"narrative": "x", "colour": "red"}, "colour"),
        ("translation", {"text": "x", "intermediate_language": "klingon"}, "intermediate_language"),
        ("translation", {"text": "", "intermediate_language": "french"}, "text"),
        ("maieutic", {"narrative": "x", "max_turns": 11}, "max_turns"),
        ("maieutic", {"narrative": "x", "max_turns": 0}, "max_turns"),
        ("maieutic", {"narrative": "x", "goal": "win"}, "goal"),
        ("configuration", {"attribute": "colour", "brief": "a thing"}, "attribute"),
    ],
)
async def test_invalid_input_names_the_field_and_stores_nothing(
    engine: Engine, job_type: str, data: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await engine.manager.submit(job_type, data)
    assert field in caught.value.fields
    assert (await engine.manager.list_jobs()).jobs == []


async def test_unknown_persona_message_lists_the_choices(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match=r"unknown persona 'poet'; choose one of: neutral, advocate"):
        await engine.projection(NARRATIVE, persona="poet")


@pytest.mark.parametrize("brief", ["000", "a b", "noir detective"])
async def test_configuration_on_the_mock_completes_for_any_valid_brief_on_its_first_attempt(
    engine: Engine, brief: str
) -> None:
    job_id = await engine.submit("configuration", {"attribute": "style", "brief": brief})
    job = await engine.manager.wait(job_id, timeout_s=30)
    assert job.status is JobStatus.COMPLETED, job.error_message
    assert job.attempts == 1  # the mock's reply is valid as it is, not after retries
