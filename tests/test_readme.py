"""The README documents what a newcomer needs: every server option, every environment variable, and an
install that works without lpe-nb on PyPI."""

from __future__ import annotations

import re
from pathlib import Path

from lpe_nb.server_ext.app import LpeExtensionApp

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
# A variable's name as a whole string literal: what os.environ.get(...), a *_ENV constant or the LLM
# settings' table holds (a name inside a sentence is not a variable read).
_ENV_READ = re.compile(r"""["']((?:LPE|OPENAI)_[A-Z_]*[A-Z])["']""")


def test_every_server_option_is_in_the_readme() -> None:
    options = list(LpeExtensionApp.class_own_traits(config=True))
    assert options
    assert [name for name in options if f"`{name}`" not in README] == []


def test_every_environment_variable_the_package_reads_is_in_the_readme() -> None:
    package = Path(__file__).resolve().parents[1] / "lpe_nb"
    named = {name for path in package.rglob("*.py") for name in _ENV_READ.findall(path.read_text())}
    assert {"LPE_LLM_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY", "LPE_DB_PATH"} <= named
    assert sorted(name for name in named if f"`{name}`" not in README) == []


def test_the_install_does_not_ask_pypi_for_a_package_it_does_not_have() -> None:
    assert "pip install lpe-nb" not in README
    assert "pip install . jupyterlab" in README
