"""Build the configured LLM from settings (or the environment)."""

from __future__ import annotations

from lpe_nb.errors import InvalidInput
from lpe_nb.llm.base import LLM
from lpe_nb.llm.config import LlmSettings
from lpe_nb.llm.fallback import FallbackLLM
from lpe_nb.llm.mock import MockLLM

__all__ = ["make_llm"]


def make_llm(settings: LlmSettings | None = None) -> LLM:
    """The LLM ``settings`` describe (default: :meth:`LlmSettings.from_env`).

    The mock when the resolved provider is ``mock``; else the OpenAI-compatible provider, wrapped in a
    :class:`FallbackLLM` over the mock when ``fallback_to_mock`` is set. Raises :class:`InvalidInput`
    when the OpenAI provider is asked for with neither a key nor a base URL. Close it with ``aclose()``.
    """
    settings = settings if settings is not None else LlmSettings.from_env()
    mock = MockLLM(latency_s=settings.mock_latency_s)
    if settings.resolved_provider == "mock":
        return mock
    if settings.effective_api_key is None:
        raise InvalidInput.field(
            "api_key",
            "the openai provider needs an API key: set OPENAI_API_KEY (or LPE_LLM_API_KEY), or set "
            "LPE_LLM_BASE_URL to a local server such as http://localhost:11434/v1",
        )
    # imported here so that the mock (and `import lpe_nb`) never load the openai SDK (~0.5 s)
    from lpe_nb.llm.openai_compat import OpenAICompatibleLLM

    primary = OpenAICompatibleLLM(settings)
    return FallbackLLM(primary, mock) if settings.fallback_to_mock else primary
