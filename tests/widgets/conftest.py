"""Widgets under test: real ipywidgets objects (on ipywidgets' dummy comm, no kernel) over a real embedded
engine on a SQLite file in tmp_path, with the mock LLM; nothing of lpe-nb is mocked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lpe_nb.client import Client
from lpe_nb.llm.mock import MockLLM
from tests.widgets.helpers import SETTINGS, SLOW_S


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with Client.embedded(tmp_path / "widgets.db", llm=MockLLM(), settings=SETTINGS) as client:
        yield client


@pytest.fixture
def slow_client(tmp_path: Path) -> Iterator[Client]:
    with Client.embedded(tmp_path / "slow.db", llm=MockLLM(SLOW_S), settings=SETTINGS) as client:
        yield client
