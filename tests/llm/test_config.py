"""LlmSettings: environment parsing, the auto provider, and errors that name the variable."""

from __future__ import annotations

import pytest

from lpe_nb.errors import InvalidInput
from lpe_nb.llm import LlmSettings
from lpe_nb.llm.config import PLACEHOLDER_API_KEY


def test_empty_environment_gives_defaults_and_the_mock() -> None:
    settings = LlmSettings.from_env({})

    assert settings == LlmSettings()
    assert settings.resolved_provider == "mock"
    assert settings.effective_api_key is None


def test_every_variable_is_read() -> None:
    settings = LlmSettings.from_env(
        {
            "LPE_LLM_PROVIDER": "OpenAI",
            "LPE_LLM_MODEL": "llama3.1:8b",
            "LPE_LLM_BASE_URL": "http://localhost:11434/v1",
            "LPE_LLM_API_KEY": "sk-lpe",
            "LPE_LLM_TIMEOUT": "12.5",
            "LPE_LLM_MAX_RETRIES": "0",
            "LPE_LLM_RETRY_BACKOFF": "0.1",
            "LPE_LLM_RPM": "60",
            "LPE_LLM_TPM": "90000",
            "LPE_LLM_CONCURRENCY": "3",
            "LPE_LLM_TEMPERATURE": "0",
            "LPE_LLM_MAX_TOKENS": "512",
            "LPE_LLM_FALLBACK_TO_MOCK": "yes",
            "LPE_MOCK_LATENCY_S": "0.25",
        }
    )

    assert settings == LlmSettings(
        provider="openai",
        model="llama3.1:8b",
        base_url="http://localhost:11434/v1",
        api_key="sk-lpe",
        timeout_s=12.5,
        max_retries=0,
        retry_backoff_s=0.1,
        requests_per_minute=60,
        tokens_per_minute=90000,
        max_concurrency=3,
        temperature=0.0,
        max_tokens=512,
        fallback_to_mock=True,
        mock_latency_s=0.25,
    )


def test_openai_variables_are_fallbacks() -> None:
    settings = LlmSettings.from_env({"OPENAI_BASE_URL": "http://vllm:8000/v1", "OPENAI_API_KEY": "sk-openai"})

    assert (settings.base_url, settings.api_key) == ("http://vllm:8000/v1", "sk-openai")


def test_lpe_variables_win_over_openai_ones() -> None:
    settings = LlmSettings.from_env(
        {
            "OPENAI_BASE_URL": "http://openai/v1",
            "LPE_LLM_BASE_URL": "http://lpe/v1",
            "OPENAI_API_KEY": "sk-openai",
            "LPE_LLM_API_KEY": "sk-lpe",
        }
    )

    assert (settings.base_url, settings.api_key) == ("http://lpe/v1", "sk-lpe")


def test_blank_variables_count_as_unset() -> None:
    assert LlmSettings.from_env({"LPE_LLM_TIMEOUT": "  ", "OPENAI_API_KEY": ""}) == LlmSettings()


def test_overrides_win_and_none_overrides_are_ignored() -> None:
    settings = LlmSettings.from_env(
        {"LPE_LLM_MODEL": "from-env", "LPE_LLM_TIMEOUT": "5"}, model="override", timeout_s=None
    )

    assert (settings.model, settings.timeout_s) == ("override", 5.0)


def test_unknown_override_is_refused() -> None:
    with pytest.raises(InvalidInput, match="temprature: unknown LLM setting") as caught:
        LlmSettings.from_env({}, temprature=0.1)

    assert list(caught.value.fields) == ["temprature"]


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("LPE_LLM_TIMEOUT", "abc", "expected a number"),
        ("LPE_LLM_TIMEOUT", "0", "more than 0"),
        ("LPE_LLM_MAX_RETRIES", "2.5", "whole number"),
        ("LPE_LLM_MAX_RETRIES", "-1", "0 or more"),
        ("LPE_LLM_CONCURRENCY", "0", "at least 1"),
        ("LPE_LLM_TEMPERATURE", "3", "between 0 and 2"),
        ("LPE_LLM_MAX_TOKENS", "0", "at least 1"),
        ("LPE_LLM_FALLBACK_TO_MOCK", "maybe", "1/0"),
        ("LPE_MOCK_LATENCY_S", "-0.5", "0 or more"),
        ("LPE_LLM_PROVIDER", "anthropic", "auto, openai, mock"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        LlmSettings.from_env({variable: value})

    assert list(caught.value.fields) == [variable]
    assert problem in str(caught.value)


def test_bad_values_in_code_name_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        LlmSettings(timeout_s=-1, max_concurrency=0)

    assert set(caught.value.fields) == {"timeout_s", "max_concurrency"}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (LlmSettings(), "mock"),
        (LlmSettings(api_key="sk-x"), "openai"),
        (LlmSettings(base_url="http://localhost:11434/v1"), "openai"),
        (LlmSettings(provider="mock", api_key="sk-x"), "mock"),
        (LlmSettings(provider="openai"), "openai"),
    ],
)
def test_auto_provider_picks_openai_once_an_endpoint_is_configured(
    settings: LlmSettings, expected: str
) -> None:
    assert settings.resolved_provider == expected


def test_local_server_without_key_gets_a_placeholder() -> None:
    assert LlmSettings(base_url="http://localhost:8080/v1").effective_api_key == PLACEHOLDER_API_KEY
    assert LlmSettings(base_url="http://localhost:8080/v1", api_key="sk-real").effective_api_key == "sk-real"


def test_repr_hides_the_key() -> None:
    assert "sk-secret" not in repr(LlmSettings(api_key="sk-secret"))
