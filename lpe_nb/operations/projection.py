"""The projection job: a narrative retold as an allegory in another world, in five chained LLM steps.

deconstruct -> map -> reconstruct -> stylize -> reflect. Progress has the seed's stages (initializing
configuration, creating projection, each step as it starts and ends, finalizing), weighted by how long
each really takes: the set-up stages are ~0 % and each LLM step moves the bar by its share of the expected
time (from earlier projections on the same model; equal shares until there are any). The steps are also
reused by ``maieutic_answer`` to project an enriched narrative.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lpe_nb.jobs import StepContext
from lpe_nb.llm import LLM
from lpe_nb.operations._steps import audit, messages, opening, text_step
from lpe_nb.operations.catalog import Catalog, CatalogEntry
from lpe_nb.operations.inputs import ProjectionInput
from lpe_nb.operations.spec import JobSpec

__all__ = ["PROJECTION_STEPS", "SPEC", "project_narrative", "run_projection", "title"]

PROJECTION_STEPS = ("deconstruct", "map", "reconstruct", "stylize", "reflect")
_PLACEHOLDER = re.compile(r"\{(narrative|deconstruct|map|reconstruct|stylize)\}")
StepHook = Callable[[int, str, bool], None]
"""Called with (step index 0..4, step name, done) when a step starts (done False) and ends (done True)."""

_SYSTEM = "You are the Lamish Projection Engine, which retells real narratives as faithful allegories."


def title(data: ProjectionInput) -> str:
    return f"Projection: {opening(data.narrative, 6)}"


async def project_narrative(
    ctx: StepContext,
    llm: LLM,
    narrative: str,
    persona: CatalogEntry,
    namespace: CatalogEntry,
    style: CatalogEntry,
    *,
    step_prefix: str = "",
    hook: StepHook | None = None,
) -> dict[str, str]:
    """Run the five steps; returns each step's text by name. Finished steps are restored, not re-run."""
    outputs: dict[str, str] = {}
    base = {"persona": persona.name, "namespace": namespace.name, "style": style.name}
    plans: list[tuple[str, str, dict[str, Any]]] = [
        (
            "deconstruct",
            "Break this narrative into its elements. Use the headings Actors (who), Events (what), "
            "Motives and conflicts (why), Methods (how) and Outcome. Be concrete; do not interpret.\n\n"
            f"Narrative:\n{narrative}",
            {"narrative": narrative},
        ),
        (
            "map",
            f"Map every actor, event and institution below to a specific counterpart in the world of "
            f"{namespace.prompt_text()}. Keep every relationship and the order of events: a faithful "
            "mapping, one line per element as 'original -> counterpart: why', not a loose reinterpretation."
            "\n\nElements:\n{deconstruct}",
            {"namespace_description": namespace.description},
        ),
        (
            "reconstruct",
            f"Tell the mapped story in the voice of {persona.prompt_text()}. Keep the sequence, the "
            "relationships, the conflict and the outcome of the original unchanged; only the world "
            "changes.\n\nOriginal narrative:\n{narrative}\n\nMapping:\n{map}",
            {"narrative": narrative, "persona_description": persona.description},
        ),
        (
            "stylize",
            f"Rewrite this story in the style {style.prompt_text()}. Change only tone and voice; keep every "
            "event, relationship and the outcome.\n\nStory:\n{reconstruct}",
            {"style_description": style.description},
        ),
        (
            "reflect",
            f"Reflect, as {persona.prompt_text()}, on what this allegory in {namespace.name} reveals about the "
            "original narrative: what the mapping makes visible, what it hides, and what a reader can "
            "learn. Compare the two.\n\nOriginal narrative:\n{narrative}\n\nAllegory:\n{stylize}",
            {"narrative": narrative},
        ),
    ]
    for index, (name, template, extra) in enumerate(plans):
        prompt = _fill(template, {"narrative": narrative, **outputs})
        context = {**base, **extra, **{k: v for k, v in outputs.items() if "{" + k + "}" in template}}
        step_name = step_prefix + name
        running = ctx.finished_step(step_name) is None
        if hook is not None and running:
            hook(index, name, False)
        outputs[name] = await text_step(
            ctx, llm, step_name, messages(_SYSTEM, prompt), task=f"projection.{name}", context=context
        )
        if hook is not None and running:
            hook(index, name, True)
    return outputs


def _fill(template: str, values: dict[str, str]) -> str:
    """Substitute placeholders in one pass, so braces inside a narrative or an output stay as they are."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), template)


def make_run(llm: LLM, catalog: Catalog) -> Callable[[StepContext, ProjectionInput], Any]:
    """The ``projection`` operation bound to an LLM and a catalog."""

    async def run(ctx: StepContext, data: ProjectionInput) -> dict[str, Any]:
        return await run_projection(ctx, llm, catalog, data)

    return run


async def run_projection(
    ctx: StepContext, llm: LLM, catalog: Catalog, data: ProjectionInput
) -> dict[str, Any]:
    """The whole projection job; see the module docstring for its progress."""
    await ctx.plan(PROJECTION_STEPS, model=llm.model)
    ctx.report("initializing configuration")
    persona = catalog.get("persona", data.persona)
    namespace = catalog.get("namespace", data.namespace)
    style = catalog.get("style", data.style)
    ctx.report(
        "creating projection",
        details={"persona": persona.name, "namespace": namespace.name, "style": style.name},
    )

    def hook(index: int, name: str, done: bool) -> None:
        ctx.report(f"{name}: {'done' if done else 'running'}", details={"step": name, "index": index + 1})

    outputs = await project_narrative(ctx, llm, data.narrative, persona, namespace, style, hook=hook)
    ctx.report("finalizing")
    return {
        "final_projection": outputs["stylize"],
        "reflection": outputs["reflect"],
        "persona": persona.name,
        "namespace": namespace.name,
        "style": style.name,
        **audit(ctx, llm),
    }


SPEC = JobSpec(
    "projection",
    input_model=ProjectionInput,
    make_run=lambda services: make_run(services.llm, services.catalog),
    title=title,
    description="Retell a narrative as an allegory: deconstruct, map, reconstruct, stylize, reflect.",
    path="projection/create",
    summary="Start a projection",
    # a maieutic session's enriched narrative, or a round trip's back-translation, is a story to project
    inputs_from={
        "maieutic_answer": {"narrative": "enriched_narrative"},
        "translation": {"narrative": "back_translation"},
    },
)
