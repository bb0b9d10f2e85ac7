"""After ``pip install``, ``jupyter server extension list`` shows the extension enabled and OK."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lpe_nb._version import __version__

CONFIG = Path("etc", "jupyter", "jupyter_server_config.d", "lpe_nb.json")


def _installed_config() -> Path | None:
    try:
        dist = importlib.metadata.distribution("lpe-nb")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(sys.prefix) / CONFIG
    listed = any(str(f).endswith(str(CONFIG)) for f in dist.files or ())
    return path if listed and path.exists() else None


@pytest.mark.slow
def test_extension_list_shows_lpe_nb_enabled_and_ok() -> None:
    if _installed_config() is None:
        pytest.skip("lpe-nb is not installed with its jupyter-config file (run `pip install -e .` first)")
    jupyter = shutil.which("jupyter")
    if jupyter is None:
        pytest.skip("no `jupyter` command on PATH")
    result = subprocess.run(
        [jupyter, "server", "extension", "list"], capture_output=True, text=True, timeout=60, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = [line for line in output.splitlines() if "lpe_nb.server_ext" in line]
    assert any("enabled" in line for line in lines), output
    assert any("OK" in line and "Validating" not in line for line in lines), output
    # and its version, which jupyter_server reads from the extension module's __version__
    assert any(f"lpe_nb.server_ext {__version__}" in line and "OK" in line for line in lines), output
