"""Every job's LLM calls under one result-cache scope: the job's and its type's opt-out, the step's
counts, and answers kept only once their step is saved (:mod:`lpe_nb.llm.cache`, ``docs/caching.md``)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from lpe_nb.jobs import OperationFn, StepContext
from lpe_nb.llm import CacheScope, cache_scope

__all__ = ["with_cache_scope"]


def with_cache_scope(run: OperationFn, *, type_allows: bool) -> OperationFn:
    """``run`` with its LLM calls in the job's cache scope: cached unless the type (``type_allows``) or the
    job (``cache=False`` at submit) opts out; every call and hit counted in the running step's usage
    (``llm_calls``, ``cache_hits``) and a hit shown in the progress."""

    @functools.wraps(run)
    async def run_in_scope(ctx: StepContext, data: Any) -> Any:
        async def keep(write: Callable[[], Awaitable[None]]) -> None:
            if not ctx.after_step(write):  # a call outside any step: nothing checkpoints it, keep it now
                await write()

        scope = CacheScope(
            enabled=type_allows and ctx.use_cache,
            on_call=lambda cached: ctx.record_llm_call(cached=cached),
            keep=keep,
        )
        with cache_scope(scope):
            return await run(ctx, data)

    return run_in_scope
