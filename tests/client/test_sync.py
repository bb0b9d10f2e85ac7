"""The sync Client: the same methods, blocking, on its own loop thread; usable inside a running loop."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from lpe_nb.client import Client, Job, connect
from lpe_nb.errors import InvalidTransition, JobFailed
from lpe_nb.jobs import JobStatus
from lpe_nb.llm.mock import MockLLM
from tests.client.contract import NARRATIVE, WAIT_S


def test_sync_client_offers_every_method_from_plain_code(tmp_path: Path) -> None:
    with Client.embedded(tmp_path / "sync.db", llm=MockLLM()) as client:
        job = client.projection(NARRATIVE, persona="critic")
        assert isinstance(job, Job)
        assert job.wait(timeout=WAIT_S) is job and job.status is JobStatus.COMPLETED
        assert job.result["final_projection"] and job.steps
        translation = client.translation(NARRATIVE, "french")
        assert translation.wait(timeout=WAIT_S).result
        session = client.maieutic(NARRATIVE, max_turns=2).wait(timeout=WAIT_S)
        client.maieutic_answer(session.id, ["Freedom.", "Her father."]).wait(timeout=WAIT_S)
        client.configure("style", "short sentences, present tense").wait(timeout=WAIT_S)
        assert client.job(job.id).id == job.id
        assert len(client.jobs()) == 5 and len(client.jobs(type="projection")) == 1
        assert "personas" in client.catalog()
        with pytest.raises(InvalidTransition):
            client.cancel(job.id)
        events = list(client.job(job.id).events())
        assert events[-1].status is JobStatus.COMPLETED
        assert repr(job).startswith("<Job projection") and repr(client).startswith("<Client ")
    client.close()  # idempotent


def test_sync_cancel_makes_wait_and_result_raise(tmp_path: Path) -> None:
    with Client.embedded(tmp_path / "sync.db", llm=MockLLM(2.0)) as client:
        job = client.projection(NARRATIVE)
        job.cancel()
        with pytest.raises(JobFailed):
            job.wait(timeout=WAIT_S)
        with pytest.raises(JobFailed):
            _ = job.result


def test_sync_priority_at_submit_and_while_pending(tmp_path: Path) -> None:
    with Client.embedded(tmp_path / "sync.db", llm=MockLLM(2.0)) as client:
        running = [client.projection(NARRATIVE) for _ in range(8)]  # every slot of concurrency 8, for seconds
        waiting = client.submit("projection", {"narrative": NARRATIVE}, priority=2)
        assert waiting.priority == 2
        assert waiting.set_priority(9) is waiting and waiting.priority == 9
        assert client.set_priority(waiting.id, 10).priority == 10
        for job in [waiting, *running]:
            job.cancel()
        with pytest.raises(InvalidTransition):
            waiting.set_priority(1)


async def test_sync_client_works_inside_a_running_loop_on_its_own_loop(tmp_path: Path) -> None:
    caller_loop = asyncio.get_running_loop()
    client = Client.embedded(tmp_path / "sync.db", llm=MockLLM())
    try:
        assert client._runner.loop is not caller_loop
        job = client.projection(NARRATIVE)  # a blocking call straight from the coroutine
        assert job.wait(timeout=WAIT_S).result
        again = await client.translation(NARRATIVE, "german")  # await also works, without blocking
        assert again.status is JobStatus.COMPLETED
    finally:
        client.close()


def test_connect_embedded_says_so_once_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("LPE_DB_PATH", str(tmp_path / "default.db"))
    monkeypatch.setenv("LPE_LLM_PROVIDER", "mock")
    caplog.set_level(logging.INFO, logger="lpe_nb.client")
    for _ in range(2):
        with connect(embedded=True) as client:
            assert client.location == str(tmp_path / "default.db")
    said = [r.getMessage() for r in caplog.records if "no lpe-nb server found" in r.getMessage()]
    assert said == [f"no lpe-nb server found; running jobs in this process on {tmp_path / 'default.db'}"]


def test_outside_a_kernel_a_job_displays_as_one_line(tmp_path: Path) -> None:
    with Client.embedded(tmp_path / "sync.db", llm=MockLLM()) as client:
        job = client.projection(NARRATIVE).wait(timeout=WAIT_S)
        assert job._repr_mimebundle_() == {"text/plain": repr(job)}
        assert repr(job) == f"<Job projection {job.id[:8]} completed 100%>"


def test_connect_twice_embedded_shares_one_engine_until_the_last_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LPE_DB_PATH", str(tmp_path / "shared.db"))
    monkeypatch.setenv("LPE_LLM_PROVIDER", "mock")
    first = connect(embedded=True)
    second = connect(embedded=True)  # a notebook cell run again: no DispatcherBusy
    first.close()
    first.close()  # idempotent: does not close the second handle's share
    assert second.projection(NARRATIVE).wait(timeout=WAIT_S).status is JobStatus.COMPLETED
    second.close()
    assert second.closed
    third = connect(embedded=True)  # a fresh engine after the last close
    assert third.jobs(limit=5)[0].status is JobStatus.COMPLETED
    third.close()
