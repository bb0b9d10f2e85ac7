"""Fixtures of the proving ground: a database file and the fault-injecting fake OpenAI server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.llm.fake_openai_server import FakeOpenAIServer


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    """The fake server; a ``slow`` fault answers after 1 s, past the chaos LLM's 0.4 s timeout."""
    with FakeOpenAIServer(slow_s=1.0) as server:
        yield server
