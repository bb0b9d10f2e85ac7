"""In a real ipykernel: updates rendered on background threads reach the front-end's iopub channel, at
most 10 a second per widget, with the terminal state last. (Elsewhere the tests use the dummy comm.)"""

from __future__ import annotations

import os
import textwrap
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.widgets.helpers import busiest_second

jupyter_client = pytest.importorskip("jupyter_client.manager")

REPO = Path(__file__).resolve().parents[2]
CELL = textwrap.dedent(
    """
    import asyncio
    from IPython.display import display
    from lpe_nb.client import Client
    from lpe_nb.llm.mock import MockLLM
    from lpe_nb.widgets import JobProgress

    async def burst(ctx, data):
        for i in range(data["events"]):
            ctx.report(f"tick {i}", completed_steps=i + 1, total_steps=data["events"])
            await asyncio.sleep(0.001)
        return {"events": data["events"]}

    client = Client.embedded(DB, llm=MockLLM())
    client.async_client.backend.engine.manager.registry.register("burst", burst)
    job_id = client.run_background(client.async_client.backend.submit("burst", {"events": 1500})).result(20)
    progress = JobProgress(client.job(job_id))
    display(progress)
    print("BAR", progress.bar.model_id, progress.wait_rendered(30), progress.bar.bar_style)
    """
)


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Any]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    manager, client = jupyter_client.start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.slow
def test_a_kernel_front_end_gets_at_most_ten_updates_a_second_per_widget(kernel: Any, tmp_path: Path) -> None:
    msg_id = kernel.execute(f"DB = {str(tmp_path / 'kernel.db')!r}\n" + CELL)
    sent: dict[str, list[datetime]] = defaultdict(list)
    last_state: dict[str, dict[str, Any]] = defaultdict(dict)
    printed = ""
    while True:
        msg = kernel.get_iopub_msg(timeout=30)
        content, kind = msg["content"], msg["msg_type"]
        if kind == "comm_msg" and content["data"].get("method") == "update":
            sent[content["comm_id"]].append(msg["header"]["date"])  # stamped by the kernel when sent
            last_state[content["comm_id"]].update(content["data"]["state"])
        elif kind == "stream":
            printed += content["text"]
        elif kind == "error":
            pytest.fail("\n".join(content["traceback"]))
        elif (
            kind == "status"
            and content["execution_state"] == "idle"
            and msg["parent_header"]["msg_id"] == msg_id
        ):
            break  # the cell finished: everything it sent came before
    (line,) = [line for line in printed.splitlines() if line.startswith("BAR ")]
    _, bar_id, rendered, style = line.split()
    assert (rendered, style) == ("True", "success")
    assert last_state[bar_id]["value"] == 100.0 and last_state[bar_id]["bar_style"] == "success"
    assert len(sent[bar_id]) >= 10  # live all along
    for times in sent.values():
        assert busiest_second(sorted(t.timestamp() for t in times)) <= 10


DISPLAY_CELLS = {
    # lpe_nb.connect() loads the widgets' renderer in a kernel; with the client alone, importing the
    # widgets does (the client never imports them).
    "connect": "import lpe_nb\nclient = lpe_nb.connect(embedded=True, db_path=DB)\n"
    "job = client.projection('A ferry crossed at dawn.')\njob",
    "sync": "import lpe_nb.widgets\nfrom lpe_nb.client import Client\nfrom lpe_nb.llm.mock import MockLLM\n"
    "client = Client.embedded(DB, llm=MockLLM())\njob = client.projection('A ferry crossed at dawn.')\njob",
    "async": "import lpe_nb.widgets\nfrom lpe_nb.client import AsyncClient\nfrom lpe_nb.llm.mock import MockLLM\n"
    "aclient = await AsyncClient.embedded(DB, llm=MockLLM())\n"
    "ajob = await aclient.projection('A ferry crossed at dawn.')\najob",
}


def _execute_result(kernel: Any, code: str) -> dict[str, Any]:
    msg_id = kernel.execute(code)
    found: dict[str, Any] = {}
    while True:
        msg = kernel.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        content, kind = msg["content"], msg["msg_type"]
        if kind == "execute_result":
            found = content["data"]
        elif kind == "error":
            pytest.fail("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return found


@pytest.mark.slow
@pytest.mark.parametrize("flavour", sorted(DISPLAY_CELLS))
def test_a_job_handle_displays_as_a_live_widget_in_a_kernel(
    kernel: Any, tmp_path: Path, flavour: str
) -> None:
    data = _execute_result(kernel, f"DB = {str(tmp_path / 'display.db')!r}\n" + DISPLAY_CELLS[flavour])
    assert "application/vnd.jupyter.widget-view+json" in data, data
    assert data["text/plain"].startswith("<Job projection ")
