"""Checking a Chat Completions reply before anyone uses it: nothing empty, cut short or refused gets through.

:func:`text_of_response` reads a plain reply, :class:`StreamAssembler` a streamed one, chunk by chunk.
Both raise :class:`BadReply` saying what was wrong; the provider turns it into
:class:`~lpe_nb.errors.LlmBadResponse` (retried: asking again may well work) or, for a refusal,
:class:`~lpe_nb.errors.LlmRefused` (not retried), naming the endpoint, the model and the requests made.
"""

from __future__ import annotations

from typing import Any

from lpe_nb.llm.base import Usage

__all__ = ["BadReply", "StreamAssembler", "text_of_response"]

_QUOTE_CHARS = 120


class BadReply(Exception):
    """The reply is unusable; ``problem`` completes "the endpoint ..." (e.g. "sent an empty reply")."""

    def __init__(self, problem: str, *, refused: bool = False) -> None:
        self.problem = problem
        self.refused = refused
        super().__init__(problem)


def text_of_response(response: Any) -> tuple[str, Usage]:
    """The text and usage of a plain ``ChatCompletion``; raises :class:`BadReply`."""
    if not response.choices:
        raise BadReply("sent a reply with no choices")
    choice = response.choices[0]
    message = choice.message
    _check_refusal(getattr(message, "refusal", None), choice.finish_reason)
    if message.content is None:
        raise BadReply("sent a message whose content is null")
    _check_text(message.content)
    usage = response.usage
    return message.content, (
        Usage(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) if usage else Usage()
    )


class StreamAssembler:
    """Collects a streamed reply's chunks; :meth:`result` checks the whole when the stream has ended."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.chars = 0  # kept as parts arrive: a long reply has thousands of deltas
        self.usage = Usage()
        self.finish_reason: str | None = None
        self._saw_choice = False
        self._refusal: list[str] = []

    def add(self, chunk: Any) -> str | None:
        """Take one chunk; returns the text delta it carries for the first choice, if any."""
        if chunk.usage is not None:
            u = chunk.usage
            self.usage = Usage(u.prompt_tokens, u.completion_tokens, u.total_tokens)
        delta_text = None
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            self._saw_choice = True
            if choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason
            refusal = getattr(choice.delta, "refusal", None)
            if refusal:
                self._refusal.append(refusal)
            if choice.delta.content:
                self.parts.append(choice.delta.content)
                self.chars += len(choice.delta.content)
                delta_text = choice.delta.content
        return delta_text

    def result(self) -> tuple[str, Usage]:
        """The text and usage of the finished stream; raises :class:`BadReply`."""
        _check_refusal("".join(self._refusal) or None, self.finish_reason)
        if not self._saw_choice:
            raise BadReply("streamed a reply with no choices")
        text = "".join(self.parts)
        if self.finish_reason is None:
            raise BadReply(
                f"ended its stream without a finish reason, so the reply was cut short after "
                f"{len(text)} characters"
            )
        _check_text(text)
        return text, self.usage


def _check_refusal(refusal: str | None, finish_reason: str | None) -> None:
    if refusal:
        raise BadReply(f"declined to answer: {_quote(refusal)}", refused=True)
    if finish_reason == "content_filter":
        raise BadReply("withheld the reply (finish reason content_filter)", refused=True)


def _check_text(text: str) -> None:
    if not text:
        raise BadReply("sent an empty reply")
    if not text.strip():
        raise BadReply(f"sent a reply of only whitespace ({len(text)} characters)")


def _quote(text: str) -> str:
    text = text.strip()
    return repr(text[:_QUOTE_CHARS] + ("…" if len(text) > _QUOTE_CHARS else ""))
