"""The multi-language translation job: one text on round trips through several languages, compared.

Each language gets the full round trip of :func:`~lpe_nb.operations.translation.round_trip` (its steps
named ``<language>.forward_translation`` and so on, each a checkpoint). The comparison is computed here,
not asked of the model: the elements kept by the most languages are the *stable* ones, those lost by the
most are the *volatile* ones, and the languages are ranked by drift. Progress is weighted by how long each
step is expected to take (a language never seen before is expected to take what its kind of step took);
initializing and comparing are ~0 %.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from lpe_nb.jobs import StepContext
from lpe_nb.llm import LLM
from lpe_nb.operations._steps import audit, opening
from lpe_nb.operations.inputs import MultiTranslationInput
from lpe_nb.operations.spec import JobSpec
from lpe_nb.operations.translation import ROUND_TRIP_STEPS, round_trip

__all__ = ["SPEC", "compare", "make_run", "title"]

_LISTED = 8  # stable and volatile elements reported


def title(data: MultiTranslationInput) -> str:
    return f"Translation via {', '.join(data.intermediate_languages)}: {opening(data.text, 4)}"


def _ranked(lists_by_language: dict[str, Iterable[str]]) -> list[dict[str, Any]]:
    """Elements by how many languages name them (most first), with those languages."""
    languages_of: dict[str, list[str]] = {}
    shown: dict[str, str] = {}
    for language, elements in lists_by_language.items():
        for element in elements:
            key = " ".join(element.lower().split())
            if key and language not in languages_of.setdefault(key, []):
                languages_of[key].append(language)
                shown.setdefault(key, element.strip())
    counts = Counter({key: len(languages) for key, languages in languages_of.items()})
    ordered = sorted(counts, key=lambda key: (-counts[key], key))[:_LISTED]
    return [{"element": shown[key], "languages": languages_of[key]} for key in ordered]


def compare(trips: list[dict[str, Any]]) -> dict[str, Any]:
    """The cross-language summary of the round trips (each a ``round_trip`` result)."""
    by_drift = sorted(trips, key=lambda trip: (trip["drift"], trip["intermediate_language"]))
    count = len(trips)
    return {
        "stable_elements": _ranked({t["intermediate_language"]: t["preserved_elements"] for t in trips}),
        "volatile_elements": _ranked({t["intermediate_language"]: t["lost_elements"] for t in trips}),
        "most_faithful_language": by_drift[0]["intermediate_language"],
        "least_faithful_language": by_drift[-1]["intermediate_language"],
        "mean_drift": round(sum(t["drift"] for t in trips) / count, 4),
        "mean_chrf": round(sum(t["chrf"] for t in trips) / count, 2),
    }


def make_run(llm: LLM) -> Callable[[StepContext, MultiTranslationInput], Any]:
    """The ``multi_translation`` operation bound to an LLM."""

    async def run(ctx: StepContext, data: MultiTranslationInput) -> dict[str, Any]:
        languages = data.intermediate_languages
        await ctx.plan([f"{lang}.{step}" for lang in languages for step in ROUND_TRIP_STEPS], model=llm.model)
        ctx.report("initializing")
        trips = []
        for index, language in enumerate(languages):

            def phase(label: str, number: int, details: dict[str, Any] | None, *, i: int = index) -> None:
                where = {"language": languages[i], "index": len(ROUND_TRIP_STEPS) * i + number}
                ctx.report(f"{languages[i]}: {label}", details={**where, **(details or {})})

            trip = await round_trip(
                ctx, llm, data.text, data.source_language, language, phase=phase, prefix=f"{language}."
            )
            trips.append(trip)
        ctx.report("comparing languages")
        summary = compare(trips)
        ctx.report("complete")
        return {
            "original_text": data.text,
            "source_language": data.source_language,
            "round_trips": trips,
            **summary,
            **audit(ctx, llm),
        }

    return run


SPEC = JobSpec(
    "multi_translation",
    input_model=MultiTranslationInput,
    make_run=lambda services: make_run(services.llm),
    title=title,
    description="Round trips through several languages, compared: the most stable and volatile elements.",
    path="translation/multi",
    summary="Start round trips through several languages",
    inputs_from={
        "projection": {"text": "final_projection"},
        "maieutic_answer": {"text": "enriched_narrative"},
    },
)
