"""A job type declared in a few lines, in a module of the user's own, reaches every front door with no other
edit: REST (its own route and the generic submit), the OpenAPI document, both clients' generated methods,
the CLI's ``run`` subcommand and the dashboard's New job form, all against a real Jupyter server."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lpe_nb.client import AsyncClient, Client
from lpe_nb.jobs import JobStatus
from tests.jupyter_process import JupyterProcess

pytestmark = pytest.mark.slow

MODULE = "lpe_test_word_count"
DECLARATION = """
from pydantic import BaseModel, Field

import lpe_nb


class WordCount(BaseModel):
    text: str = Field(min_length=1, description="the text whose words are counted")
    min_length: int = Field(default=1, ge=1, description="count only words at least this long")


@lpe_nb.job_type("word_count", input_model=WordCount, description="Count the words of a text.")
async def word_count(ctx, data: WordCount) -> dict:
    words = await ctx.run_step("split", lambda: _split(data))
    return {"words": len(words), "longest": max(words, key=len) if words else ""}


async def _split(data: WordCount) -> list[str]:
    return [word for word in data.text.split() if len(word) >= data.min_length]
"""
TEXT = "the quick brown fox jumps"


@pytest.fixture(scope="module")
def user_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("usercode")
    (folder / f"{MODULE}.py").write_text(textwrap.dedent(DECLARATION))
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, user_module: Path) -> Iterator[JupyterProcess]:
    env = {"PYTHONPATH": os.pathsep.join([str(user_module), os.environ.get("PYTHONPATH", "")])}
    args = [f"--LpeExtensionApp.job_modules={MODULE}"]
    with JupyterProcess(tmp_path_factory.mktemp("server"), env=env, args=args) as process:
        yield process


def test_rest_has_the_types_own_route_and_the_generic_submit(server: JupyterProcess) -> None:
    reply = server.request("POST", "lpe/api/jobs/submit/word_count", {"text": TEXT, "wait": 30})
    assert reply["status"] == "completed" and reply["result_data"] == {"words": 5, "longest": "quick"}
    reply = server.request(
        "POST", "lpe/api/jobs", {"type": "word_count", "input": {"text": TEXT, "min_length": 5}, "wait": 30}
    )
    assert reply["result_data"] == {"words": 3, "longest": "quick"}
    types = {info["name"]: info for info in server.request("GET", "lpe/api/job-types")["job_types"]}
    fields = {field["name"]: field for field in types["word_count"]["fields"]}
    assert fields["text"]["required"] and fields["min_length"] == {
        "name": "min_length", "type": "integer", "required": False, "default": 1, "choices": None,
        "description": "count only words at least this long", "catalog": None,
    }  # fmt: skip


def test_the_openapi_document_has_its_route_and_input_schema(server: JupyterProcess) -> None:
    document = server.request("GET", "lpe/api/openapi.json")
    body = document["paths"]["/lpe/api/jobs/submit/word_count"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert schema["required"] == ["text"] and {"text", "min_length", "wait"} <= set(schema["properties"])


def test_both_clients_have_a_generated_method(server: JupyterProcess) -> None:
    with Client.remote(server.url, server.token) as client:
        assert "word_count" in dir(client)
        job = client.word_count(TEXT, min_length=4).wait(timeout=30)
        assert job.result == {"words": 3, "longest": "quick"}
        assert client.submit("word_count", {"text": "one two"}).wait(timeout=30).result["words"] == 2
        with pytest.raises(AttributeError, match="word_count"):
            client.word_cuont  # noqa: B018 - a typo names the methods that exist

    async def use_async() -> None:
        async with AsyncClient.remote(server.url, server.token) as aclient:
            await aclient.job_types()
            job = await aclient.word_count(text=TEXT)
            assert (await job.wait(timeout=30)).result["words"] == 5

    import asyncio

    asyncio.run(use_async())


def test_the_cli_runs_it(server: JupyterProcess, user_module: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(user_module), "LPE_JOB_MODULES": MODULE}
    command = [sys.executable, "-m", "lpe_nb", "--url", server.url, "--token", server.token]
    run = subprocess.run(
        [*command, "run", "word_count", "--text", TEXT, "--min-length", "5", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert '"words": 3' in run.stdout
    shown = subprocess.run(
        [*command, "run", "word_count", "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "count only words at least this long" in shown.stdout


def test_the_dashboard_starts_it_from_its_new_job_form(server: JupyterProcess) -> None:
    from lpe_nb.widgets import JobsDashboard

    with Client.remote(server.url, server.token) as client:
        dashboard = JobsDashboard(client, interval_s=0.2)
        try:
            assert "word_count" in dashboard.type_filter.options
            form = dashboard.new_job("word_count")
            form.inputs["text"].value = "counted from a widget"
            progress = form.run()
            assert progress is not None and form.job is not None
            assert progress.wait_rendered(30)
            assert form.job.refresh().status is JobStatus.COMPLETED and form.job.result["words"] == 4
            dashboard.type_filter.value = "word_count"
            dashboard.refresh().result(30)
            assert form.job.id in dashboard.job_ids
        finally:
            dashboard.close()


def test_a_type_declared_after_the_engine_started_runs_there_at_once(tmp_path: Path) -> None:
    from lpe_nb.llm.mock import MockLLM
    from lpe_nb.operations import JOB_TYPES, job_type

    with Client.embedded(tmp_path / "late.db", llm=MockLLM()) as client:
        try:

            @job_type("late_echo", description="Echo the input.")  # as a notebook cell would, later
            async def late_echo(ctx: object, data: dict[str, object]) -> dict[str, object]:
                return {"echo": data}

            assert client.late_echo(word="hi").wait(timeout=30).result == {"echo": {"word": "hi"}}
            assert "late_echo" in [info.name for info in client.job_types()]
        finally:
            JOB_TYPES.remove("late_echo")
