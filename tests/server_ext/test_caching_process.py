"""The LLM result cache in a real ``jupyter server`` subprocess whose jobs call the real loopback
OpenAI-compatible server (which counts the requests): REST, the OpenAPI document, the remote client and
the CLI (docs/caching.md)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
from collections.abc import Iterator
from typing import Any

import pytest

from lpe_nb.client import AsyncClient
from tests.jupyter_process import JupyterProcess
from tests.llm.fake_openai_server import FakeOpenAIServer
from tests.test_cli import _env, cli

pytestmark = pytest.mark.slow

TRANSLATION = {
    "text": "The ferry crossed the strait at dawn while the whole village waited for news.",
    "intermediate_language": "french",
}
STEPS = 4  # a translation asks four times: translate, back-translate, drift, elements


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def jupyter(
    tmp_path_factory: pytest.TempPathFactory, llm_server: FakeOpenAIServer
) -> Iterator[JupyterProcess]:
    env = {
        "LPE_LLM_PROVIDER": "openai", "LPE_LLM_BASE_URL": llm_server.base_url, "LPE_LLM_API_KEY": "sk-test",
        "LPE_LLM_MODEL": "fake-model", "LPE_LLM_TEMPERATURE": "0.7",
    }  # fmt: skip
    with JupyterProcess(tmp_path_factory.mktemp("caching") / "server", env=env) as process:
        yield process


@pytest.fixture
def server(jupyter: JupyterProcess) -> JupyterProcess:
    """The module's server with an empty cache."""
    jupyter.request("DELETE", "lpe/api/cache")
    return jupyter


def call(server: JupyterProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    try:
        return 200, server.request(method, path, body, timeout=60)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def translate(server: JupyterProcess, path: str = "lpe/api/jobs", **options: Any) -> dict[str, Any]:
    """Submit a translation and wait for it: the finished job with its steps."""
    body = {"type": "translation", "input": TRANSLATION} if path == "lpe/api/jobs" else dict(TRANSLATION)
    code, job = call(server, "POST", path, {**body, "wait": 50, **options})
    assert code == 200 and job["status"] == "completed", job
    return dict(job)


def usage_of(job: dict[str, Any], key: str) -> list[int]:
    return [step["usage"].get(key, 0) for step in job["steps"]]


def test_a_second_identical_job_over_rest_makes_no_llm_call(
    server: JupyterProcess, llm_server: FakeOpenAIServer
) -> None:
    before = llm_server.call_count
    first = translate(server)
    assert llm_server.call_count == before + STEPS
    assert usage_of(first, "llm_calls") == [1] * STEPS and usage_of(first, "cache_hits") == [0] * STEPS
    second = translate(server)
    assert llm_server.call_count == before + STEPS  # the loopback server saw nothing more
    assert usage_of(second, "cache_hits") == [1] * STEPS and usage_of(second, "llm_calls") == [0] * STEPS
    assert usage_of(second, "total_tokens") == [0] * STEPS
    assert second["result_data"]["usage"]["cache_hits"] == STEPS
    assert second["result_data"]["intermediate_text"] == first["result_data"]["intermediate_text"]
    assert second["cache"] is True
    stats = server.request("GET", "lpe/api/cache")
    assert (stats["entries"], stats["hits"], stats["enabled"]) == (STEPS, STEPS, True)
    assert stats["size_bytes"] > 0 and stats["max_entries"] == 10_000


def test_cache_false_in_the_body_or_the_query_makes_the_calls(
    server: JupyterProcess, llm_server: FakeOpenAIServer
) -> None:
    translate(server)
    before = llm_server.call_count
    job = translate(server, cache=False)
    assert job["cache"] is False and usage_of(job, "llm_calls") == [1] * STEPS
    job = translate(server, "lpe/api/translation/round-trip?cache=false")
    assert usage_of(job, "llm_calls") == [1] * STEPS
    assert "cache" not in job["input_data"]  # an option, not a field of the job
    assert llm_server.call_count == before + 2 * STEPS
    assert usage_of(translate(server, "lpe/api/translation/round-trip"), "cache_hits") == [1] * STEPS


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("lpe/api/jobs", {"type": "translation", "input": TRANSLATION, "cache": "no"}),
        ("lpe/api/translation/round-trip", {**TRANSLATION, "cache": 0}),
        ("lpe/api/translation/round-trip?cache=maybe", TRANSLATION),
    ],
)
def test_a_bad_cache_value_is_a_400_naming_the_field(server: JupyterProcess, path: str, body: Any) -> None:
    code, error = call(server, "POST", path, body)
    assert code == 400 and error["error"] == "invalid_input"
    assert "cache" in error["fields"], error


def test_clearing_the_cache_over_rest_makes_the_next_job_call_again(
    server: JupyterProcess, llm_server: FakeOpenAIServer
) -> None:
    translate(server)
    assert server.request("DELETE", "lpe/api/cache") == {"deleted": STEPS}
    assert server.request("GET", "lpe/api/cache")["entries"] == 0
    before = llm_server.call_count
    assert usage_of(translate(server), "llm_calls") == [1] * STEPS
    assert llm_server.call_count == before + STEPS


def test_the_openapi_document_describes_the_cache(server: JupyterProcess) -> None:
    document = server.request("GET", "lpe/api/openapi.json")
    assert {"get", "delete"} <= set(document["paths"]["/lpe/api/cache"])
    schemas = document["components"]["schemas"]
    assert schemas["SubmitRequest"]["properties"]["cache"]["anyOf"][0]["type"] == "boolean"
    assert "cache" in schemas["JobBody"]["properties"]
    assert {"entries", "size_bytes", "hits", "max_entries"} <= set(schemas["CacheStatsBody"]["properties"])


def test_the_remote_client_reads_clears_and_opts_out(
    server: JupyterProcess, llm_server: FakeOpenAIServer
) -> None:
    async def scenario() -> None:
        async with AsyncClient.remote(server.url, server.token) as client:
            job = await client.translation(**TRANSLATION)
            await job.wait(timeout=50)
            stats = await client.cache_stats()
            assert (stats.entries, stats.enabled) == (STEPS, True)
            before = llm_server.call_count
            job = await client.submit("translation", TRANSLATION, cache=False)
            await job.wait(timeout=50)
            assert job.data.cache is False and llm_server.call_count == before + STEPS
            assert await client.clear_cache() == STEPS
            assert (await client.cache_stats()).entries == 0

    asyncio.run(scenario())


def test_the_cli_shows_clears_and_opts_out_through_the_server(
    server: JupyterProcess, llm_server: FakeOpenAIServer
) -> None:
    env = _env(server.db_path, LPE_LLM_PROVIDER="openai")
    args = (
        "run",
        "translation",
        "--text",
        TRANSLATION["text"],
        "--intermediate-language",
        "french",
        "--json",
    )
    done = cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    before = llm_server.call_count
    done = cli(*args, "--no-cache", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cache"] is False and llm_server.call_count == before + STEPS
    stats = cli("cache", "stats", "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["entries"] == STEPS
    shown = cli("cache", "stats", env=env)
    assert f"{STEPS} entries" in shown.stdout
    cleared = cli("cache", "clear", env=env)
    assert cleared.returncode == 0 and f"emptied: {STEPS} entries" in cleared.stdout
    wrong = cli("cache", "drop", env=env)
    assert (
        wrong.returncode == 2 and "invalid choice: 'drop'" in wrong.stderr and "Traceback" not in wrong.stderr
    )
