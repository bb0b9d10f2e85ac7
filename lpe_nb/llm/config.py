"""LLM settings, from code or from the environment.

Environment variables (all optional)::

    LPE_LLM_PROVIDER          auto | openai | mock            (default auto)
    LPE_LLM_MODEL             model name sent to the endpoint  (default gpt-4o-mini)
    LPE_LLM_BASE_URL          e.g. http://localhost:11434/v1   (falls back to OPENAI_BASE_URL)
    LPE_LLM_API_KEY           falls back to OPENAI_API_KEY
    LPE_LLM_TIMEOUT           seconds per HTTP attempt          (default 60)
    LPE_LLM_MAX_RETRIES       retries of one call on a transient fault (default 2)
    LPE_LLM_RETRY_BACKOFF     seconds before a call's first retry, doubling (default 0.5)
    LPE_LLM_RPM               requests per minute to this endpoint and model, all jobs (default: no limit)
    LPE_LLM_TPM               tokens per minute, likewise        (default: no limit)
    LPE_LLM_CONCURRENCY       calls in flight per LLM instance  (default 8)
    LPE_LLM_TEMPERATURE       0..2                              (default 0.7)
    LPE_LLM_MAX_TOKENS        reply length cap                  (default: the server's)
    LPE_LLM_FALLBACK_TO_MOCK  1/0: answer with the mock, marked degraded, when the endpoint is unavailable
    LPE_MOCK_LATENCY_S        simulated seconds per mock call   (default 0)
    LPE_LLM_PRICES            model prices: inline JSON or a .json/.toml file (see lpe_nb.llm.pricing)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from lpe_nb.errors import InvalidInput
from lpe_nb.llm.pricing import PriceRule, load_price_rules, parse_price_rules

__all__ = ["PLACEHOLDER_API_KEY", "LlmSettings"]

PLACEHOLDER_API_KEY = "sk-no-key-required"
"""Sent to a custom base URL when no key is configured: local servers ignore it, the SDK insists on one."""

_PROVIDERS = ("auto", "openai", "mock")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class LlmSettings:
    """How to reach the LLM; every value is checked on construction and raises :class:`InvalidInput`.

    ``api_key`` is kept out of ``repr`` so settings can be logged. Use :meth:`from_env` to read the
    environment; construct directly to ignore it.
    """

    provider: str = "auto"
    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    temperature: float = 0.7
    max_tokens: int | None = None
    timeout_s: float = 60.0
    max_retries: int = 2
    retry_backoff_s: float = 0.5
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    rate_window_s: float = 60.0  # the "minute" of the two limits (tests shorten it)
    max_concurrency: int = 8
    fallback_to_mock: bool = False
    mock_latency_s: float = 0.0
    # price rules over the default table (lpe_nb.llm.pricing); dicts are accepted and turned into rules
    prices: tuple[PriceRule, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "prices", parse_price_rules(self.prices))  # frozen: set once, here
        problems = {name: problem for name, problem in self._problems() if problem}
        if problems:
            raise InvalidInput(problems)

    def _problems(self) -> list[tuple[str, str | None]]:
        return [
            ("provider", None if self.provider in _PROVIDERS else f"must be one of {', '.join(_PROVIDERS)}"),
            ("model", None if self.model.strip() else "must not be empty"),
            ("temperature", None if 0.0 <= self.temperature <= 2.0 else "must be between 0 and 2"),
            ("max_tokens", None if self.max_tokens is None or self.max_tokens >= 1 else "must be at least 1"),
            ("timeout_s", None if self.timeout_s > 0 else "must be more than 0 seconds"),
            ("max_retries", None if self.max_retries >= 0 else "must be 0 or more"),
            ("retry_backoff_s", None if self.retry_backoff_s >= 0 else "must be 0 or more seconds"),
            ("requests_per_minute", _positive_or_none(self.requests_per_minute)),
            ("tokens_per_minute", _positive_or_none(self.tokens_per_minute)),
            ("rate_window_s", None if self.rate_window_s > 0 else "must be more than 0 seconds"),
            ("max_concurrency", None if self.max_concurrency >= 1 else "must be at least 1"),
            ("mock_latency_s", None if self.mock_latency_s >= 0 else "must be 0 or more seconds"),
        ]

    @property
    def resolved_provider(self) -> Literal["openai", "mock"]:
        """The provider ``auto`` stands for: the OpenAI-compatible one once a base URL or key is set."""
        if self.provider == "openai" or (self.provider == "auto" and (self.base_url or self.api_key)):
            return "openai"
        return "mock"

    @property
    def effective_api_key(self) -> str | None:
        """The key to send: the configured one, a placeholder for a keyless local server, else None."""
        if self.api_key:
            return self.api_key
        return PLACEHOLDER_API_KEY if self.base_url else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> LlmSettings:
        """Read the ``LPE_LLM_*`` variables (see the module docstring); ``overrides`` win over them.

        Overrides whose value is None are ignored, so optional configuration can be passed straight
        through. A bad value raises :class:`InvalidInput` naming the variable it came from.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name, variables, parse in _ENV_FIELDS:
            for variable in variables:
                raw = env.get(variable, "").strip()
                if raw:
                    values[name] = _parse(variable, raw, parse)
                    sources[name] = variable
                    break
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InvalidInput(
                {name: f"unknown LLM setting; choose from {', '.join(sorted(known))}" for name in unknown}
            )
        for name, value in overrides.items():
            if value is not None:
                values[name] = value
                sources.pop(name, None)
        try:
            return cls(**values)
        except InvalidInput as exc:
            renamed = {sources.get(name, name): problem for name, problem in exc.fields.items()}
            raise InvalidInput(renamed) from None


