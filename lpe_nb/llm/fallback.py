"""Answer with the mock when the real endpoint is unavailable, and say so on every result.

Only for when the user opted in (``fallback_to_mock``): a job never swaps a real model for the mock
silently. A fallback reply is marked ``degraded`` with the reason, and a warning is logged the first
time each task falls back.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from lpe_nb.errors import LlmUnavailable
from lpe_nb.llm.base import LLM, Completion, DeltaCallback, Message
from lpe_nb.llm.cache import identity_of

__all__ = ["FallbackLLM"]

log = logging.getLogger(__name__)


class FallbackLLM:
    """Calls ``primary``; on :class:`LlmUnavailable` asks ``fallback`` instead and marks the reply degraded.

    Other errors (a bad key, an unknown model, an unparsable reply) are raised as they are: they need a
    fix, not a stand-in. ``provider`` and ``model`` are the primary's; a degraded :class:`Completion`
    carries the fallback's, so results record who really answered. When the primary fails mid-stream,
    the fallback's reply starts over (an empty delta, as :data:`~lpe_nb.llm.base.DeltaCallback` says).
    """

    def __init__(self, primary: LLM, fallback: LLM) -> None:
        self.primary = primary
        self.fallback = fallback
        self.provider: str = primary.provider
        self.model: str = primary.model
        self._warned_tasks: set[str] = set()

    def cache_identity(self) -> dict[str, Any]:
        """The primary's: only its replies are cached (a degraded one never is)."""
        return identity_of(self.primary)

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        task: str | None = None,
        context: Mapping[str, Any] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> Completion:
        streamed = False

        def relay(delta: str) -> None:
            nonlocal streamed
            streamed = True
            if on_delta is not None:
                on_delta(delta)

        try:
            return await self.primary.complete(
                messages, task=task, context=context, json_schema=json_schema,
                on_delta=relay if on_delta is not None else None,
            )  # fmt: skip
        except LlmUnavailable as exc:
            reason = f"{self.primary.provider} model {self.primary.model!r} unavailable: {exc}"
            label = task or "(untagged)"
            if label not in self._warned_tasks:
                self._warned_tasks.add(label)
                log.warning(
                    "LLM task %s answered by %s %r instead, marked degraded; %s",
                    label,
                    self.fallback.provider,
                    self.fallback.model,
                    reason,
                )
        if streamed and on_delta is not None:
            on_delta("")
        completion = await self.fallback.complete(
            messages, task=task, context=context, json_schema=json_schema, on_delta=on_delta
        )
        return dataclasses.replace(completion, degraded=True, degraded_reason=reason)

    async def aclose(self) -> None:
        try:
            await self.primary.aclose()
        finally:
            await self.fallback.aclose()
