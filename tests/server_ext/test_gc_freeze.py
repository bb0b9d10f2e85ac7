"""``gc_freeze``: a real ``jupyter server`` subprocess leaves what it holds once started out of the garbage
collector's full passes (``gc.freeze``), unless told not to; and only once in a process."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from lpe_nb import _heap
from tests.jupyter_process import JupyterProcess

pytestmark = pytest.mark.slow

FROZE = "objects out of the garbage collector's full passes"
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("freeze", [True, False])
def test_the_server_freezes_its_start_heap_unless_told_not_to(tmp_path: Path, freeze: bool) -> None:
    args = ["--log-level=DEBUG", f"--LpeExtensionApp.gc_freeze={freeze}"]
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with JupyterProcess(tmp_path / "server", args=args, env=env) as server:
        status = server.request("GET", "lpe/api/status")
        assert status["version"]  # started and serving
    log = server.log()  # stopped: its start hook ran long before
    froze = [line for line in log.splitlines() if FROZE in line]
    if freeze:
        assert len(froze) == 1, log[-3000:]
        assert int(froze[0].split("lpe_nb: ")[1].split()[0]) > 10_000  # Jupyter's whole start heap
    else:
        assert froze == [], froze


def test_the_heap_is_frozen_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(_heap, "_frozen", False)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append(1))  # not this test process's heap
    monkeypatch.setattr(gc, "get_freeze_count", lambda: 123)
    assert _heap.freeze_start_up_heap() == 123
    assert _heap.freeze_start_up_heap() == 0
    assert calls == [1]
