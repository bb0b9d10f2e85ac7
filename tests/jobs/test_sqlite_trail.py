"""The SQLite audit trail clustered by when its job was created (issue 16): the rows of jobs that move
together share pages, each job's trail is still read and deleted by key, and a database written before the
change keeps its trail. Every transition being recorded is in the contract suite (both backends)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lpe_nb.jobs import JobStatus, SqliteJobStore, open_store
from lpe_nb.jobs.sqlite.schema import SCHEMA_VERSION, migrate
from tests.jobs.old_schema import database_before
from tests.jobs.records import at, make_job


def _plan(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> list[str]:
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def test_the_trail_is_keyed_by_the_jobs_creation_then_the_job(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None)
    migrate(conn)
    key = [
        row[1]
        for row in sorted(conn.execute("PRAGMA table_info(job_transitions)"), key=lambda r: r[5])
        if row[5]
    ]
    assert key == ["job_created_at", "job_id", "seq"]  # a WITHOUT ROWID table: stored in this order
    (fk,) = {(row[2], row[3], row[4]) for row in conn.execute("PRAGMA foreign_key_list(job_transitions)")} - {
        ("jobs", "job_id", "id")
    }
    assert fk == ("jobs", "job_created_at", "created_at")
    conn.close()


def test_a_jobs_trail_is_read_and_deleted_by_key(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn)
    read = _plan(
        conn,
        "SELECT at, from_status, to_status, actor, reason FROM job_transitions "
        "WHERE job_created_at = (SELECT created_at FROM jobs WHERE id = ?) AND job_id = ? ORDER BY seq",
        ("a", "a"),
    )
    assert "SEARCH job_transitions USING PRIMARY KEY (job_created_at=? AND job_id=?)" in read
    assert not any("TEMP B-TREE" in step or step.startswith("SCAN") for step in read)
    deleted = _plan(conn, "DELETE FROM jobs WHERE id = ?", ("a",))
    assert "SEARCH job_transitions USING PRIMARY KEY (job_created_at=? AND job_id=?)" in deleted
    conn.close()


async def test_the_claim_and_the_finish_of_jobs_created_together_write_their_trail_together(
    sqlite_store: SqliteJobStore, db_path: Path
) -> None:
    # 400 jobs created in turn (random ids), the 8 oldest claimed and finished: their 24 rows are next to
    # each other in the table (a page or two), where under the ids they were spread over up to 24 pages.
    jobs = [make_job(created_at=at(i)) for i in range(400)]
    for job in jobs:
        await sqlite_store.insert_job(job)
    claimed = [job for job, _ in await sqlite_store.claim_pending("me", at(500), at(900), 8)]
    assert [job.id for job in claimed] == [job.id for job in jobs[:8]]
    for job in claimed:
        await sqlite_store.finish(job, "me", JobStatus.COMPLETED, now=at(501), seq=3, progress=job.progress)
        assert [t["to_status"] for t in await sqlite_store.get_transitions(job.id)] == [
            "pending",
            "running",
            "completed",
        ]
    with sqlite3.connect(db_path) as conn:
        stored = [row[0] for row in conn.execute("SELECT job_id FROM job_transitions")]  # in key order
    conn.close()
    assert len(stored) == 400 + 2 * 8
    assert stored[:24] == [job.id for job in claimed for _ in range(3)]


async def test_a_trail_written_before_the_change_is_kept_and_followed(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    old, _ = database_before(path, "job_transitions_by_created")
    old.executemany(
        "INSERT INTO jobs (id, type, status, title, created_at, updated_at) VALUES (?, 'noop', 'completed', 't', ?, ?)",
        [(f"old-{i}", at(i), at(i)) for i in range(5)],
    )
    old.executemany(
        "INSERT INTO job_transitions (job_id, seq, at, from_status, to_status, actor, reason) "
        "VALUES (?, ?, ?, ?, ?, 'me', ?)",
        [
            (f"old-{i}", seq, at(i + seq), before, after, f"r{seq}")
            for i in range(5)
            for seq, before, after in (
                (1, None, "pending"),
                (2, "pending", "running"),
                (3, "running", "completed"),
            )
        ],
    )
    old.close()
    async with open_store(path) as store:
        assert isinstance(store, SqliteJobStore)
        trail = await store.get_transitions("old-3")
        assert [(t["from_status"], t["to_status"], t["reason"]) for t in trail] == [
            (None, "pending", "r1"),
            ("pending", "running", "r2"),
            ("running", "completed", "r3"),
        ]
        await store.delete_job("old-3")  # its trail goes with it
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT COUNT(*) FROM job_transitions").fetchone() == (12,)
        assert conn.execute("SELECT COUNT(*) FROM job_transitions WHERE job_id = 'old-3'").fetchone() == (0,)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()
