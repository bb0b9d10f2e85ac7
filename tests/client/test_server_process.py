"""The client against real ``jupyter server`` subprocesses with the extension and a real token: the sync
API end to end, a wrong token, and ``lpe_nb.connect()`` run by a kernel the server itself started."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.asynchronous import AsyncKernelClient
from nbclient import NotebookClient

from lpe_nb.client import Client, Job, TokenRefused
from lpe_nb.errors import JobFailed
from lpe_nb.jobs import JobStatus
from tests.client.contract import NARRATIVE, WAIT_S
from tests.jupyter_process import JupyterProcess

pytestmark = pytest.mark.slow

_KERNEL_READY_S = 60.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterProcess]:
    workdir = tmp_path_factory.mktemp("server")
    with JupyterProcess(workdir, base_url="/lab%40b/", env={"LPE_MOCK_LATENCY_S": "0.05"}) as process:
        yield process


def test_sync_client_every_method_against_a_server_process(server: JupyterProcess) -> None:
    with Client.remote(server.url, server.token) as client:
        job = client.projection(NARRATIVE, persona="critic", style="poetic")
        assert isinstance(job, Job)
        events = list(job.events())
        seqs = [event.seq for event in events]
        assert seqs == sorted(seqs) and events[-1].status is JobStatus.COMPLETED
        assert job.wait(timeout=WAIT_S).result["final_projection"]
        assert [step.name for step in client.job(job.id).steps][:2] == ["deconstruct", "map"]
        assert client.translation(NARRATIVE, "french").wait(timeout=WAIT_S).result
        compared = client.multi_translation(NARRATIVE, ["german", "czech"]).wait(timeout=WAIT_S)
        assert {trip["intermediate_language"] for trip in compared.result["round_trips"]} == {
            "german",
            "czech",
        }
        session = client.maieutic(NARRATIVE, max_turns=2).wait(timeout=WAIT_S)
        client.maieutic_answer(session.id, ["Dignity.", "The law."]).wait(timeout=WAIT_S)
        client.configure("persona", "a lighthouse keeper who counts ships").wait(timeout=WAIT_S)
        assert {j.type for j in client.jobs()} >= {"projection", "translation", "maieutic", "configuration"}
        assert [j.id for j in client.jobs(type="projection")] == [job.id]
        assert "personas" in client.catalog()

        slow = client.projection(NARRATIVE)
        slow.cancel()  # a running job stops in its current step
        with pytest.raises(JobFailed, match="cancelled"):
            slow.wait(timeout=WAIT_S)
        assert client.job(slow.id).status is JobStatus.CANCELLED
    # the server saw what the client did
    listed = server.request("GET", "lpe/api/jobs?limit=100")
    assert job.id in {item["id"] for item in listed["jobs"]}


def test_a_wrong_token_is_refused_by_the_server_process(server: JupyterProcess) -> None:
    with Client.remote(server.url, "not-" + server.token) as client, pytest.raises(TokenRefused):
        client.catalog()


async def _run_in_server_kernel(server: JupyterProcess, code: str) -> list[Any]:
    """Start a kernel through the server's sessions API and run ``code`` there as a notebook cell."""
    session = server.request(
        "POST", "api/sessions", {"path": "probe.ipynb", "type": "notebook", "kernel": {"name": "python3"}}
    )
    kernel_id = session["kernel"]["id"]
    kc = AsyncKernelClient(connection_file=str(server.runtime_dir / f"kernel-{kernel_id}.json"))
    kc.load_connection_file()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=_KERNEL_READY_S)
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        runner = NotebookClient(notebook, timeout=int(WAIT_S * 2))
        runner.kc = kc
        cell = await runner.async_execute_cell(notebook.cells[0], 0)
        outputs: list[Any] = cell.outputs
        return outputs
    finally:
        kc.stop_channels()
        server.request("DELETE", f"api/sessions/{session['id']}")


_PROBE = """
import json, os, lpe_nb
{prelude}
client = lpe_nb.connect()
job = client.projection("The ferryman kept every coin.")
job.wait(timeout=60)
print(json.dumps({{"location": client.location, "job": job.id, "status": job.status.value}}))
client.close()
"""


def _probe_result(outputs: list[Any]) -> dict[str, Any]:
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    found: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    return found


async def test_a_kernel_started_by_the_server_connects_to_that_server(server: JupyterProcess) -> None:
    found = _probe_result(await _run_in_server_kernel(server, _PROBE.format(prelude="")))
    assert f":{server.port}/lab%40b/" in found["location"]
    assert found["status"] == "completed"
    assert server.request("GET", f"lpe/api/jobs/{found['job']}")["status"] == "completed"


async def test_of_two_running_servers_a_kernel_finds_its_own_by_ancestry(tmp_path: Path) -> None:
    # Both servers write their runtime files to one directory, so list_running_servers() sees both;
    # the kernel drops the exported variables to exercise the parent-process rule alone.
    shared = tmp_path / "runtime"
    prelude = "os.environ.pop('LPE_SERVER_URL'); os.environ.pop('LPE_SERVER_TOKEN')"
    with (
        JupyterProcess(tmp_path / "a", runtime_dir=shared) as first,
        JupyterProcess(tmp_path / "b", runtime_dir=shared) as second,
    ):
        for server, other in ((second, first), (first, second)):
            found = _probe_result(await _run_in_server_kernel(server, _PROBE.format(prelude=prelude)))
            assert f":{server.port}/" in found["location"] and f":{other.port}/" not in found["location"]
            assert server.request("GET", f"lpe/api/jobs/{found['job']}")["status"] == "completed"
