"""Fixtures: the real engine on a SQLite file in tmp_path, with the mock LLM or the real openai client
against the loopback fake server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lpe_nb.embedded import Engine, open_engine
from lpe_nb.jobs import JobEvent, JobManager, ManagerSettings, Progress, RetryPolicy
from lpe_nb.jobs.context import RunState
from lpe_nb.llm import LlmSettings, MockLLM, OpenAICompatibleLLM
from tests.llm.fake_openai_server import FakeOpenAIServer

FAST = ManagerSettings(concurrency=4, lease_s=5, poll_interval_s=0.2, progress_persist_interval_s=0.2,
                       shutdown_grace_s=0.5, stream_interval_s=0.0,
                       retry=RetryPolicy(backoff_s=0.01, jitter=0.0))  # fmt: skip
NARRATIVE = (
    "Rosa Parks refused to give up her seat on a Montgomery bus in 1955. Her arrest sparked a boycott "
    "led by Martin Luther King, and the city's segregation law was struck down a year later."
)
OTHER_NARRATIVE = (
    "Ada Lovelace wrote the first published program for Charles Babbage's Analytical Engine, imagining "
    "that machines could one day compose music and manipulate symbols."
)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
async def engine(db_path: Path) -> AsyncIterator[Engine]:
    async with open_engine(db_path, llm=MockLLM(), settings=FAST) as engine:
        yield engine


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def server_settings(server: FakeOpenAIServer, **overrides: Any) -> LlmSettings:
    values: dict[str, Any] = {
        "provider": "openai", "model": "fake-model", "base_url": server.base_url, "api_key": "sk-test",
        "timeout_s": 5.0, "max_retries": 2,
    }  # fmt: skip
    return LlmSettings(**{**values, **overrides})


@pytest.fixture
async def server_engine(db_path: Path, fake_openai: FakeOpenAIServer) -> AsyncIterator[Engine]:
    llm = OpenAICompatibleLLM(server_settings(fake_openai))
    try:
        async with open_engine(db_path, llm=llm, settings=FAST) as engine:
            yield engine
    finally:
        await llm.aclose()


async def run_and_watch(
    manager: JobManager, job_type: str, data: Any, timeout_s: float = 15
) -> tuple[Any, list[JobEvent]]:
    """Submit, collect every event until the job ends; returns (job, events)."""
    job_id = await manager.submit(job_type, data)
    events: list[JobEvent] = []
    with await manager.subscribe([job_id]) as sub:
        while True:
            event = await sub.get(timeout_s=timeout_s)
            events.append(event)
            if event.is_terminal:
                break
    return await manager.get(job_id), events


@contextlib.contextmanager
def every_report(manager: JobManager) -> Iterator[list[Progress]]:
    """Every progress report (``ctx.report``) of ``manager``'s jobs, in order, as it is made; streamed
    text, which repeats the report it rides on, is left out.

    A subscriber is not that: it gets the state on subscribing, then progress coalesced to the latest
    while it is not reading (by design, so a slow reader never holds a job up). A test that checks the
    order of *every* report reads them here, where nothing can be coalesced away.
    """
    reports: list[Progress] = []
    publish = manager.publish_progress

    def recording(run: RunState, progress: Progress, *, persist: bool) -> None:
        if persist:
            reports.append(progress)
        publish(run, progress, persist=persist)

    def built_now(run: RunState, numbers: Progress, build: Callable[[], Progress]) -> None:
        recording(run, build(), persist=True)  # a report nobody watches is otherwise built only when read

    manager.publish_progress = recording  # type: ignore[method-assign]
    manager.report_progress = built_now  # type: ignore[method-assign]
    try:
        yield reports
    finally:
        del manager.publish_progress  # the class's methods again
        del manager.report_progress


def progress_labels(events: list[JobEvent]) -> list[str]:
    labels: list[str] = []
    for event in events:
        if event.kind == "progress" and event.progress is not None and not event.snapshot:
            label = event.progress.current_step
            if not labels or labels[-1] != label:
                labels.append(label)
    return labels


def percentages(events: list[JobEvent]) -> list[float]:
    return [e.progress.percentage for e in events if e.kind == "progress" and e.progress is not None]


def assert_subsequence(seen: list[str], expected: list[str]) -> None:
    """Every label seen appears in ``expected``, in order (a slow reader may miss coalesced ones)."""
    position = 0
    for label in seen:
        assert label in expected[position:], f"{label!r} out of order or unexpected; seen {seen}"
        position = expected.index(label, position) + 1
