"""What an LLM call costs: a price per million input and output tokens for each model, and the rules that
pick one.

The defaults (:data:`DEFAULT_PRICES`) are OpenAI's published list prices for the standard tier as of
:data:`DEFAULT_PRICES_DATE`; prices change, so check them against https://openai.com/api/pricing and
override any of them with price rules (``LPE_LLM_PRICES``, the server's ``llm_prices`` trait, or
``LlmSettings(prices=...)``). Cached-input and batch discounts are not modelled: a call is priced as if
every prompt token were billed at the input price.

How a call's price is found (:meth:`PriceTable.price_of`), first match wins:

1. the mock: free;
2. a configured rule for this endpoint (``base_url``) whose ``model`` pattern matches, then a rule for any
   endpoint (patterns are shell-style, ``llama3*``; exact names are tried before patterns);
3. the default table, by the model's name or a dated snapshot of it (``gpt-4o-mini-2024-07-18`` is
   ``gpt-4o-mini``), whatever the endpoint: a local proxy that forwards ``gpt-4o`` to OpenAI still costs;
4. a local server (loopback or private address, ``localhost``, ``*.local``): free;
5. otherwise unknown: the call's cost is None (stored as null, shown as "?"), and a warning says how to
   price it.
"""

from __future__ import annotations

import fnmatch
import importlib
import ipaddress
import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lpe_nb.errors import InvalidInput

__all__ = [
    "DEFAULT_PRICES",
    "DEFAULT_PRICES_DATE",
    "FREE",
    "ModelPrice",
    "PriceRule",
    "PriceTable",
    "format_usd",
    "is_local_endpoint",
    "load_price_rules",
    "parse_price_rules",
]

log = logging.getLogger(__name__)

_PER_TOKEN = 1e-6  # prices are per million tokens


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million prompt (input) and completion (output) tokens."""

    input_usd_per_mtok: float
    output_usd_per_mtok: float

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        """What ``prompt_tokens`` in and ``completion_tokens`` out cost, in USD."""
        return (
            prompt_tokens * self.input_usd_per_mtok + completion_tokens * self.output_usd_per_mtok
        ) * _PER_TOKEN


FREE = ModelPrice(0.0, 0.0)

DEFAULT_PRICES_DATE = "2025-08-07"
"""When :data:`DEFAULT_PRICES` were taken from OpenAI's pricing page; check them before relying on them."""

DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "gpt-5": ModelPrice(1.25, 10.00),
    "gpt-5-mini": ModelPrice(0.25, 2.00),
    "gpt-5-nano": ModelPrice(0.05, 0.40),
    "gpt-4.1": ModelPrice(2.00, 8.00),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60),
    "gpt-4.1-nano": ModelPrice(0.10, 0.40),
    "gpt-4o": ModelPrice(2.50, 10.00),
    "gpt-4o-mini": ModelPrice(0.15, 0.60),
    "o1": ModelPrice(15.00, 60.00),
    "o1-mini": ModelPrice(1.10, 4.40),
    "o3": ModelPrice(2.00, 8.00),
    "o3-mini": ModelPrice(1.10, 4.40),
    "o4-mini": ModelPrice(1.10, 4.40),
    "gpt-4-turbo": ModelPrice(10.00, 30.00),
    "gpt-3.5-turbo": ModelPrice(0.50, 1.50),
}

# a dated snapshot of a model: gpt-4o-2024-08-06, gpt-4-0613
_SNAPSHOT_SUFFIX = re.compile(r"-\d{4}(-\d{2}-\d{2})?")


@dataclass(frozen=True, slots=True)
class PriceRule:
    """A configured price: for models matching ``model`` (a name or a shell-style pattern) at ``base_url``
    (None: any endpoint)."""

    model: str
    price: ModelPrice
    base_url: str | None = None

    @property
    def is_pattern(self) -> bool:
        return any(c in self.model for c in "*?[")

    def matches(self, model: str) -> bool:
        return fnmatch.fnmatchcase(model, self.model) if self.is_pattern else model == self.model


