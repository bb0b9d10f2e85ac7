"""The pure types every LLM provider speaks: messages in, a :class:`Completion` out.

Nothing here does I/O, so operations and tests can build and inspect these values freely. The
:class:`LLM` protocol is the seam between the job steps and whichever provider is configured.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict

__all__ = ["LLM", "Completion", "DeltaCallback", "Message", "Role", "Usage"]

Role = Literal["system", "user", "assistant"]

DeltaCallback = Callable[[str], None]
"""Receives each streamed text delta, synchronously and in order; it must return quickly.

An empty string means the reply starts over (a call retried after its stream broke mid-answer): drop the
text received so far."""


class Message(TypedDict):
    """One chat message; a plain dict so prompts can be written as literals and sent as JSON."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one or more calls; ``a + b`` sums them (a job adds up its steps)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """Rebuild a usage stored with :meth:`as_dict` (e.g. a resumed job's finished steps); missing keys are 0."""
        prompt = int(data.get("prompt_tokens", 0))
        completion = int(data.get("completion_tokens", 0))
        return cls(prompt, completion, int(data.get("total_tokens", prompt + completion)))


@dataclass(frozen=True, slots=True)
class Completion:
    """The full reply of one call, with the provider and model that really produced it.

    ``degraded`` is true when a fallback answered instead of the configured model; ``degraded_reason`` then
    says why, so a result never hides that it came from the mock. ``cost_usd`` is what the call cost at the
    prices in force when it was made (:mod:`lpe_nb.llm.pricing`; 0 for the mock, None when the model has
    no price); a reply served from a cache made no call and costs 0 (``replace(completion, cost_usd=0.0)``).
    """

    text: str
    usage: Usage
    provider: str
    model: str
    degraded: bool = False
    degraded_reason: str | None = None
    cached: bool = False  # answered from the result cache: no call was made (lpe_nb.llm.cache)
    cost_usd: float | None = None


class LLM(Protocol):
    """What a job step needs from a language model.

    ``task`` is a dotted label of what the call is for (``"projection.deconstruct"``) and ``context`` the
    step's structured inputs: real providers only log them, the mock builds a fitting reply from them.
    ``json_schema`` asks for a JSON reply that follows the schema. A non-None ``on_delta`` streams: it is
    called with each text delta as it arrives, and the full :class:`Completion` is still returned at the
    end. Raises :class:`~lpe_nb.errors.LlmError` (or a subclass); cancellation propagates and aborts the
    request in flight.
    """

    provider: str
    model: str

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        task: str | None = None,
        context: Mapping[str, Any] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> Completion: ...

    async def aclose(self) -> None:
        """Release connections; the instance must not be used afterwards."""
