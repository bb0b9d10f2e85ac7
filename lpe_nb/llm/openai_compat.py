"""The provider for any OpenAI-compatible Chat Completions endpoint: OpenAI, Ollama, vLLM, llama.cpp, LM Studio.

Retries and backoff are the SDK's own (it honours ``Retry-After`` and retries 429, 5xx, timeouts and
connection errors ``max_retries`` times). What this module adds:

- a per-instance cap on calls in flight (``max_concurrency``);
- streaming with usage (``stream_options.include_usage``), counting 0 tokens when the server sends none;
- JSON replies that degrade with the endpoint: ``json_schema``, then ``json_object``, then none, remembering
  what the endpoint accepted so later calls don't pay for the rejected attempts;
- openai errors translated into :class:`LlmUnavailable` / :class:`LlmError` with messages that name the
  endpoint, the model and the likely fix.

An instance belongs to one event loop (its HTTP connection pool and semaphore do).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.chat.completion_create_params import ResponseFormat

from lpe_nb.errors import LlmBadResponse, LlmError, LlmUnavailable
from lpe_nb.llm.base import Completion, DeltaCallback, Message, Usage
from lpe_nb.llm.config import LlmSettings

__all__ = ["OpenAICompatibleLLM"]

log = logging.getLogger(__name__)

JsonMode = Literal["json_schema", "json_object", "none"]
_JSON_MODES: tuple[JsonMode, ...] = ("json_schema", "json_object", "none")
_JSON_COMPLAINTS = ("response_format", "json_schema", "json_object")
_DETAIL_CHARS = 300


class OpenAICompatibleLLM:
    """An :class:`~lpe_nb.llm.base.LLM` on ``openai.AsyncOpenAI``; ``provider == "openai-compatible"``.

    ``settings.base_url`` None means the SDK's default (api.openai.com, or ``OPENAI_BASE_URL``). Raises
    :class:`LlmUnavailable` when the endpoint can't be reached or keeps failing after the SDK's retries,
    :class:`LlmError` when it refuses the request (bad key, unknown model, bad parameters) and
    :class:`LlmBadResponse` when the reply has no message.
    """

    provider: str = "openai-compatible"

    def __init__(self, settings: LlmSettings) -> None:
        self.model: str = settings.model
        self._settings = settings
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.effective_api_key,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._json_mode: JsonMode = "json_schema"
        self._stream_usage = True

    @property
    def base_url(self) -> str:
        return str(self._client.base_url).rstrip("/")

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
        async with self._semaphore:
            started = time.monotonic()
            try:
                completion = await self._complete_adapting(messages, json_schema, on_delta)
            except openai.OpenAIError as exc:
                raise self._translate(exc) from exc
        log.debug(
            "LLM call %s: model %s, %d+%d tokens, %.2f s",
            task or "(untagged)",
            self.model,
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens,
            time.monotonic() - started,
        )
        return completion

    async def aclose(self) -> None:
        await self._client.close()

    async def _complete_adapting(
        self,
        messages: Sequence[Message],
        json_schema: Mapping[str, Any] | None,
        on_delta: DeltaCallback | None,
    ) -> Completion:
        """Send the call, lowering JSON mode or dropping stream usage when the endpoint rejects them.

        Each rejection lowers a capability for good, so this loop ends after at most three extra attempts.
        """
        while True:
            json_mode = self._json_mode if json_schema is not None else "none"
            stream_usage = self._stream_usage and on_delta is not None
            try:
                if on_delta is None:
                    return await self._create(messages, json_schema, json_mode)
                return await self._stream(messages, json_schema, json_mode, stream_usage, on_delta)
            except openai.BadRequestError as exc:
                if not self._lower_capability(exc, json_mode, stream_usage):
                    raise

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
        response = await self._client.chat.completions.create(
            model=self.model,
            messages=_wire_messages(messages, json_schema, json_mode),
            temperature=self._settings.temperature,
            max_tokens=self._settings.max_tokens if self._settings.max_tokens is not None else openai.omit,
            response_format=_response_format(json_schema, json_mode),
            stream=False,
        )
        if not response.choices:
            raise LlmBadResponse(f"{self._where()} returned no choices")
        usage = response.usage
        return self._completion(
            response.choices[0].message.content or "",
            Usage(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) if usage else Usage(),
        )

    async def _stream(
        self,
        messages: Sequence[Message],
        json_schema: Mapping[str, Any] | None,
        json_mode: JsonMode,
        stream_usage: bool,
        on_delta: DeltaCallback,
    ) -> Completion:
        stream = await self._client.chat.completions.create(
            model=self.model,
            messages=_wire_messages(messages, json_schema, json_mode),
            temperature=self._settings.temperature,
            max_tokens=self._settings.max_tokens if self._settings.max_tokens is not None else openai.omit,
            response_format=_response_format(json_schema, json_mode),
            stream=True,
            stream_options={"include_usage": True} if stream_usage else openai.omit,
        )
        parts: list[str] = []
        usage = Usage()
        async with stream:  # closes the response even when cancelled or on_delta raises
            async for chunk in stream:
                if chunk.usage is not None:
                    u = chunk.usage
                    usage = Usage(u.prompt_tokens, u.completion_tokens, u.total_tokens)
                for choice in chunk.choices:
                    if choice.index == 0 and choice.delta.content:
                        parts.append(choice.delta.content)
                        on_delta(choice.delta.content)
        return self._completion("".join(parts), usage)

    def _completion(self, text: str, usage: Usage) -> Completion:
        return Completion(text=text, usage=usage, provider=self.provider, model=self.model)

    def _where(self) -> str:
        return f"LLM endpoint {self.base_url} (model {self.model!r})"

    def _translate(self, exc: openai.OpenAIError) -> LlmError:
        """One readable lpe-nb error per openai error; the caller chains the original with ``from``."""
        where = self._where()
        retries = self._settings.max_retries
        after = f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
        if isinstance(exc, openai.APITimeoutError):
            return LlmUnavailable(
                f"{where} timed out after {self._settings.timeout_s:g} s{after}; "
                "raise LPE_LLM_TIMEOUT for slow models, or check that the server is up"
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            reason = str(cause) if cause is not None and str(cause) else exc.message
            return LlmUnavailable(
                f"{where} could not be reached{after} ({reason}); "
                "check LPE_LLM_BASE_URL and that the server is running"
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = f"HTTP {status} {_detail(exc)}"
            if status == 429:
                return LlmUnavailable(f"{where} is rate limiting requests{after} ({detail}); try again later")
            if status >= 500 or status == 408:
                return LlmUnavailable(f"{where} failed{after} ({detail})")
            if status == 401:
                return LlmError(
                    f"{where} rejected the API key ({detail}); set OPENAI_API_KEY (or LPE_LLM_API_KEY) "
                    "to a valid key for this endpoint"
                )
            if status == 403:
                return LlmError(f"{where} refused access ({detail}); check the key's permissions")
            if status == 404:
                return LlmError(
                    f"{where} does not know this model or path ({detail}); check LPE_LLM_MODEL, and that "
                    "LPE_LLM_BASE_URL ends in /v1 where the server expects it"
                )
            return LlmError(f"{where} rejected the request ({detail})")
        if isinstance(exc, openai.APIResponseValidationError):
            return LlmBadResponse(f"{where} sent a reply that is not a chat completion ({exc.message})")
        if isinstance(exc, openai.APIError):
            return LlmError(f"{where} reported an error: {exc.message}")
        return LlmError(f"{where}: {exc}")


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


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping) and body.get("message"):
        text = str(body["message"])
    elif isinstance(body, str) and body.strip():
        text = body.strip()
    else:
        text = exc.response.reason_phrase or exc.message
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "…"
