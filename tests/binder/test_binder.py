"""The Binder files work: binder/requirements.txt installs, and binder/postBuild installs the package and
finds its server extension enabled, in a throwaway virtual environment (as repo2docker would run them)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
_INSTALL_TIMEOUT_S = 600


def _run(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT_S, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{output}"
    return output


@pytest.mark.slow
def test_binder_requirements_and_postbuild_install_a_working_extension(tmp_path: Path) -> None:
    # System site packages make the heavy dependencies (JupyterLab...) already present, so the test
    # spends its time on what Binder adds: the package built from this checkout into the venv's prefix.
    env_dir = tmp_path / "binder-venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(env_dir)}
    env.pop("PYTHONPATH", None)
    python = str(bin_dir / "python")

    _run([python, "-m", "pip", "install", "-r", str(BINDER / "requirements.txt")], env)
    output = _run(["bash", str(BINDER / "postBuild")], env)

    assert "lpe_nb.server_ext" in output
    config = env_dir / "etc" / "jupyter" / "jupyter_server_config.d" / "lpe_nb.json"
    assert config.exists(), "the package's jupyter-config file was not installed into the venv"
    # from elsewhere than the checkout, so the import cannot come from the working tree
    installed = _run([python, "-c", "import lpe_nb; print(lpe_nb.__file__)"], env, cwd=tmp_path)
    assert str(env_dir) in installed, "lpe_nb imported from outside the Binder environment"


def test_postbuild_fails_fast_and_start_keeps_the_mock_demo_visible() -> None:
    post_build = (BINDER / "postBuild").read_text()
    assert post_build.startswith("#!/bin/bash") and "set -e" in post_build
    for script in ("postBuild", "start"):
        assert os.access(BINDER / script, os.X_OK), f"binder/{script} must be executable"
    env = {**os.environ, "LPE_MOCK_LATENCY_S": ""}
    env.pop("LPE_MOCK_LATENCY_S")
    shown = subprocess.run(
        [str(BINDER / "start"), sys.executable, "-c", "import os; print(os.environ['LPE_MOCK_LATENCY_S'])"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert float(shown.stdout) > 0
