"""Whose clock times a lease and a job's start time: the caller's on SQLite (one machine), the database's on
PostgreSQL (machines' clocks are not in step). Both take the lease's length as ``lease_until - now`` (see
store.py's docstring), and a submit's ``delay_s`` as a length too, while ``run_at`` is an instant."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from lpe_nb.jobs import JobManager, JobStatus, open_store
from lpe_nb.jobs.model import to_iso
from tests.jobs.conftest import FAST
from tests.jobs.ops import Probe, build_registry
from tests.jobs.records import EPOCH, at, make_job


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


async def test_sqlite_releases_a_scheduled_job_at_the_callers_instant(tmp_path: Path) -> None:
    async with open_store(tmp_path / "jobs.db") as store:
        later = make_job(created_at=at(0), scheduled_at=at(10), priority=5)
        stored = await store.insert_job(later, delay_s=10)  # one machine: the caller's scheduled_at
        assert stored.scheduled_at == at(10) == (await store.get_job(later.id)).scheduled_at
        assert await store.claim_pending("me", at(9), at(60), 5) == []
        [(claimed, _)] = await store.claim_pending("me", at(10), at(60), 5)
        assert (claimed.id, claimed.started_at) == (later.id, at(10))


async def test_postgres_adds_a_delay_to_its_own_clock_whatever_the_callers_says(postgres_url: str) -> None:
    async with open_store(postgres_url) as store:
        job = make_job(created_at=at(0), scheduled_at=at(3_600))  # the caller believes it is 2026-01-01
        before = await _database_now(postgres_url)
        stored = await store.insert_job(job, delay_s=3_600)
        after = await _database_now(postgres_url)
        assert stored == await store.get_job(job.id)
        assert stored.scheduled_at is not None
        due = datetime.fromisoformat(stored.scheduled_at)
        assert before + timedelta(seconds=3_600) <= due <= after + timedelta(seconds=3_600)
        # Released by the database's clock: not by a caller whose clock runs a day ahead...
        assert await store.claim_pending("me", to_iso(after + timedelta(days=1)), at(10**9), 5) == []
        # ...and an instant (run_at) already past on the database's clock is due, whatever the caller says.
        past = make_job(created_at=at(0), scheduled_at=at(10))
        await store.insert_job(past)
        [(claimed, _)] = await store.claim_pending("me", at(-86_400), at(10**9), 5)
        assert claimed.id == past.id


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_submits_delay_runs_from_the_clock_that_releases_the_job(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A manager on a machine whose clock is a day ahead submits with ``delay_s=60``."""
    url = str(tmp_path / "jobs.db") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    machine_now = datetime.now(EPOCH.tzinfo) + timedelta(days=1)
    async with open_store(url) as store:
        registry = build_registry(Probe())
        async with JobManager(
            store, registry, settings=FAST, dispatch=False, clock=lambda: machine_now
        ) as manager:
            before = await _database_now(url) if backend == "postgres" else machine_now
            job_id = await manager.submit("noop", delay_s=60)
            after = await _database_now(url) if backend == "postgres" else machine_now
            scheduled_at = (await manager.get(job_id)).scheduled_at
            run_at = machine_now + timedelta(hours=2)
            fixed_id = await manager.submit("noop", run_at=run_at)
    assert scheduled_at is not None
    due = datetime.fromisoformat(scheduled_at)
    assert before + timedelta(seconds=60) <= due <= after + timedelta(seconds=60)
    async with open_store(url) as store:
        assert (await store.get_job(fixed_id)).scheduled_at == to_iso(run_at)  # an instant: kept as given
