"""Cost through a real ``jupyter server`` subprocess whose LLM is the loopback OpenAI-compatible server
(the real ``openai`` client on the wire): the prices come from ``LPE_LLM_PRICES``, a job's cost in REST is
its tokens times them, each step says its model and cost, and the report adds them up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.jupyter_process import JupyterProcess
from tests.llm.fake_openai_server import FakeOpenAIServer
from tests.server_ext.conftest import NARRATIVE

pytestmark = pytest.mark.slow

INPUT_USD, OUTPUT_USD = 2.0, 5.0  # per million tokens, configured for the model


def test_a_jobs_cost_in_rest_is_its_tokens_times_the_configured_prices(tmp_path: Path) -> None:
    with FakeOpenAIServer() as llm:
        env = {
            "LPE_LLM_PROVIDER": "openai",
            "LPE_LLM_BASE_URL": llm.base_url,
            "LPE_LLM_API_KEY": "sk-test",
            "LPE_LLM_MODEL": "gpt-4o-mini",
            "LPE_LLM_PRICES": json.dumps(
                [{"model": "gpt-4o-mini", "input": INPUT_USD, "output": OUTPUT_USD}]
            ),
        }
        with JupyterProcess(tmp_path / "server", env=env) as server:
            job = server.request(
                "POST", "lpe/api/projection/create?wait=30", {"narrative": NARRATIVE}, timeout=40
            )
            report = server.request("GET", "lpe/api/analytics?group_by=model")
        assert job["status"] == "completed", job
        assert llm.call_count == len(job["steps"]) == 5  # each step's call reached the loopback server
    usage = [step["usage"] for step in job["steps"]]
    prompt, completion = sum(u["prompt_tokens"] for u in usage), sum(u["completion_tokens"] for u in usage)
    assert prompt > 0 and completion > 0
    assert job["cost_usd"] == pytest.approx((prompt * INPUT_USD + completion * OUTPUT_USD) / 1e6, rel=1e-9)
    for step in job["steps"]:
        assert step["model"] == "gpt-4o-mini"
        expected = (
            step["usage"]["prompt_tokens"] * INPUT_USD + step["usage"]["completion_tokens"] * OUTPUT_USD
        )
        assert step["cost_usd"] == pytest.approx(expected / 1e6, rel=1e-9)
    [group] = report["groups"]
    assert group["key"] == {"model": "gpt-4o-mini"} and group["jobs"] == 1
    assert group["cost_usd"] == pytest.approx(job["cost_usd"]) and group["llm_calls"] == 5
