"""The shared rate limit: the server never sees more than the limit in any window, whoever calls."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from lpe_nb.llm import LlmSettings, Message, OpenAICompatibleLLM
from lpe_nb.llm.rate_limit import RateLimiter, limiter_for, rate_limit_states
from tests.llm.fake_openai_server import FakeOpenAIServer

MESSAGES: list[Message] = [{"role": "user", "content": "one two three four five six seven eight"}]
WINDOW_S = 0.6  # the limits' "minute", shortened so the test takes about two of them


def most_in_any_window(times: list[float], window_s: float) -> int:
    """The most of ``times`` that fall within any span shorter than ``window_s``."""
    times = sorted(times)
    return max(
        (sum(1 for t in times[i:] if t - start < window_s) for i, start in enumerate(times)), default=0
    )


@pytest.fixture
def settings(fake_openai: FakeOpenAIServer) -> LlmSettings:
    return LlmSettings(
        provider="openai", model="fake-model", base_url=fake_openai.base_url, api_key="sk-test",
        timeout_s=5.0, max_retries=0, rate_window_s=WINDOW_S,
    )  # fmt: skip


async def test_the_server_never_sees_more_than_the_requests_per_window(
    fake_openai: FakeOpenAIServer, settings: LlmSettings
) -> None:
    fake_openai.delay_s = 0.02
    limited = dataclasses.replace(settings, requests_per_minute=4)
    llms = [OpenAICompatibleLLM(limited) for _ in range(2)]  # two "jobs' engines": one limit
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await asyncio.gather(*(llms[i % 2].complete(MESSAGES) for i in range(12)))
    finally:
        for llm in llms:
            await llm.aclose()

    times = [r.at for r in fake_openai.requests]
    assert len(times) == 12
    assert most_in_any_window(times, WINDOW_S) <= 4
    assert loop.time() - started >= 2 * WINDOW_S  # 12 requests at 4 per window need three windows


async def test_the_tokens_per_window_stay_under_the_limit_when_replies_are_bounded(
    fake_openai: FakeOpenAIServer, settings: LlmSettings
) -> None:
    # each call counts 8 prompt tokens and at most max_tokens=12 reply tokens: 20 reserved, 13 used
    fake_openai.script(*["one two three four five"] * 8)
    llm = OpenAICompatibleLLM(dataclasses.replace(settings, tokens_per_minute=45, max_tokens=12))
    try:
        completions = await asyncio.gather(*(llm.complete(MESSAGES) for _ in range(8)))
    finally:
        await llm.aclose()

    assert {c.usage.total_tokens for c in completions} == {13}
    times = [r.at for r in fake_openai.requests]
    assert most_in_any_window(times, WINDOW_S) * 13 <= 45
    assert most_in_any_window(times, WINDOW_S) >= 2  # two reservations of 20 fit in 45 at once


async def test_a_pause_holds_the_next_request_and_is_never_shortened() -> None:
    limiter = RateLimiter("http://pause.test/v1", "m")
    limiter.pause(0.3, "HTTP 429 from http://pause.test/v1")
    limiter.pause(0.1, "a shorter one")
    loop = asyncio.get_running_loop()
    started = loop.time()

    ticket = await limiter.acquire()
    limiter.release(ticket, tokens=3)

    assert loop.time() - started >= 0.29
    state = limiter.state()
    assert (state["pauses"], state["requests_in_window"], state["tokens_in_window"]) == (1, 1, 3)
    assert state["paused_for_s"] == 0 and state["pause_reason"] is None


async def test_no_limit_and_no_pause_lets_every_request_through_at_once() -> None:
    limiter = RateLimiter("http://free.test/v1", "m")
    tickets = await asyncio.wait_for(asyncio.gather(*(limiter.acquire(10) for _ in range(100))), timeout=1)
    assert len(tickets) == 100 and limiter.state()["waiting"] == 0


async def test_a_cancelled_wait_leaves_no_waiter_behind() -> None:
    limiter = RateLimiter("http://cancel.test/v1", "m")
    limiter.pause(30, "HTTP 429")
    waiting = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)  # lets the waiter start waiting (it counts itself first thing)
    assert limiter.state()["waiting"] == 1
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert limiter.state()["waiting"] == 0


def test_one_limiter_per_endpoint_and_model_with_the_latest_limits() -> None:
    first = limiter_for("http://shared.test/v1/", "m", requests_per_minute=10)
    again = limiter_for("http://shared.test/v1", "m", requests_per_minute=20, tokens_per_minute=1000)
    other = limiter_for("http://shared.test/v1", "another-model")

    assert first is again and other is not first
    assert (first.requests_per_minute, first.tokens_per_minute) == (20, 1000)
    shown = [s for s in rate_limit_states() if s["endpoint"] == "http://shared.test/v1"]
    assert sorted(s["model"] for s in shown) == ["another-model", "m"]
