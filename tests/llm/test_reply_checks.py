"""Every reply is checked before it is returned: each fault kind, plain and streamed, against the fake server."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from lpe_nb.errors import LlmBadResponse, LlmError, LlmRefused, LlmUnavailable
from lpe_nb.llm import LlmSettings, Message, OpenAICompatibleLLM
from lpe_nb.llm.openai_compat import CALL_RETRY_AFTER_MAX_S
from tests.llm.fake_openai_server import FakeOpenAIServer, Reply

MESSAGES: list[Message] = [{"role": "user", "content": "Name the capital of France."}]

# fault -> (error class, words the message must hold)
BAD_REPLIES: dict[str, tuple[type[LlmError], str]] = {
    "empty_choices": (LlmBadResponse, "no choices"),
    "null_content": (LlmBadResponse, "null"),
    "empty_text": (LlmBadResponse, "whitespace"),
    "malformed_json": (LlmBadResponse, "not valid JSON"),
    "server_error": (LlmUnavailable, "HTTP 500"),
    "unavailable": (LlmUnavailable, "HTTP 503"),
    "rate_limit": (LlmUnavailable, "HTTP 429"),
    "reset": (LlmUnavailable, "could not be reached or hung up"),
    "slow": (LlmUnavailable, "timed out after 0.3 s"),
}
STREAM_ONLY: dict[str, tuple[type[LlmError], str]] = {
    "stream_cut": (LlmUnavailable, "was cut off mid-answer"),
    "stream_stall": (LlmUnavailable, "stalled mid-answer"),
}
# A streamed reply with null content carries no text at all: it is "empty", not "null".
STREAM_MESSAGES = {"null_content": "empty reply", "empty_text": "whitespace"}


@pytest.fixture
def settings(fake_openai: FakeOpenAIServer) -> LlmSettings:
    fake_openai.slow_s = 1.0
    return LlmSettings(
        provider="openai", model="fake-model", base_url=fake_openai.base_url, api_key="sk-test",
        timeout_s=0.3, max_retries=0, retry_backoff_s=0.01,
    )  # fmt: skip


@pytest.fixture
async def llm(settings: LlmSettings) -> AsyncIterator[OpenAICompatibleLLM]:
    llm = OpenAICompatibleLLM(settings)
    yield llm
    await llm.aclose()


class Shown:
    """What a watcher of the streamed text sees: the deltas, started over on an empty one."""

    def __init__(self) -> None:
        self.deltas: list[str] = []
        self.restarts = 0

    def __call__(self, delta: str) -> None:
        if not delta:
            self.deltas.clear()
            self.restarts += 1
        self.deltas.append(delta)

    @property
    def text(self) -> str:
        return "".join(self.deltas)


async def complete(llm: OpenAICompatibleLLM, *, stream: bool) -> tuple[Any, Shown]:
    shown = Shown()
    completion = await llm.complete(MESSAGES, on_delta=shown if stream else None)
    return completion, shown


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("fault", [*BAD_REPLIES, *STREAM_ONLY])
async def test_each_fault_is_a_typed_transient_error_naming_endpoint_model_and_requests(
    fake_openai: FakeOpenAIServer, llm: OpenAICompatibleLLM, fault: str, stream: bool
) -> None:
    fake_openai.script(Reply.fault_of(fault, retry_after_s=0.01))

    with pytest.raises(LlmError) as caught:
        await complete(llm, stream=stream)

    error = caught.value
    expected_class, words = {**BAD_REPLIES, **STREAM_ONLY}[fault]
    if fault in STREAM_ONLY and not stream:  # a plain body cut short: the connection broke
        expected_class = LlmUnavailable
        words = "timed out" if fault == "stream_stall" else "hung up"
    if stream:
        words = STREAM_MESSAGES.get(fault, words)
    assert type(error) is expected_class
    assert error.transient
    message = str(error)
    assert words in message
    assert fake_openai.base_url in message and "'fake-model'" in message
    assert "after 1 request)" in message or "after 1 request;" in message or "after 1 request:" in message
    assert (error.endpoint, error.model, error.requests) == (fake_openai.base_url, "fake-model", 1)
    assert fake_openai.call_count == 1


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("fault", [*BAD_REPLIES, *STREAM_ONLY])
async def test_each_fault_is_retried_and_the_good_reply_returned(
    fake_openai: FakeOpenAIServer, settings: LlmSettings, fault: str, stream: bool
) -> None:
    fake_openai.script(Reply.fault_of(fault, retry_after_s=0.01), "Paris is the capital.")
    llm = OpenAICompatibleLLM(dataclasses.replace(settings, max_retries=1))
    try:
        completion, shown = await complete(llm, stream=stream)
    finally:
        await llm.aclose()

    assert completion.text == "Paris is the capital."
    assert fake_openai.call_count == 2
    if stream:
        assert shown.text == "Paris is the capital."


async def test_a_retried_stream_starts_the_shown_text_over(
    fake_openai: FakeOpenAIServer, settings: LlmSettings
) -> None:
    fake_openai.script(Reply(fault="stream_cut"), "Paris, at last.")
    llm = OpenAICompatibleLLM(dataclasses.replace(settings, max_retries=1))
    try:
        completion, shown = await complete(llm, stream=True)
    finally:
        await llm.aclose()

    assert shown.text == completion.text == "Paris, at last."
    assert shown.restarts == 1


async def test_text_that_is_fine_is_returned_as_it_is(
    fake_openai: FakeOpenAIServer, llm: OpenAICompatibleLLM
) -> None:
    fake_openai.script(" Paris \n")

    completion, _ = await complete(llm, stream=False)

    assert completion.text == " Paris \n"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_a_refusal_is_permanent_and_not_retried(
    fake_openai: FakeOpenAIServer, settings: LlmSettings, stream: bool
) -> None:
    fake_openai.script(Reply.fault_of("refusal"), "Paris")
    llm = OpenAICompatibleLLM(dataclasses.replace(settings, max_retries=3))
    try:
        with pytest.raises(LlmRefused) as caught:
            await complete(llm, stream=stream)
    finally:
        await llm.aclose()

    assert not caught.value.transient
    assert 'declined to answer: "I can\'t help with that."' in str(caught.value)
    assert fake_openai.call_count == 1


@pytest.mark.parametrize("fault", ["unauthorized", "unknown_model"])
async def test_permanent_http_errors_are_not_retried(
    fake_openai: FakeOpenAIServer, settings: LlmSettings, fault: str
) -> None:
    fake_openai.script(Reply.fault_of(fault), "Paris")
    llm = OpenAICompatibleLLM(dataclasses.replace(settings, max_retries=3))
    try:
        with pytest.raises(LlmError) as caught:
            await complete(llm, stream=False)
    finally:
        await llm.aclose()

    assert type(caught.value) is LlmError and not caught.value.transient
    assert fake_openai.call_count == 1
    assert ("OPENAI_API_KEY" if fault == "unauthorized" else "LPE_LLM_MODEL") in str(caught.value)


async def test_the_message_counts_every_request_really_made(
    fake_openai: FakeOpenAIServer, settings: LlmSettings
) -> None:
    fake_openai.script(*[Reply.fault_of("empty_text")] * 3)
    llm = OpenAICompatibleLLM(dataclasses.replace(settings, max_retries=2))
    try:
        with pytest.raises(LlmBadResponse, match=r"after 3 requests\)$"):
            await complete(llm, stream=False)
    finally:
        await llm.aclose()

    assert fake_openai.call_count == 3


async def test_a_retry_after_longer_than_a_call_waits_is_left_to_the_job(
    fake_openai: FakeOpenAIServer, settings: LlmSettings
) -> None:
    wait = CALL_RETRY_AFTER_MAX_S + 10
    fake_openai.script(Reply.error(429, "slow down", retry_after_s=wait), "Paris")
    llm = OpenAICompatibleLLM(dataclasses.replace(settings, max_retries=3))
    try:
        with pytest.raises(LlmUnavailable) as caught:
            await complete(llm, stream=False)
        state = llm.limiter.state()
    finally:
        llm.limiter.pause(0, "")  # (a pause is never shortened; the next test has its own endpoint)
        await llm.aclose()

    assert caught.value.retry_after_s == pytest.approx(wait)
    assert caught.value.status == 429
    assert fake_openai.call_count == 1
    assert state["paused_for_s"] > CALL_RETRY_AFTER_MAX_S
    assert state["pause_reason"] == f"HTTP 429 from {fake_openai.base_url}"


async def test_a_429_holds_every_calls_next_request(
    fake_openai: FakeOpenAIServer, settings: LlmSettings
) -> None:
    fake_openai.script(Reply.error(429, "slow down", retry_after_s=0.4))
    first = OpenAICompatibleLLM(settings)
    other = OpenAICompatibleLLM(settings)  # another instance: the limit is per endpoint and model
    try:
        with pytest.raises(LlmUnavailable):
            await first.complete(MESSAGES)
        await other.complete(MESSAGES)
    finally:
        await first.aclose()
        await other.aclose()

    first_at, other_at = (r.at for r in fake_openai.requests)
    assert other_at - first_at >= 0.35  # the other call did not go before the Retry-After