class PriceTable:
    """Configured rules over the default table; :meth:`price_of` says what a model costs where."""

    def __init__(
        self, rules: Iterable[PriceRule] = (), defaults: Mapping[str, ModelPrice] = DEFAULT_PRICES
    ) -> None:
        # endpoint rules before general ones, and within each exact names before patterns
        self.rules = tuple(sorted(rules, key=lambda r: (r.base_url is None, r.is_pattern)))
        self.defaults = dict(defaults)
        self._by_length = sorted(self.defaults, key=len, reverse=True)
        self._warned: set[tuple[str, str | None]] = set()

    def price_of(self, model: str, *, base_url: str | None = None, provider: str = "") -> ModelPrice | None:
        """The price of a call to ``model`` at ``base_url``, or None when nothing says (see the module)."""
        if provider == "mock":
            return FREE
        endpoint = _normal_url(base_url)
        for rule in self.rules:
            if (rule.base_url is None or _normal_url(rule.base_url) == endpoint) and rule.matches(model):
                return rule.price
        default = self._default_of(model)
        if default is not None:
            return default
        if base_url is not None and is_local_endpoint(base_url):
            return FREE
        if (model, endpoint) not in self._warned:
            self._warned.add((model, endpoint))
            log.warning(
                "no price for model %r at %s: its calls' cost is unknown; give it one in LPE_LLM_PRICES "
                "(see docs/cost-and-analytics.md)",
                model,
                base_url or "the default endpoint",
            )
        return None

    def _default_of(self, model: str) -> ModelPrice | None:
        if model in self.defaults:
            return self.defaults[model]
        for name in self._by_length:  # gpt-4o-mini-2024-07-18 is gpt-4o-mini, not gpt-4o
            if model.startswith(name) and _SNAPSHOT_SUFFIX.fullmatch(model[len(name) :]):
                return self.defaults[name]
        return None

    def cost_usd(
        self,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        base_url: str | None = None,
        provider: str = "",
    ) -> float | None:
        """What a call cost in USD at today's prices, or None when its model has no price."""
        price = self.price_of(model, base_url=base_url, provider=provider)
        return None if price is None else price.cost_usd(prompt_tokens, completion_tokens)


def format_usd(cost_usd: float | None) -> str:
    """A cost for people: ``$0.0123`` (four decimals below $100, so a cheap call is not "$0.00"),
    ``$1,234.50`` above; ``?`` when unknown (no price for its model)."""
    if cost_usd is None:
        return "?"
    return f"${cost_usd:.4f}" if abs(cost_usd) < 100 else f"${cost_usd:,.2f}"


def _normal_url(url: str | None) -> str | None:
    return None if url is None else url.strip().rstrip("/").lower()


def is_local_endpoint(base_url: str) -> bool:
    """Whether ``base_url`` is a server on this machine or a private network (Ollama, vLLM, LM Studio)."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host in ("localhost", "host.docker.internal") or host.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


# -- configuration ----------------------------------------------------------------------------------------


def parse_price_rules(value: Any, *, field: str = "prices") -> tuple[PriceRule, ...]:
    """Rules from their JSON form: a list (or ``{"prices": [...]}``) of objects with ``model``, ``input``
    and ``output`` (USD per million tokens) and an optional ``base_url``. :class:`InvalidInput` naming
    ``field[i].key`` for a bad one."""
    if isinstance(value, Mapping) and set(value) == {"prices"}:
        value = value["prices"]
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidInput.field(field, "must be a list of {model, input, output[, base_url]} objects")
    rules = []
    for i, entry in enumerate(value):
        if isinstance(entry, PriceRule):
            rules.append(entry)
            continue
        where = f"{field}[{i}]"
        if not isinstance(entry, Mapping):
            raise InvalidInput.field(where, "must be an object with model, input and output")
        unknown = sorted(set(entry) - {"model", "base_url", "input", "output"})
        if unknown:
            raise InvalidInput.field(
                f"{where}.{unknown[0]}", "is not a price key (model, base_url, input, output)"
            )
        model = entry.get("model")
        if not isinstance(model, str) or not model.strip():
            raise InvalidInput.field(f"{where}.model", "must be a model name or pattern such as llama3*")
        base_url = entry.get("base_url")
        if base_url is not None and not isinstance(base_url, str):
            raise InvalidInput.field(f"{where}.base_url", "must be a URL such as http://localhost:11434/v1")
        prices = [_usd_per_mtok(entry.get(key), f"{where}.{key}") for key in ("input", "output")]
        rules.append(PriceRule(model.strip(), ModelPrice(*prices), base_url))
    return tuple(rules)


def _usd_per_mtok(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e6:
        raise InvalidInput.field(where, f"must be USD per million tokens, 0 or more, not {value!r}")
    return float(value)


def load_price_rules(text: str, *, field: str = "LPE_LLM_PRICES") -> tuple[PriceRule, ...]:
    """Rules from inline JSON (a value starting with ``[`` or ``{``) or from a ``.json`` or ``.toml`` file
    (TOML: ``[[prices]]`` tables); :class:`InvalidInput` naming ``field`` when it cannot be read."""
    text = text.strip()
    try:
        if text.startswith(("[", "{")):
            data: Any = json.loads(text)
        else:
            path = Path(text).expanduser()
            raw = path.read_text(encoding="utf-8")
            data = _toml(raw, field) if path.suffix.lower() == ".toml" else json.loads(raw)
    except (OSError, ValueError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise InvalidInput.field(field, f"cannot read prices from {text[:80]!r}: {exc}") from None
    return parse_price_rules(data, field=field)


def _toml(raw: str, field: str) -> Any:
    if sys.version_info < (3, 11):
        raise InvalidInput.field(field, "a TOML price file needs Python 3.11 or later; use a .json file")
    tomllib = importlib.import_module("tomllib")  # by name: mypy checks for Python 3.10, which lacks it
    return tomllib.loads(raw)
