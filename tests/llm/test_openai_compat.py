"""OpenAICompatibleLLM against a real HTTP server speaking the Chat Completions API."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import time
from typing import Any

import pytest

from lpe_nb.errors import LlmError, LlmUnavailable
from lpe_nb.llm import LlmSettings, Message, OpenAICompatibleLLM, Usage
from tests.llm.fake_openai_server import FakeOpenAIServer, Reply

MESSAGES: list[Message] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name the capital of France."},
]
SCHEMA = {
    "title": "Capital",
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def _llm(settings: LlmSettings, **changes: Any) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(dataclasses.replace(settings, **changes))


class TestRequest:
    async def test_sends_model_messages_and_temperature(
        self, fake_openai: FakeOpenAIServer, openai_llm: OpenAICompatibleLLM
    ) -> None:
        fake_openai.script("Paris")

        completion = await openai_llm.complete(MESSAGES, task="geo.capital")

        body = fake_openai.requests[0].json
        assert fake_openai.requests[0].path == "/v1/chat/completions"
        assert fake_openai.requests[0].headers["authorization"] == "Bearer sk-test"
        assert body["model"] == "fake-model"
        assert body["messages"] == MESSAGES
        assert body["temperature"] == 0.2
        assert "max_tokens" not in body
        assert "response_format" not in body
        assert completion.text == "Paris"
        assert (completion.provider, completion.model, completion.degraded) == (
            "openai-compatible",
            "fake-model",
            False,
        )

    async def test_returns_the_servers_usage(
        self, fake_openai: FakeOpenAIServer, openai_llm: OpenAICompatibleLLM
    ) -> None:
        fake_openai.script("Paris is the capital")

        completion = await openai_llm.complete(MESSAGES)

        # the fake counts whitespace tokens: 3 + 5 in the prompt, 4 in the reply
        assert completion.usage == Usage(prompt_tokens=8, completion_tokens=4, total_tokens=12)

    async def test_missing_usage_counts_as_zero(
        self, fake_openai: FakeOpenAIServer, openai_llm: OpenAICompatibleLLM
    ) -> None:
        fake_openai.script(Reply(text="Paris", include_usage=False))

        completion = await openai_llm.complete(MESSAGES)

        assert completion.usage == Usage()

    async def test_max_tokens_is_sent_when_configured(
        self, fake_openai: FakeOpenAIServer, openai_settings: LlmSettings
    ) -> None:
        llm = _llm(openai_settings, max_tokens=64)
        try:
            await llm.complete(MESSAGES)
        finally:
            await llm.aclose()

        assert fake_openai.requests[0].json["max_tokens"] == 64

    async def test_local_server_without_key_gets_a_placeholder_key(
        self, fake_openai: FakeOpenAIServer, openai_settings: LlmSettings
    ) -> None:
        llm = _llm(openai_settings, api_key=None)
        try:
            await llm.complete(MESSAGES)
        finally:
            await llm.aclose()

        assert fake_openai.requests[0].headers["authorization"].startswith("Bearer sk-")


class TestJson:
    async def test_json_schema_is_sent_as_response_format(
        self, fake_openai: FakeOpenAIServer, openai_llm: OpenAICompatibleLLM
    ) -> None:
        fake_openai.script('{"city": "Paris"}')

        completion = await openai_llm.complete(MESSAGES, json_schema=SCHEMA)

        assert fake_openai.requests[0].json["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "Capital", "schema": SCHEMA, "strict": False},
        }
        assert fake_openai.requests[0].json["messages"] == MESSAGES
        assert completion.text == '{"city": "Paris"}'

    async def test_rejected_json_schema_falls_back_to_json_object_and_is_remembered(
        self, openai_settings: LlmSettings
    ) -> None:
        with FakeOpenAIServer(reject_response_formats={"json_schema"}) as server:
            llm = _llm(openai_settings, base_url=server.base_url)
            try:
                first = await llm.complete(MESSAGES, json_schema=SCHEMA)
                await llm.complete(MESSAGES, json_schema=SCHEMA)
            finally:
                await llm.aclose()
            formats = [r.json.get("response_format", {}).get("type") for r in server.requests]

        assert formats == ["json_schema", "json_object", "json_object"]
        assert llm.json_mode == "json_object"
        assert first.text.startswith("{")
        # json_object mode needs the schema (and the word JSON) in the messages instead
        last_message = server.requests[1].json["messages"][-1]
        assert last_message["role"] == "system"
        assert "JSON Schema" in last_message["content"]
        assert '"city"' in last_message["content"]

    async def test_endpoint_without_any_json_mode_gets_none(self, openai_settings: LlmSettings) -> None:
        with FakeOpenAIServer(reject_response_formats={"json_schema", "json_object"}) as server:
            llm = _llm(openai_settings, base_url=server.base_url)
            try:
                await llm.complete(MESSAGES, json_schema=SCHEMA)
            finally:
                await llm.aclose()
            formats = [r.json.get("response_format", {}).get("type") for r in server.requests]

        assert formats == ["json_schema", "json_object", None]
        assert llm.json_mode == "none"

    async def test_other_bad_requests_are_not_retried_as_json_fallbacks(
        self, fake_openai: FakeOpenAIServer, openai_llm: OpenAICompatibleLLM
    ) -> None:
        fake_openai.script(Reply.error(400, "temperature is out of range", param="temperature"))

        with pytest.raises(LlmError, match="temperature is out of range") as caught:
            await openai_llm.complete(MESSAGES, json_schema=SCHEMA)

        assert not isinstance(caught.value, LlmUnavailable)
        assert fake_openai.call_count == 1
        assert openai_llm.json_mode == "json_schema"


class TestStreaming:
    async def test_deltas_arrive_in_order_and_make_up_the_text(
        self, fake_openai: FakeOpenAIServer, openai_llm: OpenAICompatibleLLM
    ) -> None:
        fake_openai.script(Reply(text="unused", deltas=("The ", "capital ", "is ", "Paris.")))
        deltas: list[str] = []

        completion = await openai_llm.complete(MESSAGES, on_delta=deltas.append)

        assert deltas == ["The ", "capital ", "is ", "Paris."]
        assert completion.text == "".join(deltas)
        body = fake_openai.requests[0].json
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
        assert completion.usage.prompt_tokens == 8

    async def test_stream_without_usage_counts_zero(
        self, fake_openai: FakeOpenAIServer, openai_llm: OpenAICompatibleLLM
    ) -> None:
        fake_openai.script(Reply(text="Paris it is", include_usage=False))
        deltas: list[str] = []

        completion = await openai_llm.complete(MESSAGES, on_delta=deltas.append)

        assert completion.text == "Paris it is" == "".join(deltas)
        assert completion.usage == Usage()

    async def test_rejected_stream_options_are_dropped_and_remembered(
        self, fake_openai: FakeOpenAIServer, openai_llm: OpenAICompatibleLLM
    ) -> None:
        fake_openai.script(Reply.error(400, "Unrecognized request argument: stream_options"), "Paris", "Lyon")

        first = await openai_llm.complete(MESSAGES, on_delta=lambda _: None)
        second = await openai_llm.complete(MESSAGES, on_delta=lambda _: None)

        assert (first.text, second.text) == ("Paris", "Lyon")
        assert [("stream_options" in r.json) for r in fake_openai.requests] == [True, False, False]
        assert second.usage == Usage()

    async def test_streamed_json_keeps_the_response_format(
        self, fake_openai: FakeOpenAIServer, openai_llm: OpenAICompatibleLLM
    ) -> None:
        deltas: list[str] = []

        completion = await openai_llm.complete(MESSAGES, json_schema=SCHEMA, on_delta=deltas.append)

        assert fake_openai.requests[0].json["response_format"]["type"] == "json_schema"
        assert "city" in completion.text
        assert completion.text == "".join(deltas)


class TestRetries:
    async def test_429_with_retry_after_is_retried(
        self, fake_openai: FakeOpenAIServer, openai_llm: OpenAICompatibleLLM
    ) -> None:
        fake_openai.script(Reply.error(429, "Rate limit reached", retry_after_s=0.1), "Paris")
        started = time.monotonic()

        completion = await openai_llm.complete(MESSAGES)

        assert completion.text == "Paris"
        assert fake_openai.call_count == 2
        assert fake_openai.requests[1].at - fake_openai.requests[0].at >= 0.1  # waited as told
        assert time.monotonic() - started >= 0.1

    async def test_500_is_retried(
        self, fake_openai: FakeOpenAIServer, openai_llm: OpenAICompatibleLLM
    ) -> None:
        fake_openai.script(Reply.error(500, "boom", retry_after_s=0.01), "Paris")

        completion = await openai_llm.complete(MESSAGES)

        assert completion.text == "Paris"
        assert fake_openai.call_count == 2

    async def test_persistent_500_is_unavailable(
        self, fake_openai: FakeOpenAIServer, openai_settings: LlmSettings
    ) -> None:
        fake_openai.script(*[Reply.error(500, "database on fire", retry_after_s=0.01)] * 2)
        llm = _llm(openai_settings, max_retries=1)
        try:
            with pytest.raises(LlmUnavailable) as caught:
                await llm.complete(MESSAGES)
        finally:
            await llm.aclose()

        message = str(caught.value)
        assert "HTTP 500" in message
        assert "database on fire" in message
        assert fake_openai.base_url in message
        assert "'fake-model'" in message
        assert "after 2 requests" in message
        assert fake_openai.call_count == 2
        assert (caught.value.requests, caught.value.status) == (2, 500)

    async def test_persistent_429_is_unavailable(
        self, fake_openai: FakeOpenAIServer, openai_settings: LlmSettings
    ) -> None:
        fake_openai.script(Reply.error(429, "Rate limit reached", retry_after_s=0.01))
        llm = _llm(openai_settings, max_retries=0)
        try:
            with pytest.raises(LlmUnavailable, match=r"rate limiting.*HTTP 429"):
                await llm.complete(MESSAGES)
        finally:
            await llm.aclose()


class TestFailures:
    async def test_timeout_is_unavailable_with_a_readable_message(
        self, fake_openai: FakeOpenAIServer, openai_settings: LlmSettings
    ) -> None:
        fake_openai.script(Reply(text="too late", delay_s=5))
        llm = _llm(openai_settings, timeout_s=0.5, max_retries=0)
        started = time.monotonic()
        try:
            with pytest.raises(LlmUnavailable) as caught:
                await llm.complete(MESSAGES)
        finally:
            await llm.aclose()

        assert "timed out after 0.5 s" in str(caught.value)
        assert fake_openai.base_url in str(caught.value)
        assert time.monotonic() - started < 3

    async def test_unreachable_server_is_unavailable(self, openai_settings: LlmSettings) -> None:
        with FakeOpenAIServer() as server:
            gone_url = server.base_url
        llm = _llm(openai_settings, base_url=gone_url, max_retries=0)
        try:
            with pytest.raises(LlmUnavailable, match="could not be reached"):
                await llm.complete(MESSAGES)
        finally:
            await llm.aclose()

    async def test_401_is_an_error_that_names_the_key(self, openai_settings: LlmSettings) -> None:
        with FakeOpenAIServer(api_key="sk-right") as server:
            llm = _llm(openai_settings, base_url=server.base_url, api_key="sk-wrong")
            try:
                with pytest.raises(LlmError) as caught:
                    await llm.complete(MESSAGES)
            finally:
                await llm.aclose()
            calls = server.call_count

        assert not isinstance(caught.value, LlmUnavailable)
        assert "HTTP 401" in str(caught.value)
        assert "OPENAI_API_KEY" in str(caught.value)
        assert calls == 1  # never retried

    async def test_unknown_model_is_an_error_that_names_the_model(self, openai_settings: LlmSettings) -> None:
        with FakeOpenAIServer(models={"llama3"}) as server:
            llm = _llm(openai_settings, base_url=server.base_url)
            try:
                with pytest.raises(LlmError, match=r"HTTP 404.*fake-model.*does not exist.*LPE_LLM_MODEL"):
                    await llm.complete(MESSAGES)
            finally:
                await llm.aclose()

    async def test_errors_chain_the_openai_error(
        self, fake_openai: FakeOpenAIServer, openai_llm: OpenAICompatibleLLM
    ) -> None:
        fake_openai.script(Reply.error(403, "nope"))

        with pytest.raises(LlmError) as caught:
            await openai_llm.complete(MESSAGES)

        assert type(caught.value.__cause__).__module__.startswith("openai")


class TestConcurrencyAndCancellation:
    async def test_calls_in_flight_are_capped(
        self, fake_openai: FakeOpenAIServer, openai_settings: LlmSettings
    ) -> None:
        fake_openai.delay_s = 0.2
        llm = _llm(openai_settings, max_concurrency=2)
        try:
            await asyncio.wait_for(asyncio.gather(*(llm.complete(MESSAGES) for _ in range(6))), timeout=10)
        finally:
            await llm.aclose()

        assert fake_openai.call_count == 6
        assert fake_openai.max_in_flight == 2

    async def test_cancel_aborts_the_request_in_flight(
        self, fake_openai: FakeOpenAIServer, openai_llm: OpenAICompatibleLLM
    ) -> None:
        fake_openai.script(Reply.hanging())
        call = asyncio.ensure_future(openai_llm.complete(MESSAGES))
        await fake_openai.wait_until(lambda s: s.call_count == 1)

        call.cancel()
        done, _ = await asyncio.wait({call}, timeout=2)

        assert call in done
        assert call.cancelled()
        await fake_openai.wait_until(lambda s: s.aborted_count == 1, timeout_s=5)


_FIRST_CALL_IMPORTS = """
import asyncio, sys
from lpe_nb.llm import LlmSettings, OpenAICompatibleLLM

async def main() -> None:
    llm = OpenAICompatibleLLM(LlmSettings(provider="openai", model="m", base_url=sys.argv[1], api_key="sk"))
    before = set(sys.modules)
    await llm.complete([{"role": "user", "content": "hi"}])
    await llm.complete([{"role": "user", "content": "hi"}], json_schema={"type": "object"})
    # asyncio's thread pool (its first name lookup) aside: a worker's store has long loaded it
    print(sorted(m for m in set(sys.modules) - before if not m.startswith("concurrent.futures")))
    await llm.aclose()

asyncio.run(main())
"""


def test_a_new_client_has_loaded_what_its_first_calls_import(fake_openai: FakeOpenAIServer) -> None:
    """The SDK imports its chat resources and more on the first call (~40 ms of CPU in the event loop,
    in the middle of a worker's first jobs); the client loads them when it is made. In a fresh process:
    this one has loaded them long ago."""
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_CALL_IMPORTS, fake_openai.base_url],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "[]", done.stdout
