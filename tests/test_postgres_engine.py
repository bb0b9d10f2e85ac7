"""The whole engine on a real PostgreSQL: a built-in job runs to completion through ``open_engine`` and
through ``connect(db_url=...)``, the server extension's ``db_url`` reaches its engine, and the user catalog is
in the database too (no SQLite file is made). The LLM is the project's mock (no paid calls)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import lpe_nb
from lpe_nb.embedded import open_engine
from lpe_nb.errors import InvalidInput
from lpe_nb.jobs import JobStatus
from lpe_nb.jobs.postgres import PgJobStore
from lpe_nb.llm.mock import MockLLM
from lpe_nb.server_ext.app import LpeExtensionApp

NARRATIVE = "The lighthouse keeper logged every ship that passed, until the night the lamp went dark."


async def test_a_projection_runs_to_completion_on_postgres_from_its_first_step_to_its_result(
    postgres_url: str, tmp_path: Path
) -> None:
    async with open_engine(tmp_path / "catalog.db", db_url=postgres_url, llm=MockLLM(0.0)) as engine:
        assert isinstance(engine.manager.store, PgJobStore)
        job_id = await engine.submit("projection", {"narrative": NARRATIVE, "persona": "critic"})
        job = await engine.manager.wait(job_id, timeout_s=60)
        assert job.status is JobStatus.COMPLETED, job.error_message
        assert job.result_data["final_projection"]
        _, steps = await engine.manager.get_with_steps(job_id)
        assert len(steps) >= 2 and all(step.attempt == 1 for step in steps)
        counts = await engine.manager.store.count_by_status()
        assert counts[JobStatus.COMPLETED] == 1
    assert not (tmp_path / "catalog.db").exists()  # the user catalog is in PostgreSQL with the jobs


async def test_a_client_given_a_database_url_runs_jobs_there(postgres_url: str, tmp_path: Path) -> None:
    client = await lpe_nb.aconnect(db_url=postgres_url, db_path=tmp_path / "catalog.db", llm=MockLLM(0.0))
    async with client:
        job = await client.projection(NARRATIVE, persona="storyteller")
        await asyncio.wait_for(job.wait(), timeout=60)
        assert job.status is JobStatus.COMPLETED
    async with PgJobStore(postgres_url) as store:  # another process's view: the job is in the database
        assert (await store.get_job(job.id)).status is JobStatus.COMPLETED


def test_the_server_extensions_db_url_goes_to_its_engine_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LPE_DB_URL", "postgresql://from-env/jobs")
    assert LpeExtensionApp().engine_config().db_url == "postgresql://from-env/jobs"
    assert (
        LpeExtensionApp(db_url=" postgresql://trait/jobs ").engine_config().db_url
        == "postgresql://trait/jobs"
    )
    monkeypatch.delenv("LPE_DB_URL")
    assert LpeExtensionApp().engine_config().db_url is None


def test_the_pool_size_comes_from_the_environment_and_a_bad_one_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LPE_DB_POOL_SIZE", "3")
    assert PgJobStore("postgresql://db/lpe").pool_max_size == 3
    assert PgJobStore("postgresql://db/lpe", pool_max_size=5).pool_max_size == 5
    monkeypatch.setenv("LPE_DB_POOL_SIZE", "lots")
    with pytest.raises(InvalidInput) as info:
        PgJobStore("postgresql://db/lpe")
    assert list(info.value.fields) == ["LPE_DB_POOL_SIZE"]
