from __future__ import annotations

from lpe_nb.embedded import Engine
from lpe_nb.jobs import JobStatus
from tests.operations.conftest import (
    NARRATIVE,
    OTHER_NARRATIVE,
    assert_subsequence,
    percentages,
    progress_labels,
    run_and_watch,
)

STEPS = ["deconstruct", "map", "reconstruct", "stylize", "reflect"]
EXPECTED = ["initializing configuration", "creating projection"]
for _name in STEPS:
    EXPECTED += [f"{_name}: running", f"{_name}: done"]
EXPECTED += ["finalizing", "completed"]


async def test_projection_reports_seed_progress_and_keeps_every_step(engine: Engine) -> None:
    job, events = await run_and_watch(
        engine.manager, "projection", {"narrative": NARRATIVE, "persona": "critic"}
    )

    assert job.status is JobStatus.COMPLETED, job.error_message
    assert_subsequence(progress_labels(events), EXPECTED)
    pct = percentages(events)
    assert pct == sorted(pct) and pct[-1] == 100.0
    _, steps = await engine.manager.get_with_steps(job.id)
    assert [s.name for s in steps] == STEPS
    result = job.result_data
    assert {
        "final_projection",
        "reflection",
        "persona",
        "namespace",
        "style",
        "steps",
        "llm",
        "usage",
    } <= set(result)
    assert (result["persona"], result["namespace"], result["style"]) == (
        "critic",
        "lamish-galaxy",
        "standard",
    )
    assert [s["name"] for s in result["steps"]] == STEPS
    assert all(s["output"] and s["tokens"] > 0 and "duration_ms" in s and s["input"] for s in result["steps"])
    assert result["llm"] == {"provider": "mock", "model": "lpe-mock-1", "degraded": False}
    assert result["usage"]["total_tokens"] == sum(s["tokens"] for s in result["steps"])
    assert "Rosa Parks" in result["reflection"]
    assert "Rosa Parks" not in result["final_projection"]  # retold in the Lamish Galaxy, under other names
    assert "Lamish Galaxy" in result["final_projection"]


async def test_projection_prompts_carry_catalog_descriptions_and_the_original(engine: Engine) -> None:
    job, _ = await run_and_watch(
        engine.manager, "projection", {"narrative": NARRATIVE, "namespace": "medieval-realm"}
    )
    steps = {s["name"]: s for s in job.result_data["steps"]}
    assert "knights" in steps["map"]["input"]["namespace_description"]
    assert steps["reconstruct"]["input"]["narrative"] == NARRATIVE  # sees the original, not only the mapping
    assert steps["reconstruct"]["input"]["map"]
    assert steps["reflect"]["input"]["narrative"] == NARRATIVE and steps["reflect"]["input"]["stylize"]


async def test_projection_is_deterministic_and_input_dependent(engine: Engine) -> None:
    first, _ = await run_and_watch(engine.manager, "projection", {"narrative": NARRATIVE})
    again, _ = await run_and_watch(engine.manager, "projection", {"narrative": NARRATIVE})
    other, _ = await run_and_watch(engine.manager, "projection", {"narrative": OTHER_NARRATIVE})
    assert first.result_data["final_projection"] == again.result_data["final_projection"]
    assert first.result_data["final_projection"] != other.result_data["final_projection"]
    assert first.result_data["reflection"] != other.result_data["reflection"]
    assert first.title.startswith("Projection: Rosa Parks")
