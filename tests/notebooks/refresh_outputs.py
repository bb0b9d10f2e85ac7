"""Re-run the notebooks in notebooks/ on the offline mock and save them with clean outputs.

``python -m tests.notebooks.refresh_outputs`` (after the mock's replies or a notebook changed). Each
notebook runs in a real kernel, in a temporary home with its own database, and is saved with:

- the text its cells print (what a reader of the repository should see, and what the
  ``# NBVAL_CHECK_OUTPUT`` cells are compared with by nbval);
- no widget outputs and no widget state: without a running kernel a widget cannot show anything but
  "Loading widget..." or its Python repr (``JobsDashboard(children=...``), and the state of ~100 models
  per notebook is noise in a diff. Run the notebook to see the widgets;
- no timings of the run, and no output that names a temporary path or prints an object's repr
  (``<Client ...>``, ``<Job ...>``). The execution counts stay (1, 2, 3... from the one run): nbval
  refuses a cell that has outputs but no count.

:func:`leftovers` is what ``tests/notebooks`` checks the committed notebooks with.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_LEFTOVER = re.compile(r"/tmp/|pytest-of-|<Client |<AsyncClient |<Job |<AsyncJob |\(children=\(|object at 0x")
_CELL_TIMEOUT_S = 300


def _texts(output: Any) -> list[str]:
    if output.get("output_type") == "stream":
        return [str(output.get("text", ""))]
    data = output.get("data") or {}
    return [str(value) for value in data.values()]


def leftovers(notebook: Any) -> list[str]:
    """What a run left in ``notebook`` that a reader should not see (empty when it is clean)."""
    found = []
    if "widgets" in notebook.metadata:
        found.append("metadata: widget state")
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if "execution" in cell.metadata:
            found.append(f"cell {index}: the run's timings")
        for output in cell.get("outputs", []):
            if WIDGET_VIEW in (output.get("data") or {}):
                found.append(f"cell {index}: a widget view without its widget")
            found += [
                f"cell {index}: {hit.group(0)!r}"
                for text in _texts(output)
                for hit in _LEFTOVER.finditer(text)
            ]
            if output.get("output_type") == "error":
                found.append(f"cell {index}: an error")
    return found


def clean(notebook: Any) -> Any:
    """``notebook`` with only the outputs worth keeping (see the module docstring)."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)  # the counts stay: nbval refuses outputs of an unrun cell
        kept = []
        for output in cell.get("outputs", []):
            if WIDGET_VIEW in (output.get("data") or {}):
                continue
            if any(_LEFTOVER.search(text) for text in _texts(output)):
                continue
            kept.append(output)
        cell.outputs = kept
    return notebook


def refresh(path: Path) -> list[str]:
    """Run ``path`` on the mock in a temporary home, save it cleaned; returns what is still not clean."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="lpe-notebooks-") as home:
        workdir = Path(home) / "notebooks"
        shutil.copytree(NOTEBOOKS, workdir)
        saved = dict(os.environ)
        os.environ.update(
            {"HOME": home, "LPE_DB_PATH": str(Path(home) / "jobs.db"), "LPE_LLM_PROVIDER": "mock"}
        )
        for name in [name for name in os.environ if name.startswith(("LPE_SERVER_", "JUPYTERHUB_"))]:
            del os.environ[name]
        os.environ.pop("LPE_MOCK_LATENCY_S", None)
        try:
            NotebookClient(
                notebook,
                timeout=_CELL_TIMEOUT_S,
                kernel_name="python3",
                resources={"metadata": {"path": str(workdir)}},
            ).execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
    clean(notebook)
    nbformat.write(notebook, path)
    return leftovers(notebook)


def main(names: list[str]) -> int:
    paths = [NOTEBOOKS / name for name in names] if names else sorted(NOTEBOOKS.glob("*.ipynb"))
    status = 0
    for path in paths:
        problems = refresh(path)
        print(f"{path.name}: {'clean' if not problems else '; '.join(problems)}")
        status |= bool(problems)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
