"""Round trips through several languages, compared: per-language results, the summary, input checks."""

from __future__ import annotations

import itertools

import pytest

from lpe_nb.embedded import Engine
from lpe_nb.errors import InvalidInput
from lpe_nb.jobs import JobStatus
from lpe_nb.operations.multi_translation import compare
from tests.operations.conftest import NARRATIVE, every_report, percentages, run_and_watch

LANGUAGES = ["French", "german", "japanese"]


async def test_each_language_gets_a_full_round_trip_and_the_summary_compares_them(engine: Engine) -> None:
    with every_report(engine.manager) as reports:
        job, events = await run_and_watch(
            engine.manager, "multi_translation", {"text": NARRATIVE, "intermediate_languages": LANGUAGES}
        )
    assert job.status is JobStatus.COMPLETED, job.error_message
    r = job.result_data
    trips = r["round_trips"]
    assert [t["intermediate_language"] for t in trips] == ["french", "german", "japanese"]
    for trip in trips:
        assert trip["intermediate_text"].startswith(f"[in {trip['intermediate_language'].capitalize()}] ")
        assert trip["drift"] == pytest.approx(1 - trip["similarity"], abs=1e-4)
    drifts = {t["intermediate_language"]: t["drift"] for t in trips}
    assert drifts[r["most_faithful_language"]] == min(drifts.values())
    assert drifts[r["least_faithful_language"]] == max(drifts.values())
    assert r["mean_drift"] == pytest.approx(sum(drifts.values()) / 3, abs=1e-4)
    stable = r["stable_elements"]
    counts = [len(entry["languages"]) for entry in stable]
    assert counts == sorted(counts, reverse=True) and counts[0] >= 2

    expected_steps = [
        f"{language}.{step}"
        for language in ("french", "german", "japanese")
        for step in ("forward_translation", "backward_translation", "drift_analysis", "element_analysis")
    ]
    assert [step["name"] for step in r["steps"]] == expected_steps
    _, checkpoints = await engine.manager.get_with_steps(job.id)
    assert [step.name for step in checkpoints] == expected_steps  # each a checkpoint of its own
    assert all(a.completed_at <= b.started_at for a, b in itertools.pairwise(checkpoints))  # one at a time
    # Every report goes through the languages in order, each phase started and ended. (A subscriber may
    # see fewer: progress is coalesced while it is not reading, so its events are checked for order only.)
    phases = ("forward translation", "backward translation", "semantic drift analysis", "element analysis")
    expected_labels = [
        f"{language}: {phase}: {state}"
        for language in ("french", "german", "japanese")
        for phase in phases
        for state in ("running", "done")
    ]
    assert [p.current_step for p in reports if p.current_step in expected_labels] == expected_labels
    pct = percentages(events)
    assert pct == sorted(pct) and pct[-1] == 100.0 and events[-1].is_terminal


def test_compare_ranks_elements_by_how_many_languages_keep_or_lose_them() -> None:
    trip = {"drift": 0.0, "chrf": 50.0, "preserved_elements": [], "lost_elements": []}
    trips = [
        {**trip, "intermediate_language": "french", "drift": 0.2, "preserved_elements": ["the Sea", "ship"]},
        {**trip, "intermediate_language": "german", "drift": 0.1, "preserved_elements": ["the sea"],
         "lost_elements": ["dawn"]},
        {**trip, "intermediate_language": "hindi", "drift": 0.4, "lost_elements": ["Dawn", "ship"]},
    ]  # fmt: skip
    summary = compare(trips)
    assert summary["stable_elements"][0] == {"element": "the Sea", "languages": ["french", "german"]}
    assert summary["volatile_elements"][0] == {"element": "dawn", "languages": ["german", "hindi"]}
    assert (summary["most_faithful_language"], summary["least_faithful_language"]) == ("german", "hindi")
    assert summary["mean_drift"] == pytest.approx(0.2333, abs=1e-4)


@pytest.mark.parametrize(
    ("languages", "problem"),
    [
        (["french"], "at least 2"),
        (["french", "French"], "must not repeat"),
        (["french", "english"], "must not include source_language"),
        (["french", "klingon"], "unsupported language"),
        (["french", "german", "italian", "dutch", "polish", "czech", "hindi"], "at most 6"),
    ],
)
async def test_bad_language_lists_are_refused_naming_the_field(
    engine: Engine, languages: list[str], problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem) as refused:
        await engine.manager.submit(
            "multi_translation", {"text": NARRATIVE, "intermediate_languages": languages}
        )
    assert set(refused.value.fields) == {"intermediate_languages"}
