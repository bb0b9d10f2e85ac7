"""What went wrong with an OpenAI-compatible request, in lpe-nb's terms.

:func:`translate_error` turns an openai SDK error, a reply that failed its checks or a broken stream into one
:class:`~lpe_nb.errors.LlmError` whose message names the endpoint, the model and the likely fix;
:func:`request_outcome` names the same failure as a metrics label.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time
from collections.abc import Mapping
from typing import Any

import openai

from lpe_nb.errors import LlmBadResponse, LlmError, LlmRefused, LlmUnavailable
from lpe_nb.llm._replies import BadReply

__all__ = ["StreamBroken", "request_outcome", "translate_error"]

_DETAIL_CHARS = 300


class StreamBroken(Exception):
    """A stream that started but ended (``stalled`` or not) before its reply was whole."""

    def __init__(self, cause: openai.APIConnectionError, *, chars: int) -> None:
        self.cause = cause
        self.stalled = isinstance(cause, openai.APITimeoutError)
        self.chars = chars
        super().__init__(str(cause))


def translate_error(
    exc: BaseException, requests: int, *, endpoint: str, model: str, timeout_s: float
) -> LlmError:
    """One readable lpe-nb error per failure; the caller chains the original with ``from``."""
    where = f"LLM endpoint {endpoint} (model {model!r})"
    after = f"after {requests} request{'' if requests == 1 else 's'}"
    context: dict[str, Any] = {"endpoint": endpoint, "model": model, "requests": requests}
    if isinstance(exc, BadReply):
        if exc.refused:
            return LlmRefused(
                f"{where} {exc.problem} ({after}); rephrase the input, or use another model",
                **context,
            )
        return LlmBadResponse(f"{where} {exc.problem} ({after})", **context)
    if isinstance(exc, StreamBroken):
        how = "stalled" if exc.stalled else "was cut off"
        wait = f" (no data for {timeout_s:g} s)" if exc.stalled else ""
        return LlmUnavailable(
            f"{where}: the streamed reply {how} mid-answer{wait} after {exc.chars} characters "
            f"({after}); check the server, or raise LPE_LLM_TIMEOUT for slow models",
            **context,
        )
    if isinstance(exc, json.JSONDecodeError):
        return LlmBadResponse(
            f"{where} sent a reply that is not valid JSON ({exc.msg} at character {exc.pos}) ({after})",
            **context,
        )
    if isinstance(exc, openai.APITimeoutError):
        return LlmUnavailable(
            f"{where} timed out after {timeout_s:g} s ({after}); "
            "raise LPE_LLM_TIMEOUT for slow models, or check that the server is up",
            **context,
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        reason = str(cause) if cause is not None and str(cause) else exc.message
        return LlmUnavailable(
            f"{where} could not be reached or hung up ({after}: {reason}); "
            "check LPE_LLM_BASE_URL and that the server is running",
            **context,
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = f"HTTP {status} {_detail(exc)}"
        context |= {"status": status, "retry_after_s": _retry_after_s(exc.response.headers)}
        if status == 429:
            return LlmUnavailable(
                f"{where} is rate limiting requests ({detail}, {after}); try again later, or set "
                "LPE_LLM_RPM to stay under the endpoint's limit",
                **context,
            )
        if status >= 500 or status == 408:
            return LlmUnavailable(f"{where} failed ({detail}, {after})", **context)
        if status == 401:
            return LlmError(
                f"{where} rejected the API key ({detail}); set OPENAI_API_KEY (or LPE_LLM_API_KEY) "
                "to a valid key for this endpoint",
                **context,
            )
        if status == 403:
            return LlmError(f"{where} refused access ({detail}); check the key's permissions", **context)
        if status == 404:
            return LlmError(
                f"{where} does not know this model or path ({detail}); check LPE_LLM_MODEL, and that "
                "LPE_LLM_BASE_URL ends in /v1 where the server expects it",
                **context,
            )
        return LlmError(f"{where} rejected the request ({detail})", **context)
    if isinstance(exc, openai.APIResponseValidationError):
        return LlmBadResponse(
            f"{where} sent a reply that is not a chat completion ({exc.message}) ({after})", **context
        )
    if isinstance(exc, openai.APIError):
        return LlmError(f"{where} reported an error: {exc.message}", **context)
    return LlmError(f"{where}: {exc}", **context)


def request_outcome(error: BaseException) -> str:
    """What went wrong with one request, as the ``outcome`` label of ``lpe_llm_requests_total``."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    if isinstance(error, StreamBroken):
        return "stream_stalled" if error.stalled else "stream_cut"
    if isinstance(error, openai.APITimeoutError):
        return "timeout"
    if isinstance(error, openai.APIConnectionError):
        return "unreachable"
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        if status == 429:
            return "rate_limited"
        return "server_error" if status >= 500 or status == 408 else "rejected"
    if isinstance(error, BadReply):
        return "refused" if error.refused else "bad_response"
    if isinstance(error, (json.JSONDecodeError, openai.APIResponseValidationError)):
        return "bad_response"
    return "error"


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping) and body.get("message"):
        text = str(body["message"])
    elif isinstance(body, str) and body.strip():
        text = body.strip()
    else:
        text = exc.response.reason_phrase or exc.message
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "…"


def _retry_after_s(headers: Any) -> float | None:
    """The wait a response asks for: ``retry-after-ms``, ``retry-after`` in seconds or as an HTTP date."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    value = headers.get("retry-after")
    if value:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        return max(0.0, moment.timestamp() - time.time())
    return None
