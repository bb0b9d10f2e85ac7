"""The provider for any OpenAI-compatible Chat Completions endpoint: OpenAI, Ollama, vLLM, llama.cpp, LM Studio.

What this module adds to the openai SDK:

- **every reply is checked** (:mod:`lpe_nb.llm._replies`): no choices, ``null`` content, empty or
  whitespace-only text, a stream without a finish reason, a body or chunk that is not JSON all raise
  :class:`LlmBadResponse`; a refusal raises :class:`LlmRefused`. Nothing empty is ever returned;
- **its own retries** (the SDK's are off, so that every request is counted and checked): a transient fault
  (unreachable, timeout, 429, 408, 5xx, a bad reply, a stream cut or stalled mid-answer) is retried
  ``max_retries`` times, after ``retry_backoff_s`` doubling (with jitter), never sooner than the server's
  ``Retry-After``; a longer ``Retry-After`` than a call waits is left to the job's own retry policy.
  Messages say how many requests were really made;
- the **shared rate limit** of the endpoint and model (:mod:`lpe_nb.llm.rate_limit`): every request waits
  for it, and a 429 pauses every call's next request for the ``Retry-After``;
- a per-instance cap on calls in flight (``max_concurrency``);
- streaming with usage (``stream_options.include_usage``), counting 0 tokens when the server sends none;
- JSON replies that degrade with the endpoint: ``json_schema``, then ``json_object``, then none, remembering
  what the endpoint accepted so later calls don't pay for the rejected attempts;
- openai errors translated into :class:`LlmUnavailable` / :class:`LlmError` with messages that name the
  endpoint, the model and the likely fix, and carry them as details.

The HTTP exchange and the reading of the reply run on the process's LLM transport thread
(:mod:`lpe_nb.llm._transport`), off the caller's event loop; everything else (rate limit, semaphore,
retries, metrics, ``on_delta``) runs on the caller's loop. An instance belongs to one caller's loop (its
semaphore does); its HTTP connection pool belongs to the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.chat.completion_create_params import ResponseFormat

from lpe_nb.errors import LlmError
from lpe_nb.llm._openai_errors import StreamBroken, request_outcome, translate_error
from lpe_nb.llm._replies import BadReply, StreamAssembler, text_of_response
from lpe_nb.llm._transport import Relay, on_transport
from lpe_nb.llm.base import Completion, DeltaCallback, Message, Usage
from lpe_nb.llm.config import LlmSettings
from lpe_nb.llm.pricing import PriceTable
from lpe_nb.llm.rate_limit import RateLimiter, limiter_for
from lpe_nb.llm.text_features import token_count
from lpe_nb.metrics import Meter, current_meter

__all__ = ["OpenAICompatibleLLM"]

log = logging.getLogger(__name__)

JsonMode = Literal["json_schema", "json_object", "none"]
_JSON_MODES: tuple[JsonMode, ...] = ("json_schema", "json_object", "none")
_JSON_COMPLAINTS = ("response_format", "json_schema", "json_object")
_BACKOFF_MAX_S = 8.0  # a call's longest wait between its own retries
CALL_RETRY_AFTER_MAX_S = 20.0
"""The longest ``Retry-After`` one call waits for; a longer one fails the call, and the job's retry policy
waits for it instead (visibly, in the job's progress), while the shared limiter holds the other calls."""


@dataclass
class _CallState:
    """One ``complete`` call: the requests it made and the faults it met."""

    requests: int = 0
    faults: int = 0
    streamed_chars: int = 0  # text passed to on_delta by the latest request that streamed any
    meter: Meter = field(default_factory=current_meter)  # the running job's engine's (docs/metrics.md)


class OpenAICompatibleLLM:
    """An :class:`~lpe_nb.llm.base.LLM` on ``openai.AsyncOpenAI``; ``provider == "openai-compatible"``.

    ``settings.base_url`` None means the SDK's default (api.openai.com, or ``OPENAI_BASE_URL``). Raises
    :class:`LlmUnavailable` when the endpoint can't be reached or keeps failing after ``max_retries``
    retries, :class:`LlmBadResponse` when its replies stay unusable, :class:`LlmRefused` when the model
    declines, and :class:`LlmError` when it refuses the request (bad key, unknown model, bad parameters).
    Each carries ``endpoint``, ``model``, ``requests`` (really made), ``status`` and ``retry_after_s``.
    """

    provider: str = "openai-compatible"

    def __init__(self, settings: LlmSettings) -> None:
        self.model: str = settings.model
        self._settings = settings
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.effective_api_key,
            timeout=settings.timeout_s,
            max_retries=0,  # ours: every request is counted, checked and goes through the rate limit
        )
        _load_deferred_modules(self._client)
        self._used = False  # whether the client has been used on the transport loop
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self.prices = PriceTable(settings.prices)
        self._json_mode: JsonMode = "json_schema"
        self._stream_usage = True
        self.limiter: RateLimiter = limiter_for(
            self.base_url,
            self.model,
            requests_per_minute=settings.requests_per_minute,
            tokens_per_minute=settings.tokens_per_minute,
            window_s=settings.rate_window_s,
        )

    @property
    def base_url(self) -> str:
        return str(self._client.base_url).rstrip("/")

    def cache_identity(self) -> dict[str, Any]:
        """What shapes a reply besides the messages and the schema: the endpoint, the model and every
        request parameter (the result cache's key, :mod:`lpe_nb.llm.cache`). Streaming and the JSON mode
        the endpoint accepts change how a reply travels, not what it says, so they are left out."""
        return {
            "provider": self.provider,
            "base_url": self.base_url,
            "model": self.model,
            "temperature": self._settings.temperature,
            "max_tokens": self._settings.max_tokens,
        }

    @property
    def json_mode(self) -> JsonMode:
        """How JSON is asked for at present: lowered for good when the endpoint rejects a mode."""
        return self._json_mode

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        task: str | None = None,
        context: Mapping[str, Any] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> Completion:
        del context  # only the mock uses the step's structured inputs
        call = _CallState()
        async with self._semaphore:
            started = time.monotonic()
            while True:
                try:
                    completion = await self._complete_adapting(messages, json_schema, on_delta, call)
                    break
                except (openai.OpenAIError, json.JSONDecodeError, BadReply, StreamBroken) as exc:
                    error = self._translate(exc, call.requests)
                    delay_s = self._retry_delay_s(error, call)
                    if delay_s is None:
                        call.meter.llm_error(self.model, error.code)
                        raise error from exc
                    call.meter.llm_retry(self.model)
                    log.info("LLM call %s: %s; retrying in %.2f s", task or "(untagged)", error, delay_s)
                    await asyncio.sleep(delay_s)  # the backoff: a timer, cancellable
        usage = completion.usage
        call.meter.llm_tokens(self.model, usage.prompt_tokens, usage.completion_tokens, completion.cost_usd)
        log.debug(
            "LLM call %s: model %s, %d+%d tokens, %d request(s), %.2f s",
            task or "(untagged)",
            self.model,
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens,
            call.requests,
            time.monotonic() - started,
        )
        return completion

    def _retry_delay_s(self, error: LlmError, call: _CallState) -> float | None:
        """How long before the call's next request, or None to give up with ``error``.

        A 429 also pauses the shared limiter, so every other call waits for its ``Retry-After`` too.
        """
        retry_after = error.retry_after_s
        if error.status == 429:
            self.limiter.pause(
                retry_after if retry_after is not None else self._settings.retry_backoff_s,
                f"HTTP 429 from {self.base_url}",
            )
        if not error.transient:
            return None
        call.faults += 1
        if call.faults > self._settings.max_retries:
            return None
        if retry_after is not None and retry_after > CALL_RETRY_AFTER_MAX_S:
            return None  # the job's retry policy waits that long, where the wait can be seen
        backoff = min(_BACKOFF_MAX_S, self._settings.retry_backoff_s * 2.0 ** (call.faults - 1))
        backoff *= 1 - 0.25 * random.random()  # jitter, so calls that failed together retry apart
        return max(backoff, retry_after or 0.0)

    async def aclose(self) -> None:
        if self._used:  # its connections belong to the transport loop
            await on_transport(self._client.close())
        else:
            await self._client.close()

    async def _complete_adapting(
        self,
        messages: Sequence[Message],
        json_schema: Mapping[str, Any] | None,
        on_delta: DeltaCallback | None,
        call: _CallState,
    ) -> Completion:
        """Send the call, lowering JSON mode or dropping stream usage when the endpoint rejects them.

        Each rejection lowers a capability for good, so this loop ends after at most three extra attempts.
        Every request waits for the shared rate limit and is counted in ``call``.
        """
        estimate = sum(token_count(m["content"]) for m in messages) + (self._settings.max_tokens or 0)
        while True:
            json_mode = self._json_mode if json_schema is not None else "none"
            stream_usage = self._stream_usage and on_delta is not None
            ticket = await self.limiter.acquire(estimate)
            used: int | None = None
            call.requests += 1
            outcome = "ok"
            started = time.perf_counter()
            try:
                if on_delta is None:
                    completion = await self._create(messages, json_schema, json_mode)
                else:
                    completion = await self._stream(
                        messages, json_schema, json_mode, stream_usage, on_delta, call
                    )
                used = completion.usage.total_tokens or None
                return completion
            except openai.BadRequestError as exc:
                outcome = "rejected"
                if not self._lower_capability(exc, json_mode, stream_usage):
                    raise
            except BaseException as exc:
                outcome = request_outcome(exc)
                raise
            finally:
                self.limiter.release(ticket, tokens=used)
                call.meter.llm_request(self.model, outcome, time.perf_counter() - started)

    def _lower_capability(
        self, exc: openai.BadRequestError, used_mode: JsonMode, used_stream_usage: bool
    ) -> bool:
        """Lower what the rejected request used, if the rejection is about it; True to try again.

        Compares with what *this* request used, so concurrent calls that hit the same rejection all retry.
        """
        complaint = f"{exc.param or ''} {exc.message}".lower()
        if used_mode != "none" and any(word in complaint for word in _JSON_COMPLAINTS):
            lower = _JSON_MODES[_JSON_MODES.index(used_mode) + 1]
            if _JSON_MODES.index(lower) > _JSON_MODES.index(self._json_mode):
                self._json_mode = lower
                log.info(
                    "%s rejected response_format %s; using %s from now on", self.base_url, used_mode, lower
                )
            return True
        if used_stream_usage and "stream_options" in complaint:
            if self._stream_usage:
                self._stream_usage = False
                log.info("%s rejected stream_options; streaming without usage from now on", self.base_url)
            return True
        return False

    async def _create(
        self, messages: Sequence[Message], json_schema: Mapping[str, Any] | None, json_mode: JsonMode
    ) -> Completion:
        self._used = True
        return self._completion(*await on_transport(self._create_there(messages, json_schema, json_mode)))

    async def _create_there(
        self, messages: Sequence[Message], json_schema: Mapping[str, Any] | None, json_mode: JsonMode
    ) -> tuple[str, Usage]:
        """On the transport loop: the request, and its reply read and checked."""
        response = await self._client.chat.completions.create(
            model=self.model,
            messages=_wire_messages(messages, json_schema, json_mode),
            temperature=self._settings.temperature,
            max_tokens=self._settings.max_tokens if self._settings.max_tokens is not None else openai.omit,
            response_format=_response_format(json_schema, json_mode),
            stream=False,
        )
        return text_of_response(response)

    async def _stream(
        self,
        messages: Sequence[Message],
        json_schema: Mapping[str, Any] | None,
        json_mode: JsonMode,
        stream_usage: bool,
        on_delta: DeltaCallback,
        call: _CallState,
    ) -> Completion:
        def receive(sent: tuple[str, bool, int]) -> None:  # on the caller's loop, in order
            delta, first, chars = sent
            if first and call.streamed_chars:
                on_delta("")  # a retry after a broken stream: the reply starts over
            on_delta(delta)
            call.streamed_chars = chars

        self._used = True
        relay: Relay[tuple[str, bool, int]] = Relay(receive)
        exchange = self._stream_there(messages, json_schema, json_mode, stream_usage, relay)
        return self._completion(*await relay.run(exchange))

    async def _stream_there(
        self,
        messages: Sequence[Message],
        json_schema: Mapping[str, Any] | None,
        json_mode: JsonMode,
        stream_usage: bool,
        relay: Relay[tuple[str, bool, int]],
    ) -> tuple[str, Usage]:
        """On the transport loop: the streamed request, each delta sent to ``relay`` with whether it is the
        reply's first and the characters so far, and the whole reply checked."""
        stream = await self._client.chat.completions.create(
            model=self.model,
            messages=_wire_messages(messages, json_schema, json_mode),
            temperature=self._settings.temperature,
            max_tokens=self._settings.max_tokens if self._settings.max_tokens is not None else openai.omit,
            response_format=_response_format(json_schema, json_mode),
            stream=True,
            stream_options={"include_usage": True} if stream_usage else openai.omit,
        )
        reply = StreamAssembler()
        async with stream:  # closes the response even when cancelled
            try:
                async for chunk in stream:
                    delta = reply.add(chunk)
                    if delta is not None:
                        relay.send((delta, len(reply.parts) == 1, reply.chars))
            except openai.APIConnectionError as exc:  # includes timeouts: a stream that stalled
                raise StreamBroken(exc, chars=reply.chars) from exc
        return reply.result()

    def _completion(self, text: str, usage: Usage) -> Completion:
        # priced now, at the rules in force: a later change of price does not rewrite stored costs
        cost_usd = self.prices.cost_usd(
            self.model, usage.prompt_tokens, usage.completion_tokens, base_url=self.base_url
        )
        return Completion(text=text, usage=usage, provider=self.provider, model=self.model, cost_usd=cost_usd)

    def _translate(self, exc: BaseException, requests: int) -> LlmError:
        return translate_error(
            exc, requests, endpoint=self.base_url, model=self.model, timeout_s=self._settings.timeout_s
        )


