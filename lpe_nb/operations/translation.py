"""The translation round-trip job: how much meaning survives text -> another language -> back.

Steps: forward, backward, drift (LLM-judged meaning similarity; ``drift = 1 - similarity``, with chrF
between the original and the back-translation computed by sacrebleu beside it, so the number is not only
the model's), element analysis. Progress: initializing 20 %, forward 40 %, backward 60 %, drift 80 %,
complete 100 %, each reported when it happens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sacrebleu.metrics.chrf import CHRF

from lpe_nb.jobs import StepContext
from lpe_nb.llm import LLM
from lpe_nb.operations._steps import audit, json_step, messages, text_step
from lpe_nb.operations.inputs import TranslationInput

__all__ = ["DriftJudgement", "ElementAnalysis", "LinguisticAnalysis", "chrf", "make_run", "title"]

_TOTAL = 5
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
    return round(float(CHRF().sentence_score(back_translation, [original]).score), 2)


def title(data: TranslationInput) -> str:
    words = data.text.split()
    return (
        f"Translation via {data.intermediate_language}: "
        + " ".join(words[:5])
        + ("…" if len(words) > 5 else "")
    )


async def _translate(ctx: StepContext, llm: LLM, direction: str, text: str, source: str, target: str) -> str:
    """The forward or backward translation step."""
    prompt = f"Translate this {source} text into {target}. Reply with the translation only.\n\n{text}"
    return await text_step(
        ctx, llm, f"{direction}_translation", messages(_SYSTEM, prompt), task=f"translation.{direction}",
        context={"text": text, "from_language": source, "to_language": target},
    )  # fmt: skip


def make_run(llm: LLM) -> Callable[[StepContext, TranslationInput], Any]:
    """The ``translation`` operation bound to an LLM."""

    async def run(ctx: StepContext, data: TranslationInput) -> dict[str, Any]:
        source, target = data.source_language, data.intermediate_language
        ctx.report("initializing", completed_steps=1, total_steps=_TOTAL)
        ctx.report("forward translation: running", completed_steps=1, total_steps=_TOTAL)
        forward = await _translate(ctx, llm, "forward", data.text, source, target)
        ctx.report("forward translation: done", completed_steps=2, total_steps=_TOTAL)
        ctx.report("backward translation: running", completed_steps=2, total_steps=_TOTAL)
        backward = await _translate(ctx, llm, "backward", forward, target, source)
        ctx.report("backward translation: done", completed_steps=3, total_steps=_TOTAL)
        ctx.report("semantic drift analysis: running", completed_steps=3, total_steps=_TOTAL)
        judgement = await json_step(
            ctx, llm, "drift_analysis",
            messages(_SYSTEM, "Judge how similar in meaning these two texts are. Reply with JSON: "
                     '{"similarity": 0..1 (1 = same meaning), "explanation": "..."}.'
                     f"\n\nOriginal:\n{data.text}\n\nBack-translation:\n{backward}"),
            DriftJudgement,
            task="translation.drift",
            context={"original": data.text, "back_translation": backward},
        )  # fmt: skip
        surface = chrf(data.text, backward)
        ctx.report(
            "semantic drift analysis: done", completed_steps=4, total_steps=_TOTAL,
            details={"drift": round(1 - judgement.similarity, 4), "chrf": surface},
        )  # fmt: skip
        ctx.report("element analysis: running", completed_steps=4, total_steps=_TOTAL)
        elements = await json_step(
            ctx, llm, "element_analysis",
            messages(_SYSTEM, "Compare the original with its back-translation. Reply with JSON listing "
                     "preserved_elements, lost_elements, gained_elements (lists of short phrases) and "
                     "linguistic_analysis {tone_change, style_change, complexity_change, structural_changes[]}."
                     f"\n\nOriginal:\n{data.text}\n\nBack-translation:\n{backward}"),
            ElementAnalysis,
            task="translation.elements",
            context={"original": data.text, "back_translation": backward},
        )  # fmt: skip
        ctx.report("complete", completed_steps=5, total_steps=_TOTAL)
        return {
            "original_text": data.text,
            "source_language": source,
            "intermediate_language": target,
            "intermediate_text": forward,
            "back_translation": backward,
            "similarity": judgement.similarity,
            "drift": round(1.0 - judgement.similarity, 4),
            "drift_explanation": judgement.explanation,
            "chrf": surface,
            **elements.model_dump(mode="json"),
            **audit(ctx, llm),
        }

    return run
