"""The fake server itself: what the other LLM tests and the benchmarks rely on."""

from __future__ import annotations

import asyncio
import json
import time

import openai
import pytest

from tests.llm.fake_openai_server import FakeOpenAIServer, Reply


async def test_keep_alive_reuses_one_connection(fake_openai: FakeOpenAIServer) -> None:
    client = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0)
    try:
        for _ in range(5):
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    finally:
        await client.close()

    assert fake_openai.call_count == 5
    assert fake_openai.connection_count == 1


async def test_default_reply_follows_the_requested_schema(fake_openai: FakeOpenAIServer) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    client = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0)
    try:
        response = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "How many?"}],
            response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
        )
    finally:
        await client.close()

    assert isinstance(json.loads(response.choices[0].message.content or "")["answer"], int)


async def test_fixed_delay_applies_to_every_reply(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.delay_s = 0.2
    client = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0)
    started = time.monotonic()
    try:
        await asyncio.gather(
            *(
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
                for _ in range(4)
            )
        )
    finally:
        await client.close()

    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 1.0  # concurrent, not serialised
    assert fake_openai.max_in_flight == 4


async def test_stopping_ends_hanging_replies() -> None:
    server = FakeOpenAIServer().start()
    server.script(Reply.hanging())
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, timeout=30)
    try:
        call = asyncio.ensure_future(
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        )
        await server.wait_until(lambda s: s.call_count == 1)
        started = time.monotonic()
        await asyncio.to_thread(server.stop)

        with pytest.raises(openai.APIConnectionError):
            await asyncio.wait_for(call, timeout=5)
        assert time.monotonic() - started < 5
        assert server.aborted_count == 0
    finally:
        await client.close()
