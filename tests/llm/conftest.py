"""Shared fixtures for the LLM tests: a real fake OpenAI server and providers pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from lpe_nb.llm import LlmSettings, OpenAICompatibleLLM
from tests.llm.fake_openai_server import FakeOpenAIServer


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def openai_settings(fake_openai: FakeOpenAIServer) -> LlmSettings:
    """Settings for the fake server: short timeouts so failure tests stay fast."""
    return LlmSettings(
        provider="openai",
        model="fake-model",
        base_url=fake_openai.base_url,
        api_key="sk-test",
        temperature=0.2,
        timeout_s=5.0,
        max_retries=2,
    )


@pytest.fixture
async def openai_llm(openai_settings: LlmSettings) -> AsyncIterator[OpenAICompatibleLLM]:
    llm = OpenAICompatibleLLM(openai_settings)
    yield llm
    await llm.aclose()
