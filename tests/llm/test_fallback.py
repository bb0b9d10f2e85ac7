"""FallbackLLM and make_llm: the mock stands in only when asked to, and never silently."""

from __future__ import annotations

import logging

import pytest

from lpe_nb.errors import InvalidInput, LlmError
from lpe_nb.llm import (
    MOCK_MODEL,
    FallbackLLM,
    LlmSettings,
    Message,
    MockLLM,
    OpenAICompatibleLLM,
    make_llm,
)
from tests.llm.fake_openai_server import FakeOpenAIServer, Reply

MESSAGES: list[Message] = [{"role": "user", "content": "Tell the story of Rosa Parks in Montgomery."}]


@pytest.fixture
def unreachable() -> LlmSettings:
    """Settings for a server that has just stopped: every call is LlmUnavailable at once."""
    with FakeOpenAIServer() as server:
        url = server.base_url
    return LlmSettings(provider="openai", base_url=url, api_key="sk-x", max_retries=0, fallback_to_mock=True)


class TestFallbackLLM:
    async def test_unavailable_primary_is_answered_by_the_mock_marked_degraded(
        self, unreachable: LlmSettings
    ) -> None:
        llm = FallbackLLM(OpenAICompatibleLLM(unreachable), MockLLM())
        try:
            completion = await llm.complete(MESSAGES, task="projection.deconstruct")
        finally:
            await llm.aclose()

        assert completion.degraded
        assert (completion.provider, completion.model) == ("mock", MOCK_MODEL)
        assert completion.degraded_reason is not None
        assert "could not be reached" in completion.degraded_reason
        assert completion.text == MockLLM().reply_text(MESSAGES, task="projection.deconstruct")

    async def test_fallback_warns_once_per_task(
        self, unreachable: LlmSettings, caplog: pytest.LogCaptureFixture
    ) -> None:
        llm = FallbackLLM(OpenAICompatibleLLM(unreachable), MockLLM())
        try:
            with caplog.at_level(logging.WARNING, logger="lpe_nb.llm.fallback"):
                for task in ("a.step", "a.step", "b.step"):
                    await llm.complete(MESSAGES, task=task)
        finally:
            await llm.aclose()

        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 2
        assert "a.step" in warnings[0]
        assert "degraded" in warnings[0]
        assert "b.step" in warnings[1]

    async def test_healthy_primary_is_not_degraded(
        self, fake_openai: FakeOpenAIServer, openai_settings: LlmSettings
    ) -> None:
        fake_openai.script("the real answer")
        llm = FallbackLLM(OpenAICompatibleLLM(openai_settings), MockLLM())
        try:
            completion = await llm.complete(MESSAGES)
        finally:
            await llm.aclose()

        assert completion.text == "the real answer"
        assert not completion.degraded
        assert completion.provider == "openai-compatible"
        assert (llm.provider, llm.model) == ("openai-compatible", "fake-model")

    async def test_errors_that_need_a_fix_are_not_papered_over(
        self, fake_openai: FakeOpenAIServer, openai_settings: LlmSettings
    ) -> None:
        fake_openai.script(Reply.error(401, "Incorrect API key provided."))
        llm = FallbackLLM(OpenAICompatibleLLM(openai_settings), MockLLM())
        try:
            with pytest.raises(LlmError, match="HTTP 401"):
                await llm.complete(MESSAGES)
        finally:
            await llm.aclose()

    async def test_streaming_fallback_streams_the_mock(self, unreachable: LlmSettings) -> None:
        deltas: list[str] = []
        llm = FallbackLLM(OpenAICompatibleLLM(unreachable), MockLLM())
        try:
            completion = await llm.complete(MESSAGES, on_delta=deltas.append)
        finally:
            await llm.aclose()

        assert completion.degraded
        assert "".join(deltas) == completion.text


class TestMakeLlm:
    async def test_no_configuration_gives_the_mock(self) -> None:
        llm = make_llm(LlmSettings.from_env({}))

        assert isinstance(llm, MockLLM)

    async def test_mock_latency_is_passed_on(self) -> None:
        llm = make_llm(LlmSettings(mock_latency_s=0.5))

        assert isinstance(llm, MockLLM)
        assert llm.latency_s == 0.5

    async def test_endpoint_gives_the_openai_provider(self, fake_openai: FakeOpenAIServer) -> None:
        llm = make_llm(LlmSettings.from_env({"LPE_LLM_BASE_URL": fake_openai.base_url, "LPE_LLM_MODEL": "m"}))
        try:
            completion = await llm.complete(MESSAGES)
        finally:
            await llm.aclose()

        assert isinstance(llm, OpenAICompatibleLLM)
        assert completion.provider == "openai-compatible"
        assert fake_openai.call_count == 1

    async def test_fallback_wraps_the_openai_provider(self, unreachable: LlmSettings) -> None:
        llm = make_llm(unreachable)
        try:
            completion = await llm.complete(MESSAGES)
        finally:
            await llm.aclose()

        assert isinstance(llm, FallbackLLM)
        assert completion.degraded

    def test_openai_without_key_or_url_is_refused(self) -> None:
        with pytest.raises(InvalidInput, match="OPENAI_API_KEY"):
            make_llm(LlmSettings(provider="openai"))
