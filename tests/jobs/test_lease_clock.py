"""Whose clock times a lease: the caller's on SQLite (one machine), the database's on PostgreSQL (machines'
clocks are not in step). Both take the lease's length as ``lease_until - now`` (see store.py's docstring)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from lpe_nb.jobs import JobStatus, open_store
from tests.jobs.records import at, make_job


async def test_sqlite_stores_the_callers_instants(tmp_path: Path) -> None:
    async with open_store(tmp_path / "jobs.db") as store:
        job = make_job()
        await store.insert_job(job)
        [(claimed, _)] = await store.claim_pending("me", at(1), at(60), 1)
        assert claimed.lease_expires_at == at(60)
        await store.renew_leases("me", at(90), now=at(30))
        assert (await store.get_job(job.id)).lease_expires_at == at(90)
        assert await store.recover_orphans("other", now=at(89), only_expired=True) == []
        [recovered] = await store.recover_orphans("other", now=at(91), only_expired=True)
        assert recovered.action is JobStatus.PENDING


async def _database_now(url: str) -> datetime:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT now()")
        row = await cur.fetchone()
        assert row is not None
        moment: datetime = row[0]
        return moment


async def test_postgres_times_a_lease_from_its_own_clock_whatever_the_callers_says(postgres_url: str) -> None:
    async with open_store(postgres_url) as store:
        job = make_job()
        await store.insert_job(job)
        before = await _database_now(postgres_url)
        # The caller's clock says 2026-01-01: only the 59 s between its two instants count.
        [(claimed, _)] = await store.claim_pending("me", at(1), at(60), 1)
        after = await _database_now(postgres_url)
        assert claimed.lease_expires_at is not None
        expires = datetime.fromisoformat(claimed.lease_expires_at)
        assert before + timedelta(seconds=59) <= expires <= after + timedelta(seconds=59)

        # A caller whose clock runs a day ahead does not see a live lease as expired...
        assert await store.recover_orphans("other", now=at(86_400), only_expired=True) == []
        # ...and a renewal by a length that is already over ends it, whatever instant the caller passes.
        await store.renew_leases("me", at(0), now=at(1))
        [recovered] = await store.recover_orphans("other", now=at(-86_400), only_expired=True)
        assert (recovered.job.id, recovered.action) == (job.id, JobStatus.PENDING)


@pytest.mark.parametrize("length_s", [30, 600])
async def test_postgres_renews_by_the_length_from_now(postgres_url: str, length_s: int) -> None:
    async with open_store(postgres_url) as store:
        job = make_job()
        await store.insert_job(job)
        await store.claim_pending("me", at(1), at(2), 1)
        before = await _database_now(postgres_url)
        await store.renew_leases("me", at(100 + length_s), now=at(100))
        after = await _database_now(postgres_url)
        lease = (await store.get_job(job.id)).lease_expires_at
        assert lease is not None
        expires = datetime.fromisoformat(lease)
        assert before + timedelta(seconds=length_s) <= expires <= after + timedelta(seconds=length_s)
