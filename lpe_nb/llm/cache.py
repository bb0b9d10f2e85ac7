"""Answer a repeated LLM call from a cache: the same request gets the stored reply and makes no call.

:class:`CachingLLM` wraps any :class:`~lpe_nb.llm.base.LLM`. Its key (:func:`cache_key`) is the SHA-256
of a canonical JSON of the request: what the wrapped LLM says shapes a reply (``cache_identity()``: the
provider, base URL, model, temperature, max tokens; the mock adds the call's task and context, which its
replies depend on), the messages and the JSON schema asked for. The value is the completion's text, its
provider and model, and the usage it cost when it was made.

It caches only inside a :class:`CacheScope` (:func:`cache_scope`), which the job engine opens around each
job's run: calls made outside a job go straight through. The scope says whether the job may use the cache,
hears of every call and hit (``on_call``), and decides when an answer is kept (``keep``): the engine keeps
it once the step that asked for it is saved, so a reply the step rejected (JSON that does not parse) is
never served again. A hit reports no tokens and no cost: nothing was spent. A degraded reply (the mock
standing in for an unavailable endpoint) is never kept.

Identical calls in flight at the same time are made once: the others wait for it and count as hits, so two
identical jobs submitted together cost one set of calls too.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from lpe_nb.errors import LpeError
from lpe_nb.llm.base import LLM, Completion, DeltaCallback, Message, Usage

__all__ = ["CacheScope", "CachingLLM", "CompletionCache", "cache_key", "cache_scope", "identity_of"]

log = logging.getLogger(__name__)

KEY_VERSION = 1  # part of every key: a change to what a key covers starts a fresh cache, never a wrong hit
# Made once: json.dumps given any option builds a new encoder per call (about a tenth of a key's cost).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class CompletionCache(Protocol):
    """Where cached completions live (the job engine's :class:`~lpe_nb.jobs.cache.ResultCache`)."""

    async def get(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        ...

    async def put(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""
        ...


async def _write_now(write: Callable[[], Awaitable[None]]) -> None:
    await write()


@dataclass(frozen=True, slots=True)
class CacheScope:
    """How the calls made under it use the cache.

    ``enabled``: whether they may be answered from it and stored in it. ``on_call(cached)`` hears of every
    call: ``cached`` True when the cache (or an identical call in flight) answered it. ``keep(write)``
    stores an answer: by default at once; the engine runs ``write`` once the calling step is saved.
    """

    enabled: bool = True
    on_call: Callable[[bool], None] = lambda cached: None
    keep: Callable[[Callable[[], Awaitable[None]]], Awaitable[None]] = _write_now


_SCOPE: ContextVar[CacheScope | None] = ContextVar("lpe_nb_llm_cache_scope", default=None)


@contextlib.contextmanager
def cache_scope(scope: CacheScope) -> Iterator[CacheScope]:
    """Make ``scope`` apply to the LLM calls made in this context (and the tasks it starts)."""
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def identity_of(llm: LLM) -> dict[str, Any]:
    """What ``llm`` says shapes its replies (``cache_identity()``); for an LLM that does not say, its
    class, provider and model, with the call's task and context: unknown, so assumed to matter."""
    describe = getattr(llm, "cache_identity", None)
    if callable(describe):
        identity: dict[str, Any] = dict(describe())
        return identity
    kind = type(llm)
    return {
        "class": f"{kind.__module__}.{kind.__qualname__}",
        "provider": llm.provider,
        "model": llm.model,
        "reads": ["task", "context"],
    }


def cache_key(
    identity: Mapping[str, Any],
    messages: Sequence[Message],
    *,
    json_schema: Mapping[str, Any] | None = None,
    task: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> str:
    """The SHA-256 (hex) of the canonical JSON of a request: ``identity``, the messages, the schema, and
    the task and context when ``identity["reads"]`` names them (keys sorted, no spaces, so the same
    request always gives the same key). Values that are not JSON count by their ``str()``."""
    reads = set(identity.get("reads") or ())
    request = {
        "v": KEY_VERSION,
        "llm": dict(identity),
        "messages": [dict(message) for message in messages],
        "json_schema": json_schema,
        "task": task if "task" in reads else None,
        "context": context if "context" in reads else None,
    }
    return hashlib.sha256(_CANONICAL.encode(request).encode()).hexdigest()


def _encode(completion: Completion) -> str:
    return _COMPACT.encode(
        {
            "text": completion.text,
            "provider": completion.provider,
            "model": completion.model,
            "usage": completion.usage.as_dict(),
        }
    )


def _decode(value: str) -> Completion | None:
    """The cached completion as a hit; None for a value this version cannot read."""
    try:
        data = json.loads(value)
        # built as a hit at once (what _hit would make of it), not built and then copied
        return Completion(text=str(data["text"]), usage=Usage(), provider=str(data["provider"]),
                          model=str(data["model"]), cached=True, cost_usd=0.0)  # fmt: skip
    except (ValueError, KeyError, TypeError):
        return None


def _hit(completion: Completion) -> Completion:
    """``completion`` as served from the cache: nothing spent, so 0 tokens and 0 cost."""
    return dataclasses.replace(
        completion, usage=Usage(), cost_usd=0.0, cached=True, degraded=False, degraded_reason=None
    )


class CachingLLM:
    """``inner`` with a result cache in ``cache``, used by the calls made inside a :class:`CacheScope`.

    ``provider`` and ``model`` are the inner LLM's; closing it closes the inner one only if ``owns_inner``.
    """

    def __init__(self, inner: LLM, cache: CompletionCache, *, owns_inner: bool = False) -> None:
        self.inner = inner
        self.cache = cache
        self.provider: str = inner.provider
        self.model: str = inner.model
        self._owns_inner = owns_inner
        self._in_flight: dict[str, asyncio.Future[Completion | None]] = {}

    @property
    def base_url(self) -> str | None:
        """The inner LLM's endpoint, if it has one (for messages)."""
        url = getattr(self.inner, "base_url", None)
        return url if isinstance(url, str) else None

    def cache_identity(self) -> dict[str, Any]:
        return identity_of(self.inner)

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        task: str | None = None,
        context: Mapping[str, Any] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> Completion:
        scope = _SCOPE.get()
        if scope is None or not scope.enabled:
            if scope is not None:
                scope.on_call(False)
            return await self.inner.complete(
                messages, task=task, context=context, json_schema=json_schema, on_delta=on_delta
            )
        key = cache_key(
            identity_of(self.inner), messages, json_schema=json_schema, task=task, context=context
        )
        served = await self._stored(key)
        if served is None:
            served = await self._shared(key)
        if served is not None:
            scope.on_call(True)
            if on_delta is not None:
                on_delta(served.text)  # a watcher sees the text arrive, at once
            return served
        scope.on_call(False)
        completion = await self._call(key, messages, task, context, json_schema, on_delta)
        if not completion.degraded:
            await scope.keep(lambda: self._put(key, completion))
        return completion

    async def _stored(self, key: str) -> Completion | None:
        try:
            value = await self.cache.get(key)
        except LpeError as exc:  # a cache that fails costs a call, never the job
            log.warning("LLM result cache unreadable, calling the LLM: %s", exc)
            return None
        return None if value is None else _decode(value)

    async def _shared(self, key: str) -> Completion | None:
        """The reply of an identical call in flight, once it arrives; None if there is none or it failed."""
        flight = self._in_flight.get(key)
        if flight is None:
            return None
        completion = await asyncio.shield(flight)  # our cancel must not cancel the other caller's wait
        return None if completion is None or completion.degraded else _hit(completion)

    async def _call(
        self,
        key: str,
        messages: Sequence[Message],
        task: str | None,
        context: Mapping[str, Any] | None,
        json_schema: Mapping[str, Any] | None,
        on_delta: DeltaCallback | None,
    ) -> Completion:
        """The inner call, published to identical calls that start while it is in flight."""
        flight: asyncio.Future[Completion | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = flight
        completion: Completion | None = None
        try:
            completion = await self.inner.complete(
                messages, task=task, context=context, json_schema=json_schema, on_delta=on_delta
            )
            return completion
        finally:
            if self._in_flight.get(key) is flight:
                del self._in_flight[key]
            flight.set_result(completion)  # None: the waiters make their own call

    async def _put(self, key: str, completion: Completion) -> None:
        try:
            await self.cache.put(key, _encode(completion))
        except LpeError as exc:
            log.warning("LLM result cache unwritable; the reply is not kept: %s", exc)

    async def aclose(self) -> None:
        if self._owns_inner:
            await self.inner.aclose()
