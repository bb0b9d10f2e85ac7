"""The translation round-trip job: how much meaning survives text -> another language -> back.

Steps: forward, backward, drift (LLM-judged meaning similarity; ``drift = 1 - similarity``, with chrF
between the original and the back-translation computed by sacrebleu beside it, so the number is not only
the model's), element analysis. Progress has the seed's stages (initializing, forward, backward, drift,
complete), each reported when it happens, and weighted by how long each step really takes (from earlier
round trips on the same model; equal shares until there are any): initializing is 0 %, not 20 %.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lpe_nb.jobs import StepContext
from lpe_nb.llm import LLM
from lpe_nb.operations._steps import audit, json_step, messages, opening, text_step
from lpe_nb.operations.inputs import TranslationInput
from lpe_nb.operations.spec import JobSpec

__all__ = [
    "ROUND_TRIP_STEPS",
    "SPEC",
    "DriftJudgement",
    "ElementAnalysis",
    "LinguisticAnalysis",
    "chrf",
    "make_run",
    "title",
]

ROUND_TRIP_STEPS = ("forward_translation", "backward_translation", "drift_analysis", "element_analysis")
_SYSTEM = "You are a careful translator and linguist."


class DriftJudgement(BaseModel):
    """The judge's verdict on how much meaning the back-translation kept."""

    model_config = ConfigDict(extra="ignore")
    similarity: float = Field(ge=0.0, le=1.0)
    explanation: str


class LinguisticAnalysis(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tone_change: str
    style_change: str
    complexity_change: str
    structural_changes: list[str]


class ElementAnalysis(BaseModel):
    model_config = ConfigDict(extra="ignore")
    preserved_elements: list[str]
    lost_elements: list[str]
    gained_elements: list[str]
    linguistic_analysis: LinguisticAnalysis


def chrf(original: str, back_translation: str) -> float:
    """chrF (0..100) of the back-translation against the original, from sacrebleu."""
    # imported here so that only a translation job pays for sacrebleu (and its regex tables)
    from sacrebleu.metrics.chrf import CHRF

    return round(float(CHRF().sentence_score(back_translation, [original]).score), 2)


def title(data: TranslationInput) -> str:
    return f"Translation via {data.intermediate_language}: {opening(data.text, 5)}"


async def _translate(
    ctx: StepContext, llm: LLM, step: str, direction: str, text: str, source: str, target: str
) -> str:
    """The forward or backward translation step (checkpointed as ``step``)."""
    prompt = f"Translate this {source} text into {target}. Reply with the translation only.\n\n{text}"
    return await text_step(
        ctx, llm, step, messages(_SYSTEM, prompt), task=f"translation.{direction}",
        context={"text": text, "from_language": source, "to_language": target},
    )  # fmt: skip


Phase = Callable[[str, int, "dict[str, Any] | None"], None]  # (label, phase number 1..4, details)


async def round_trip(
    ctx: StepContext, llm: LLM, text: str, source: str, target: str, *, phase: Phase, prefix: str = ""
) -> dict[str, Any]:
    """One round trip and its analysis: forward, backward, drift, elements (steps named ``prefix`` + ...).

    ``phase(label, number, details)`` is called as each of the four phases (numbered 1..4) starts and ends,
    so the caller can report it.
    """
    phase("forward translation: running", 1, None)
    forward = await _translate(ctx, llm, f"{prefix}forward_translation", "forward", text, source, target)
    phase("forward translation: done", 1, None)
    phase("backward translation: running", 2, None)
    backward = await _translate(
        ctx, llm, f"{prefix}backward_translation", "backward", forward, target, source
    )
    phase("backward translation: done", 2, None)
    phase("semantic drift analysis: running", 3, None)
    judgement = await json_step(
        ctx, llm, f"{prefix}drift_analysis",
        messages(_SYSTEM, "Judge how similar in meaning these two texts are. Reply with JSON: "
                 '{"similarity": 0..1 (1 = same meaning), "explanation": "..."}.'
                 f"\n\nOriginal:\n{text}\n\nBack-translation:\n{backward}"),
        DriftJudgement,
        task="translation.drift",
        context={"original": text, "back_translation": backward},
    )  # fmt: skip
    drift, surface = round(1.0 - judgement.similarity, 4), chrf(text, backward)
    phase("semantic drift analysis: done", 3, {"drift": drift, "chrf": surface})
    phase("element analysis: running", 4, None)
    elements = await json_step(
        ctx, llm, f"{prefix}element_analysis",
        messages(_SYSTEM, "Compare the original with its back-translation. Reply with JSON listing "
                 "preserved_elements, lost_elements, gained_elements (lists of short phrases) and "
                 "linguistic_analysis {tone_change, style_change, complexity_change, structural_changes[]}."
                 f"\n\nOriginal:\n{text}\n\nBack-translation:\n{backward}"),
        ElementAnalysis,
        task="translation.elements",
        context={"original": text, "back_translation": backward},
    )  # fmt: skip
    phase("element analysis: done", 4, None)
    return {
        "intermediate_language": target,
        "intermediate_text": forward,
        "back_translation": backward,
        "similarity": judgement.similarity,
        "drift": drift,
        "drift_explanation": judgement.explanation,
        "chrf": surface,
        **elements.model_dump(mode="json"),
    }


def make_run(llm: LLM) -> Callable[[StepContext, TranslationInput], Any]:
    """The ``translation`` operation bound to an LLM."""

    async def run(ctx: StepContext, data: TranslationInput) -> dict[str, Any]:
        source = data.source_language
        await ctx.plan(ROUND_TRIP_STEPS, model=llm.model)
        ctx.report("initializing")

        def phase(label: str, number: int, details: dict[str, Any] | None = None) -> None:
            ctx.report(label, details={**(details or {}), "index": number})

        trip = await round_trip(ctx, llm, data.text, source, data.intermediate_language, phase=phase)
        ctx.report("complete")
        return {"original_text": data.text, "source_language": source, **trip, **audit(ctx, llm)}

    return run


SPEC = JobSpec(
    "translation",
    input_model=TranslationInput,
    make_run=lambda services: make_run(services.llm),
    title=title,
    description="Round-trip translation and the meaning it loses (drift = 1 - similarity, plus chrF).",
    path="translation/round-trip",
    summary="Start a round-trip translation",
    inputs_from={  # a projection's allegory, or an enriched narrative, is a text to send round
        "projection": {"text": "final_projection"},
        "maieutic_answer": {"text": "enriched_narrative"},
    },
)
