"""What every operation shares: an LLM call run as a checkpointed step, and the result's audit fields.

A step's stored output is ``{"text": ...}`` or ``{"data": ...}`` plus ``llm`` (provider, model, degraded,
cached), so a resumed job can still say which model produced each part of its result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from lpe_nb.errors import LlmBadResponse
from lpe_nb.jobs import StepContext
from lpe_nb.llm import LLM, Completion, Message, complete_json

__all__ = ["audit", "json_step", "messages", "opening", "text_step"]

ModelT = TypeVar("ModelT", bound=BaseModel)


def opening(text: str, words: int) -> str:
    """The first ``words`` words of ``text``, with an ellipsis if there are more (for job titles)."""
    split = text.split()
    return " ".join(split[:words]) + ("…" if len(split) > words else "")


def messages(system: str, user: str) -> list[Message]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _llm_info(completion: Completion) -> dict[str, Any]:
    return {
        "provider": completion.provider,
        "model": completion.model,
        "degraded": completion.degraded,
        "cached": completion.cached,  # answered from the result cache: no call, no tokens (docs/caching.md)
    }


async def text_step(
    ctx: StepContext, llm: LLM, name: str, prompt: list[Message], *, task: str, context: Mapping[str, Any]
) -> str:
    """One streamed LLM call as the step ``name``; returns its text (the stored one on resume).

    An empty or whitespace-only reply raises :class:`LlmBadResponse` (transient: the job retries it), so
    nothing empty is ever checkpointed.
    """

    async def work() -> dict[str, Any]:
        completion = await llm.complete(prompt, task=task, context=context, on_delta=ctx.text_streamer())
        if not completion.text.strip():  # whatever the LLM, nothing empty becomes a checkpoint
            raise LlmBadResponse(
                f"{task}: {completion.provider} model {completion.model!r} sent an empty reply",
                model=completion.model,
            )
        ctx.add_usage(completion.usage.as_dict(), model=completion.model, cost_usd=completion.cost_usd)
        return {"text": completion.text, "llm": _llm_info(completion)}

    output = await ctx.run_step(name, work, input=dict(context))
    return str(output["text"])


async def json_step(
    ctx: StepContext,
    llm: LLM,
    name: str,
    prompt: list[Message],
    model_cls: type[ModelT],
    *,
    task: str,
    context: Mapping[str, Any],
) -> ModelT:
    """One LLM call asking for ``model_cls`` as JSON; raises :class:`LlmBadResponse` when it does not parse."""

    async def work() -> dict[str, Any]:
        parsed, completion = await complete_json(
            llm, prompt, model_cls, task=task, context=context, on_delta=ctx.text_streamer()
        )
        ctx.add_usage(completion.usage.as_dict(), model=completion.model, cost_usd=completion.cost_usd)
        return {"data": parsed.model_dump(mode="json"), "llm": _llm_info(completion)}

    output = await ctx.run_step(name, work, input=dict(context))
    return model_cls.model_validate(output["data"])


def audit(ctx: StepContext, llm: LLM) -> dict[str, Any]:
    """``steps``, ``llm``, ``usage`` and ``cost_usd`` (None when no step had a price) for a result, from
    the job's finished steps."""
    steps = []
    infos = []
    for record in ctx.steps:
        output = record.output
        info = output.get("llm") if isinstance(output, Mapping) else None
        if isinstance(info, Mapping):
            infos.append(info)
        shown = output.get("text", output.get("data")) if isinstance(output, Mapping) else output
        steps.append(
            {
                "name": record.name,
                "input": record.input,
                "output": shown,
                "duration_ms": record.duration_ms,
                "tokens": record.usage.get("total_tokens", 0),
                "cost_usd": record.cost_usd,
            }
        )
    last = infos[-1] if infos else {"provider": llm.provider, "model": llm.model}
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, **ctx.usage}
    costs = [step.cost_usd for step in ctx.steps if step.cost_usd is not None]
    return {
        "steps": steps,
        "llm": {
            "provider": last["provider"],
            "model": last["model"],
            "degraded": any(bool(i.get("degraded")) for i in infos),
        },
        "usage": usage,
        "cost_usd": sum(costs) if costs else None,
    }