def _positive_or_none(value: int | None) -> str | None:
    return None if value is None or value >= 1 else "must be at least 1, or unset for no limit"


def _parse(variable: str, raw: str, parse: Callable[[str], _T]) -> _T:
    try:
        return parse(raw)
    except ValueError as exc:
        raise InvalidInput.field(variable, f"cannot read {raw!r}: {exc}") from None


def _parse_provider(raw: str) -> str:
    return raw.lower()


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def _parse_float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("expected a number") from None


def _parse_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("expected a whole number") from None


# field, variables in order of precedence, parser
_ENV_FIELDS: tuple[tuple[str, tuple[str, ...], Callable[[str], Any]], ...] = (
    ("provider", ("LPE_LLM_PROVIDER",), _parse_provider),
    ("model", ("LPE_LLM_MODEL",), str),
    ("base_url", ("LPE_LLM_BASE_URL", "OPENAI_BASE_URL"), str),
    ("api_key", ("LPE_LLM_API_KEY", "OPENAI_API_KEY"), str),
    ("temperature", ("LPE_LLM_TEMPERATURE",), _parse_float),
    ("max_tokens", ("LPE_LLM_MAX_TOKENS",), _parse_int),
    ("timeout_s", ("LPE_LLM_TIMEOUT",), _parse_float),
    ("max_retries", ("LPE_LLM_MAX_RETRIES",), _parse_int),
    ("retry_backoff_s", ("LPE_LLM_RETRY_BACKOFF",), _parse_float),
    ("requests_per_minute", ("LPE_LLM_RPM",), _parse_int),
    ("tokens_per_minute", ("LPE_LLM_TPM",), _parse_int),
    ("max_concurrency", ("LPE_LLM_CONCURRENCY",), _parse_int),
    ("fallback_to_mock", ("LPE_LLM_FALLBACK_TO_MOCK",), _parse_bool),
    ("mock_latency_s", ("LPE_MOCK_LATENCY_S",), _parse_float),
    ("prices", ("LPE_LLM_PRICES",), load_price_rules),
)
