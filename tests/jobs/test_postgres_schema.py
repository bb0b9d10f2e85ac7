"""The PostgreSQL schema's migrations: applied once under the advisory lock however many processes open the
database at once, recorded in ``lpe_schema``, and a database newer than the code refused."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from lpe_nb.errors import StoreError
from lpe_nb.jobs import open_store
from lpe_nb.jobs.postgres import PgJobStore
from lpe_nb.jobs.postgres.schema import SCHEMA_VERSION
from lpe_nb.jobs.schema_admin import check_schema, schema_status, upgrade_schema
from tests.jobs.records import make_job


def applied_versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM lpe_schema ORDER BY version")]


async def test_stores_opening_a_new_database_together_apply_each_migration_once(postgres_url: str) -> None:
    stores = [PgJobStore(postgres_url) for _ in range(4)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        await stores[0].insert_job(job := make_job())
        assert await stores[3].get_job(job.id) == job
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    assert applied_versions(postgres_url) == list(range(1, SCHEMA_VERSION + 1))


async def test_a_database_newer_than_the_code_is_refused_with_what_to_do(postgres_url: str) -> None:
    async with open_store(postgres_url):
        pass
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("INSERT INTO lpe_schema (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(
        StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this lpe-nb"
    ) as info:
        await open_store(postgres_url).open()
    assert "upgrade lpe-nb" in str(info.value)
    with pytest.raises(StoreError, match="newer"):
        await upgrade_schema(postgres_url)
    assert applied_versions(postgres_url)[-1] == SCHEMA_VERSION + 1  # untouched


async def test_check_reads_the_version_and_upgrade_applies_the_missing_ones(postgres_url: str) -> None:
    status = await schema_status(postgres_url)
    assert (status.version, status.needed, status.is_current) == (0, SCHEMA_VERSION, False)
    with pytest.raises(StoreError, match="run `python -m lpe_nb db upgrade`"):
        await check_schema(postgres_url)
    assert applied_versions_or_none(postgres_url) is None  # a check changes nothing
    before, after = await upgrade_schema(postgres_url)
    assert (before, after.version, after.is_current) == (0, SCHEMA_VERSION, True)
    assert (await check_schema(postgres_url)).is_current


def applied_versions_or_none(url: str) -> list[int] | None:
    with psycopg.connect(url) as conn:
        present = conn.execute("SELECT to_regclass('lpe_schema') IS NOT NULL").fetchone()
    return applied_versions(url) if present and present[0] else None


async def test_a_wrong_password_is_a_store_error_that_does_not_show_it(postgres_url: str) -> None:
    url = postgres_url.replace("postgres@", "nobody:hunter2@", 1)
    with pytest.raises(StoreError, match="cannot open the job database") as info:
        await open_store(url).open()
    assert "hunter2" not in str(info.value)
    assert "nobody:***@" in str(info.value)