def _load_deferred_modules(client: openai.AsyncOpenAI) -> None:
    """Import now what the SDK imports on the first call (its chat resources, anyio's asyncio backend, the
    JSON parser): some 40 ms of CPU that would otherwise hold the event loop in the middle of the first
    calls, and every progress report made meanwhile (a worker starting its first jobs together)."""
    client.chat.completions  # noqa: B018  # a cached property: the resource modules load on first access
    for name in ("anyio._backends._asyncio", "jiter"):  # private names: a later SDK may not have them
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _wire_messages(
    messages: Sequence[Message], json_schema: Mapping[str, Any] | None, json_mode: JsonMode
) -> list[ChatCompletionMessageParam]:
    """The messages as sent; without ``json_schema`` support the schema goes into a system message.

    Besides guiding the model, this satisfies OpenAI's rule that ``json_object`` mode needs the word
    "JSON" in the messages.
    """
    wire: list[ChatCompletionMessageParam] = []
    for message in messages:
        if message["role"] == "system":
            wire.append({"role": "system", "content": message["content"]})
        elif message["role"] == "assistant":
            wire.append({"role": "assistant", "content": message["content"]})
        else:
            wire.append({"role": "user", "content": message["content"]})
    if json_schema is not None and json_mode != "json_schema":
        schema_text = json.dumps(json_schema, separators=(",", ":"))
        wire.append(
            {
                "role": "system",
                "content": f"Reply with one JSON document, no prose, that follows this JSON Schema: {schema_text}",
            }
        )
    return wire


def _response_format(
    json_schema: Mapping[str, Any] | None, json_mode: JsonMode
) -> ResponseFormat | openai.Omit:
    if json_schema is None or json_mode == "none":
        return openai.omit
    if json_mode == "json_object":
        return {"type": "json_object"}
    name = str(json_schema.get("title") or "reply")
    return {
        "type": "json_schema",
        "json_schema": {"name": _schema_name(name), "schema": dict(json_schema), "strict": False},
    }


def _schema_name(title: str) -> str:
    """OpenAI allows ``[a-zA-Z0-9_-]{1,64}`` as a response format name."""
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in title)[:64]
    return cleaned or "reply"
