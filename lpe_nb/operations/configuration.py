"""The configuration job: a new persona, namespace or style generated from a brief and saved to the catalog.

Steps: generate (LLM JSON), validate (name pattern, no clash with a built-in, bounded fields), save (to the
user catalog in the job store, which every process on the database reads, and to this process's
snapshot, so a projection submitted next, here or elsewhere, accepts it). An invalid reply
fails the job and saves nothing. The LLM call is the whole of the progress bar; the rest takes no time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lpe_nb.errors import InvalidInput, LlmBadResponse
from lpe_nb.jobs import StepContext
from lpe_nb.llm import LLM
from lpe_nb.operations._steps import audit, json_step, messages
from lpe_nb.operations.catalog import Catalog
from lpe_nb.operations.inputs import ConfigurationInput
from lpe_nb.operations.spec import JobSpec

__all__ = ["SPEC", "GeneratedEntry", "make_run", "slug", "title"]

_FIELD_HINTS = {
    "persona": "voice, values, blind_spots",
    "namespace": "setting, key_institutions, how_ideas_travel",
    "style": "diction, sentence_rhythm, imagery",
}


class GeneratedEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=2, max_length=40)
    description: str = Field(min_length=5, max_length=300)
    fields: dict[str, str] = Field(default_factory=dict, max_length=12)


def slug(name: str) -> str:
    """``name`` as a catalog name: its lowercase letters and digits, words joined by ``-``, 40 chars."""
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))[:40].rstrip("-")


def title(data: ConfigurationInput) -> str:
    return f"Configuration ({data.attribute}): {data.brief[:40]}"


def make_run(llm: LLM, catalog: Catalog) -> Callable[[StepContext, ConfigurationInput], Any]:
    async def run(ctx: StepContext, data: ConfigurationInput) -> dict[str, Any]:
        kind = data.attribute
        await ctx.plan(["generate"], model=llm.model)
        ctx.report("initializing")
        await catalog.refresh()  # the names other processes have saved: the model is told they are taken
        existing = catalog.names(kind)
        ctx.report(f"generating the {kind}")
        entry = await json_step(
            ctx, llm, "generate",
            messages("You design configuration entries for the Lamish Projection Engine.",
                     f"Create a new {kind} from this brief. Reply with JSON "
                     '{"name": "lowercase-slug", "description": "one line that will go into prompts", '
                     f'"fields": {{{_FIELD_HINTS[kind]}: short strings}}}}. The name must not be one of: '
                     f"{', '.join(existing)}.\n\nBrief: {data.brief}"
                     + (f"\nContext: {data.context}" if data.context else "")),
            GeneratedEntry,
            task="configuration.generate",
            context={"attribute": kind, "brief": data.brief, "context": data.context},
        )  # fmt: skip
        # "Patient Gardener" or "patient_gardener" from a model is "patient-gardener", not a failed job
        entry = entry.model_copy(update={"name": slug(entry.name)})
        ctx.report("validating entry", details={"name": entry.name})
        # The catalog's own rules before saving, so a bad entry (or a name another user has) saves nothing.
        problems = catalog.problems(kind, entry.name, entry.description, username=ctx.username)
        if problems:
            invalid = InvalidInput(problems)
            raise LlmBadResponse(f"configuration.generate: the generated {kind} is invalid: {invalid}")
        ctx.report("saving entry")

        async def save() -> dict[str, Any]:
            saved = await catalog.add(
                kind, entry.name, entry.description, entry.fields, username=ctx.username
            )
            return {"data": saved.to_dict()}

        stored = await ctx.run_step("save", save, input={"kind": kind, "name": entry.name})
        ctx.report("complete")
        return {"attribute": kind, "entry": stored["data"], "saved": True, **audit(ctx, llm)}

    return run


SPEC = JobSpec(
    "configuration",
    input_model=ConfigurationInput,
    make_run=lambda services: make_run(services.llm, services.catalog),
    title=title,
    description="Generate a persona, namespace or style from a brief and save it to the user catalog.",
    path="configuration/generate",
    method="configure",
    summary="Generate a persona, namespace or style",
)
