"""What only the SQLite backend has: its file, schema and pragmas, group commit and the lock file.

Everything the manager relies on is in the contract suite, ``test_store_contract.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from pathlib import Path

import pytest

from lpe_nb.errors import InvalidInput, StoreError
from lpe_nb.jobs import JobStatus, SqliteJobStore, open_store
from lpe_nb.jobs.sqlite import _cache_hits
from lpe_nb.jobs.sqlite.schema import SCHEMA_VERSION
from tests.jobs.records import at, make_job

SEED_COLUMNS = [
    "id", "type", "status", "title", "description", "input_data", "result_data", "error_message",
    "progress", "created_at", "started_at", "completed_at",
]  # fmt: skip


async def test_schema_has_the_seed_columns_wal_and_a_version(
    sqlite_store: SqliteJobStore, db_path: Path
) -> None:
    with sqlite3.connect(db_path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(jobs)")]
        assert columns[: len(SEED_COLUMNS)] == SEED_COLUMNS
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_reopening_migrates_nothing_and_keeps_data(db_path: Path) -> None:
    job = make_job()
    async with open_store(db_path) as store:
        await store.insert_job(job)
    async with open_store(db_path) as store:
        assert await store.get_job(job.id) == job
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_a_database_from_a_newer_version_is_refused(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this lpe-nb understands"):
        await open_store(db_path).open()


async def test_synchronous_mode_is_validated_and_applied(db_path: Path) -> None:
    with pytest.raises(InvalidInput, match="synchronous"):
        open_store(db_path, synchronous="OFF")  # type: ignore[arg-type]  # what a careless caller may pass
    async with open_store(db_path, synchronous="FULL") as store:
        assert isinstance(store, SqliteJobStore)
        assert await store._read(lambda c: c.execute("PRAGMA synchronous").fetchall()[0][0]) == 2


async def test_default_path_is_under_home_and_its_directory_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LPE_DB_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    async with open_store() as store:
        assert isinstance(store, SqliteJobStore)
        assert store.path == tmp_path / ".lpe" / "jobs.db"
        assert store.location == str(store.path)
    assert (tmp_path / ".lpe" / "jobs.db").exists()


async def test_concurrent_writes_are_group_committed(sqlite_store: SqliteJobStore) -> None:
    jobs = [make_job() for _ in range(200)]
    before = sqlite_store.commits
    await asyncio.gather(*(sqlite_store.insert_job(job) for job in jobs))
    assert sqlite_store.commits - before < 50  # many state changes per transaction
    assert (await sqlite_store.count_by_status())[JobStatus.PENDING] == 200


async def test_a_duplicate_id_raises_sqlites_integrity_error(sqlite_store: SqliteJobStore) -> None:
    job = make_job()
    await sqlite_store.insert_job(job)
    with pytest.raises(sqlite3.IntegrityError):
        await sqlite_store.insert_job(job)


def written_hits(db_path: Path) -> dict[str, tuple[int, str]]:
    """The cache's hits and used_at as committed, read by a connection of its own."""
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        return {
            key: (hits, used) for key, hits, used in conn.execute("SELECT key, hits, used_at FROM llm_cache")
        }


async def test_a_lookups_hits_are_summed_in_memory_and_written_before_the_stats(
    sqlite_store: SqliteJobStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache_hits, "FLUSH_AFTER_S", 3600.0)  # never due during the test
    await sqlite_store.cache_put("k", "v", now=at(1))
    for second in (3, 2, 4):
        assert await sqlite_store.cache_get("k", created_after="", now=at(second)) == "v"
    await sqlite_store.insert_job(make_job())
    assert written_hits(db_path) == {"k": (0, at(1))}  # a lookup writes nothing, nor the next write
    assert (await sqlite_store.cache_stats()).hits == 3
    assert written_hits(db_path) == {"k": (3, at(4))}  # the latest use, not the last lookup's


async def test_due_hits_ride_on_the_next_write_and_on_the_next_after_a_failed_one(
    sqlite_store: SqliteJobStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache_hits, "FLUSH_AFTER_S", 0.0)  # due at once
    job = make_job()
    await sqlite_store.insert_job(job)
    await sqlite_store.cache_put("k", "v", now=at(1))
    assert await sqlite_store.cache_get("k", created_after="", now=at(2)) == "v"
    assert written_hits(db_path) == {"k": (0, at(1))}
    with pytest.raises(sqlite3.IntegrityError):
        await sqlite_store.insert_job(job)  # rolled back, the hit with it
    assert written_hits(db_path) == {"k": (0, at(1))}
    before = sqlite_store.commits
    await sqlite_store.insert_job(make_job())
    assert sqlite_store.commits == before + 1  # in that write's transaction
    assert written_hits(db_path) == {"k": (1, at(2))}


async def test_pending_hits_are_written_once_they_reach_their_bound(
    sqlite_store: SqliteJobStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache_hits, "FLUSH_AFTER_S", 3600.0)
    monkeypatch.setattr(_cache_hits, "MAX_PENDING_KEYS", 3)
    for key in "abc":
        await sqlite_store.cache_put(key, "v", now=at(1))
    for key in "aabc":
        await sqlite_store.cache_get(key, created_after="", now=at(2))
    assert sum(hits for hits, _ in written_hits(db_path).values()) == 0  # three keys pending
    await sqlite_store.insert_job(make_job())  # the next write carries them
    assert written_hits(db_path) == {"a": (2, at(2)), "b": (1, at(2)), "c": (1, at(2))}


async def test_a_clear_drops_the_pending_hits_of_the_entries_it_deleted(
    sqlite_store: SqliteJobStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache_hits, "FLUSH_AFTER_S", 3600.0)
    await sqlite_store.cache_put("k", "v", now=at(1))
    await sqlite_store.cache_get("k", created_after="", now=at(2))
    assert await sqlite_store.cache_clear() == 1
    await sqlite_store.cache_put("k", "new", now=at(3))
    assert (await sqlite_store.cache_stats()).hits == 0  # the new entry's, not the deleted one's


async def test_the_dispatch_lock_is_a_file_beside_the_database_holding_the_pid(
    sqlite_store: SqliteJobStore, db_path: Path
) -> None:
    lock = sqlite_store.dispatch_lock()
    assert await lock.try_acquire()
    try:
        assert (db_path.parent / "jobs.db.dispatch.lock").read_text() == f"{os.getpid()}\n"
    finally:
        await lock.release()
