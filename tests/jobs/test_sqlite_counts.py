"""The SQLite store's status counters, kept by its writer (one statement per changed status per transaction)
instead of triggers (issue 16): exact whatever a transaction holds, and taken over from the triggers by
the migration that dropped them. Every way a job moves is in the contract suite (both backends)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from lpe_nb.errors import InvalidInput, StoreError
from lpe_nb.jobs import JobStatus
from lpe_nb.jobs.sqlite import SqliteJobStore
from lpe_nb.jobs.sqlite._rows import job_to_row
from lpe_nb.jobs.sqlite._sql_jobs import insert_job
from lpe_nb.jobs.sqlite.schema import SCHEMA_VERSION, migrate
from lpe_nb.jobs.store import open_store
from tests.jobs.old_schema import database_before
from tests.jobs.records import at, make_job


def recount(path: Path) -> dict[JobStatus, int]:
    """The counts from the rows themselves, every status present."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
    conn.close()
    return {**dict.fromkeys(JobStatus, 0), **{JobStatus(status): n for status, n in rows}}


async def test_a_write_that_fails_in_a_shared_transaction_takes_its_count_back(
    sqlite_store: SqliteJobStore, db_path: Path
) -> None:
    # The bad job is inserted (and counted) before its missing parent is found: the writer undoes it alone.
    good = [make_job(created_at=at(i)) for i in range(10)]
    bad = make_job(depends_on=("no-such-job",))
    before = sqlite_store.commits
    outcomes = await asyncio.gather(
        *(sqlite_store.insert_job(job) for job in good[:5]),
        sqlite_store.insert_job(bad),
        *(sqlite_store.insert_job(job) for job in good[5:]),
        return_exceptions=True,
    )
    assert sqlite_store.commits - before <= 2  # the failing write shared a transaction with the others
    assert [isinstance(o, InvalidInput) for o in outcomes] == [False] * 5 + [True] + [False] * 5
    assert not any(isinstance(o, BaseException) for o in outcomes[:5] + outcomes[6:])
    claimed = await sqlite_store.claim_pending("me", at(100), at(200), 3)
    counts = await sqlite_store.count_by_status()
    assert counts == recount(db_path)
    assert counts[JobStatus.PENDING] == 7 and counts[JobStatus.RUNNING] == len(claimed) == 3


async def test_the_migration_takes_the_counts_over_from_the_triggers(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    old, _ = database_before(path, "DROP TRIGGER IF EXISTS jobs_count")
    old.executemany(
        "INSERT INTO jobs (id, type, status, title, created_at, updated_at) VALUES (?, 'noop', ?, 't', ?, ?)",
        [(f"old-{i}", "completed" if i % 3 else "pending", at(i), at(i)) for i in range(30)],
    )
    assert old.execute("SELECT n FROM job_counts WHERE status = 'completed'").fetchone() == (20,)  # triggers
    old.execute("UPDATE job_counts SET n = 99 WHERE status = 'failed'")  # whatever they left is recounted
    old.close()
    async with open_store(path) as store:
        assert await store.count_by_status() == recount(path)
        await store.insert_job(make_job(created_at=at(100)))
        await store.claim_pending("me", at(101), at(200), 4)
        counts = await store.count_by_status()
        assert counts == recount(path)
        assert counts[JobStatus.RUNNING] == 4 and counts[JobStatus.PENDING] == 7
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == []
    conn.close()


def test_jobs_written_on_a_connection_the_store_did_not_open_are_refused(tmp_path: Path) -> None:
    # Without the writer nobody would add the move to the counters: loud, not silently wrong.
    conn = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None)
    migrate(conn)
    job = make_job()
    with pytest.raises(StoreError, match="WriterConnection"):
        insert_job(conn, job, job_to_row(job))
    conn.close()
