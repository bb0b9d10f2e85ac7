"""An offline LLM that gives deterministic, structurally valid replies built from its input.

Every job type, notebook and test can run with no network. A reply is a function of the call alone
(messages, task, context, schema): no unseeded randomness, no clock. How it answers, in order:

1. a responder registered for the call's ``task`` (:func:`register_mock_responder`; the operations
   package registers one per step so the mock's output reads like that step's output);
2. with a ``json_schema``, a JSON document valid against it, its strings taken from the input;
3. otherwise a few grammatical sentences about the input: its first name, how it moves, a quotation.

The input text is the string values in ``context`` when there are any (the step's own inputs, free of
prompt boilerplate), else the last user message. Keep ``context`` JSON-like: other objects are hashed by
their ``str()``, which must not vary between runs for the reply not to.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from lpe_nb.llm._schema_instance import schema_instance
from lpe_nb.llm.base import Completion, DeltaCallback, Message, Usage
from lpe_nb.llm.text_features import (
    choose,
    proper_names,
    sentences,
    stable_hash,
    token_count,
    truncate_words,
)
from lpe_nb.metrics import current_meter

__all__ = ["MOCK_MODEL", "MockLLM", "MockResponder", "register_mock_responder", "unregister_mock_responder"]

MOCK_MODEL = "lpe-mock-1"

MockResponder = Callable[[Sequence[Message], Mapping[str, Any]], str]
"""Builds the reply text for one task from the messages and the step's context; must be deterministic."""

_RESPONDERS: dict[str, MockResponder] = {}
_MAX_DELTAS = 24  # enough for text to visibly appear, few enough that per-delta sleeps stay meaningful
_PIECE = re.compile(r"\S+\s*|\s+")


def register_mock_responder(task: str, fn: MockResponder) -> None:
    """Make the mock answer calls whose ``task`` equals ``task`` with ``fn``; replaces an earlier one.

    Module-wide (every :class:`MockLLM` sees it), so operations register at import time. Not thread-safe
    against concurrent registration; register before running jobs.
    """
    _RESPONDERS[task] = fn


def unregister_mock_responder(task: str) -> None:
    """Forget the responder for ``task`` (no error when there is none)."""
    _RESPONDERS.pop(task, None)


class MockLLM:
    """The offline provider: ``provider == "mock"``, ``model == "lpe-mock-1"``.

    ``latency_s`` is slept once per call; when streaming it is spread across the deltas so a watcher sees
    the text appear. Usage counts whitespace tokens of the prompt and the reply.
    """

    provider: str = "mock"
    model: str = MOCK_MODEL

    def __init__(self, latency_s: float = 0.0) -> None:
        if latency_s < 0:
            raise ValueError(f"latency_s must be 0 or more, got {latency_s}")
        self.latency_s = latency_s

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        task: str | None = None,
        context: Mapping[str, Any] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> Completion:
        started = time.perf_counter()
        text = self.reply_text(messages, task=task, context=context, json_schema=json_schema)
        # Always sleep, even for 0 s: a call is then a point where a job's cancellation can land.
        if on_delta is None:
            await asyncio.sleep(self.latency_s)
        else:
            deltas = list(_deltas(text))
            for delta in deltas:
                await asyncio.sleep(self.latency_s / len(deltas))
                on_delta(delta)
        prompt_tokens = sum(token_count(m["content"]) for m in messages)
        completion_tokens = token_count(text)
        usage = Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)
        meter = current_meter()  # a call is a request here: counted as one, answered, free
        meter.llm_request(self.model, "ok", time.perf_counter() - started)
        meter.llm_tokens(self.model, prompt_tokens, completion_tokens, 0.0)
        return Completion(text=text, usage=usage, provider=self.provider, model=self.model, cost_usd=0.0)

    def cache_identity(self) -> dict[str, Any]:
        """The result cache's part of the key from this provider: its reply also depends on the call's
        ``task`` and ``context`` (see the module docstring), so they are part of the key too."""
        return {"provider": self.provider, "model": self.model, "reads": ["task", "context"]}

    def reply_text(
        self,
        messages: Sequence[Message],
        *,
        task: str | None = None,
        context: Mapping[str, Any] | None = None,
        json_schema: Mapping[str, Any] | None = None,
    ) -> str:
        """The reply :meth:`complete` gives, computed synchronously and without latency."""
        context = context or {}
        responder = _RESPONDERS.get(task) if task else None
        if responder is not None:
            return responder(messages, context)
        source = _source_text(messages, context)
        seed = stable_hash(task or "", [dict(m) for m in messages], dict(context), json_schema or {})
        if json_schema is not None:
            return json.dumps(schema_instance(json_schema, source, seed), ensure_ascii=False)
        return _prose(source, seed)

    async def aclose(self) -> None:
        """Nothing to release; present to satisfy the :class:`~lpe_nb.llm.base.LLM` protocol."""


def _source_text(messages: Sequence[Message], context: Mapping[str, Any]) -> str:
    from_context = "\n\n".join(_strings(context))
    if from_context.strip():
        return from_context
    for message in reversed(messages):
        if message["role"] == "user":
            return message["content"]
    return "\n\n".join(m["content"] for m in messages)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _prose(source: str, seed: int) -> str:
    """A few grammatical sentences about ``source``: its first name, how it moves, and a quotation."""
    names = proper_names(source)
    said = sentences(source)
    subject = names[0] if names else "what the text describes"
    opening = choose(
        (
            f"At its core, this is about {subject}.",
            f"{subject[:1].upper()}{subject[1:]} stands at the centre of what happens here.",
            f"What unfolds here turns on {subject}.",
        ),
        seed,
        "opening",
    )
    middle = choose(
        (
            "It moves from its first moment to its last, and each step follows from the one before.",
            "Much depends on the order in which things happen.",
            "The way it ends is already present in the way it begins.",
        )
        if len(said) > 1
        else ("It turns on a single moment.", "Everything in it happens at once."),
        seed,
        "middle",
    )
    parts = [opening, middle]
    if len(names) > 1:
        parts.append(f"{names[1]} matters as much as {names[0]} to how it ends.")
    if said:
        quote = truncate_words(said[0], 20)
        if quote[-1:] not in ".!?\u2026":
            quote += "."
        parts.append(f"As the text has it: \u201c{quote}\u201d")
    return " ".join(parts)


def _deltas(text: str) -> Iterator[str]:
    """Split ``text`` into at most ``_MAX_DELTAS`` word-aligned pieces whose concatenation is ``text``."""
    pieces = _PIECE.findall(text)
    per_delta = max(1, -(-len(pieces) // _MAX_DELTAS))
    for start in range(0, len(pieces), per_delta):
        yield "".join(pieces[start : start + per_delta])
