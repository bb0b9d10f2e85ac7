"""The LLM layer: one protocol, an OpenAI-compatible provider, an offline mock, and their configuration.

Knows nothing of jobs. Typical use::

    llm = make_llm()                      # from LPE_LLM_* / OPENAI_* variables; the mock when none are set
    try:
        reply = await llm.complete([{"role": "user", "content": "..."}], task="projection.deconstruct")
    finally:
        await llm.aclose()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lpe_nb.llm.base import LLM, Completion, DeltaCallback, Message, Role, Usage
from lpe_nb.llm.cache import CacheScope, CachingLLM, cache_scope
from lpe_nb.llm.config import LlmSettings
from lpe_nb.llm.factory import make_llm
from lpe_nb.llm.fallback import FallbackLLM
from lpe_nb.llm.mock import (
    MOCK_MODEL,
    MockLLM,
    MockResponder,
    register_mock_responder,
    unregister_mock_responder,
)
from lpe_nb.llm.structured import complete_json, parse_json_reply

if TYPE_CHECKING:
    from lpe_nb.llm.openai_compat import OpenAICompatibleLLM

__all__ = [
    "LLM",
    "MOCK_MODEL",
    "CacheScope",
    "CachingLLM",
    "Completion",
    "DeltaCallback",
    "FallbackLLM",
    "LlmSettings",
    "Message",
    "MockLLM",
    "MockResponder",
    "OpenAICompatibleLLM",
    "Role",
    "Usage",
    "cache_scope",
    "complete_json",
    "make_llm",
    "parse_json_reply",
    "register_mock_responder",
    "unregister_mock_responder",
]


if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any name on this module

    def __getattr__(name: str) -> Any:
        """``OpenAICompatibleLLM`` on first use: importing the openai SDK costs ~0.5 s the mock never needs."""
        if name == "OpenAICompatibleLLM":
            from lpe_nb.llm.openai_compat import OpenAICompatibleLLM

            globals()[name] = OpenAICompatibleLLM  # later lookups skip this function
            return OpenAICompatibleLLM
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
