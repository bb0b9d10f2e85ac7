"""A real ``jupyter server`` subprocess whose jobs call the real loopback OpenAI-compatible server: its
``/metrics`` shows the counters moving (jobs, steps, LLM requests with a retried fault, tokens, cost at
the configured prices), needs the token, and ``python -m lpe_nb metrics`` shows the same figures."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.jupyter_process import JupyterProcess
from tests.llm.fake_openai_server import FakeOpenAIServer, Reply
from tests.test_cli import NARRATIVE, _env, cli

pytestmark = pytest.mark.slow

MODEL = "fake-model"
PRICE_IN, PRICE_OUT = 3.0, 12.0  # USD per million tokens, configured below
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def llm_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def jupyter(tmp_path: Path, llm_server: FakeOpenAIServer) -> Iterator[JupyterProcess]:
    env = {
        "LPE_LLM_PROVIDER": "openai", "LPE_LLM_BASE_URL": llm_server.base_url, "LPE_LLM_API_KEY": "sk-test",
        "LPE_LLM_MODEL": MODEL, "LPE_LLM_RETRY_BACKOFF": "0.01",
        "LPE_LLM_PRICES": json.dumps([{"model": MODEL, "input": PRICE_IN, "output": PRICE_OUT}]),
    }  # fmt: skip
    with JupyterProcess(tmp_path / "server", env=env) as process:
        yield process


def _scrape(server: JupyterProcess, token: str | None) -> tuple[int, str]:
    headers = {} if token is None else {"Authorization": f"token {token}"}
    request = urllib.request.Request(server.url + "metrics", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def _samples(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_servers_metrics_follow_the_jobs_and_their_llm_calls(
    jupyter: JupyterProcess, llm_server: FakeOpenAIServer
) -> None:
    code, text = _scrape(jupyter, jupyter.token)
    assert code == 200
    before = _samples(text)
    llm_server.script(Reply.fault_of("server_error"))  # the first request fails and is retried
    done = cli(
        "run", "projection", "--narrative", NARRATIVE, env=_env(jupyter.db_path, LPE_LLM_PROVIDER="openai")
    )
    assert done.returncode == 0, done.stderr
    assert f"submitted to {jupyter.url}" in done.stderr  # the server ran it

    code, text = _scrape(jupyter, jupyter.token)
    after = _samples(text)
    projection = (("job_type", "projection"),)
    model = (("model", MODEL),)
    assert (
        after[("lpe_jobs_submitted_total", projection)]
        == before.get(("lpe_jobs_submitted_total", projection), 0) + 1
    )
    assert after[("lpe_jobs_finished_total", (*projection, ("status", "completed")))] == 1
    assert after[("lpe_job_duration_seconds_count", projection)] == 1
    requests = llm_server.requests
    assert after[("lpe_llm_requests_total", (*model, ("outcome", "ok")))] == len(requests) - 1
    assert after[("lpe_llm_requests_total", (*model, ("outcome", "server_error")))] == 1
    assert after[("lpe_llm_retries_total", model)] == 1
    assert after[("lpe_llm_request_duration_seconds_count", model)] == len(requests)
    job = jupyter.request("GET", f"lpe/api/jobs/{jupyter.request('GET', 'lpe/api/jobs')['jobs'][0]['id']}")
    tokens_in = sum(step["usage"]["prompt_tokens"] for step in job["steps"])
    tokens_out = sum(step["usage"]["completion_tokens"] for step in job["steps"])
    assert after[("lpe_llm_input_tokens_total", model)] == tokens_in > 0
    assert after[("lpe_llm_output_tokens_total", model)] == tokens_out > 0
    cost = (tokens_in * PRICE_IN + tokens_out * PRICE_OUT) / 1e6
    assert after[("lpe_llm_cost_usd_total", model)] == pytest.approx(cost)
    assert after[("lpe_job_cost_usd_total", projection)] == pytest.approx(cost)
    assert {name for name, _ in after if name.startswith("lpe_")} >= {"lpe_jobs_pending", "lpe_jobs_running"}

    shown = cli("metrics", "--json", env=_env(jupyter.db_path))
    assert shown.returncode == 0, shown.stderr
    figures = json.loads(shown.stdout)
    assert figures == jupyter.request("GET", "lpe/api/metrics")  # the server's figures, through the CLI
    assert figures["llm_models"][MODEL]["input_tokens"] == tokens_in
    table = cli("metrics", env=_env(jupyter.db_path))
    assert table.returncode == 0 and any(line.startswith("projection ") for line in table.stdout.splitlines())


def test_the_servers_metrics_need_its_token(jupyter: JupyterProcess) -> None:
    for token in (None, "not-the-token"):
        code, text = _scrape(jupyter, token)
        assert code == 403
        assert "lpe_" not in text
