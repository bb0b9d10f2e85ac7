"""The SQLite store's hot queries walk the index meant for them, whatever the history (issue 15).

Each test asks SQLite how it runs a query (``EXPLAIN QUERY PLAN``) on the real schema, so a reordered
``IN`` list, a dropped index or a planner that prefers another one fails here rather than making a user's
dashboard or the retention purge read the whole history. The plans are of the exact SQL the store runs,
built by the same functions with the same parameters. And schema migration 2 (the counters and the status
index) is checked on a database written by schema version 1.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lpe_nb.jobs import JobStatus, open_store
from lpe_nb.jobs.sqlite._rows import USAGE_COLUMNS
from lpe_nb.jobs.sqlite._sql_analytics import analytics_sql, durations_sql
from lpe_nb.jobs.sqlite._sql_jobs import PURGE_TERMINAL_SQL
from lpe_nb.jobs.sqlite._sql_leases import ADD_STEP_USAGE_SQL, claim_sql
from lpe_nb.jobs.sqlite._sql_reads import COUNT_BY_STATUS_SQL, COUNT_BY_USER_SQL, list_jobs_query
from lpe_nb.jobs.sqlite._sql_schedules import DUE_SCHEDULES_SQL, NEXT_FIRE_SQL
from lpe_nb.jobs.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, _statements, migrate
from tests.jobs.old_schema import database_before
from tests.jobs.records import at, make_job

CURSOR = (at(5), "some-job-id")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A migrated database with a few jobs in every status (the plans of an empty table can differ)."""
    conn = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None)
    migrate(conn)
    statuses = [status.value for status in JobStatus]
    conn.executemany(
        "INSERT INTO jobs (id, type, status, title, created_at, updated_at, completed_at) "
        "VALUES (?, 'noop', ?, 't', ?, ?, ?)",
        [(f"job-{i}", statuses[i % 5], at(i), at(i), at(i + 1)) for i in range(50)],
    )
    yield conn
    conn.close()


def plan(conn: sqlite3.Connection, sql: str, params: list[Any] | tuple[Any, ...]) -> list[str]:
    """The ``detail`` lines of SQLite's plan for ``sql`` with ``params``."""
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def listing_plan(conn: sqlite3.Connection, statuses: list[JobStatus], **options: Any) -> list[str]:
    query = {"job_type": None, "limit": 51, "before": None, **options}
    sql, params = list_jobs_query(statuses=statuses, **query)
    return plan(conn, sql, params)


def test_status_counts_read_the_counters_not_the_jobs(conn: sqlite3.Connection) -> None:
    assert plan(conn, COUNT_BY_STATUS_SQL, ()) == ["SCAN job_counts"]


@pytest.mark.parametrize("cursor", [None, CURSOR], ids=["first page", "next page"])
@pytest.mark.parametrize("job_type", [None, "noop"], ids=["any type", "one type"])
def test_a_listing_by_one_status_walks_the_status_index_from_its_newest_job(
    conn: sqlite3.Connection, cursor: tuple[str, str] | None, job_type: str | None
) -> None:
    steps = listing_plan(conn, [JobStatus.RUNNING], before=cursor, job_type=job_type)
    search = "(status=? AND (created_at,id)<(?,?))" if cursor else "(status=?)"
    assert steps == [f"SEARCH jobs USING INDEX jobs_status_created {search}"]  # no sort: read in order


@pytest.mark.parametrize("cursor", [None, CURSOR], ids=["first page", "next page"])
def test_a_listing_by_several_statuses_merges_one_bounded_walk_per_status(
    conn: sqlite3.Connection, cursor: tuple[str, str] | None
) -> None:
    steps = listing_plan(conn, [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.COMPLETED], before=cursor)
    search = "(status=? AND (created_at,id)<(?,?))" if cursor else "(status=?)"
    walks = [step for step in steps if step.startswith("SEARCH")]
    assert walks == [f"SEARCH jobs USING INDEX jobs_status_created {search}"] * 3
    assert not [step for step in steps if step.startswith("SCAN jobs")], steps
    # What is sorted (to merge) is each walk's output, at most `limit` rows, never the jobs of a status.
    sorted_walks = [step for step in steps if step.startswith("SCAN (subquery-")]
    assert len(sorted_walks) == steps.count("USE TEMP B-TREE FOR ORDER BY") == 3, steps


def test_a_repeated_status_is_walked_once(conn: sqlite3.Connection) -> None:
    steps = listing_plan(conn, [JobStatus.RUNNING, JobStatus.RUNNING])
    assert steps == ["SEARCH jobs USING INDEX jobs_status_created (status=?)"]


@pytest.mark.parametrize(
    ("cursor", "expected"),
    [
        (None, "SCAN jobs USING INDEX jobs_created"),
        (CURSOR, "SEARCH jobs USING INDEX jobs_created ((created_at,id)<(?,?))"),
    ],
    ids=["first page", "next page"],
)
def test_an_unfiltered_listing_walks_the_creation_index_in_order(
    conn: sqlite3.Connection, cursor: tuple[str, str] | None, expected: str
) -> None:
    assert listing_plan(conn, [], before=cursor) == [expected]


@pytest.mark.parametrize("types", [None, ["noop"], ["noop", "other", "third"]], ids=["any", "one", "three"])
def test_the_claim_walks_the_queue_index_in_order_with_or_without_a_types_filter(
    conn: sqlite3.Connection, types: list[str] | None
) -> None:
    params = ["me", at(60), at(1), at(1), *(types or []), 8]
    update, listed, walk = plan(conn, claim_sql(None if types is None else len(types)), params)
    assert update.startswith("SEARCH jobs USING") and update.endswith("sqlite_autoindex_jobs_1 (id=?)")
    assert listed == "LIST SUBQUERY 1"
    assert walk == "SCAN jobs USING INDEX jobs_pending_queue"  # in queue order: no sort, the filter per entry


def test_a_checkpoint_finds_its_job_and_its_step_by_key(conn: sqlite3.Connection) -> None:
    """A step's save (five per projection job) adds its usage to the job by key, probing the step's key."""
    params = [None, None, *(0 for _ in USAGE_COLUMNS), "job-1", "me", "job-1", "a step"]
    assert plan(conn, ADD_STEP_USAGE_SQL, params) == [
        "SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",
        "SCALAR SUBQUERY 1",
        "SEARCH job_steps USING COVERING INDEX sqlite_autoindex_job_steps_1 (job_id=? AND name=?)",
    ]


def test_the_purge_walks_the_partial_index_of_finished_jobs_oldest_first(conn: sqlite3.Connection) -> None:
    delete, listed, walk = plan(conn, PURGE_TERMINAL_SQL, (at(30), 200))
    assert delete.startswith("SEARCH jobs USING") and delete.endswith("sqlite_autoindex_jobs_1 (id=?)")
    assert listed == "LIST SUBQUERY 1"
    assert walk == "SEARCH jobs USING INDEX jobs_terminal_completed (completed_at<?)"  # no sort


def test_the_purge_with_its_statuses_in_another_order_cannot_use_the_index(conn: sqlite3.Connection) -> None:
    """Why the order matters: SQLite matches a partial index's WHERE as written (the bug of issue 15)."""
    reordered = PURGE_TERMINAL_SQL.replace(
        "('completed', 'failed', 'cancelled')", "('cancelled', 'completed', 'failed')"
    )
    assert reordered != PURGE_TERMINAL_SQL
    with pytest.raises(sqlite3.OperationalError, match="no query solution"):
        plan(conn, reordered, (at(30), 200))


# -- migration 2: the counters and the status index on a database of schema version 1 -------------------


async def test_migrating_a_version_1_database_counts_its_jobs_and_keeps_counting(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    with sqlite3.connect(path, isolation_level=None) as old:
        for statement in _statements(MIGRATIONS[0]):
            old.execute(statement)
        old.execute("PRAGMA user_version = 1")
        old.executemany(
            "INSERT INTO jobs (id, type, status, title, created_at, updated_at, completed_at) "
            "VALUES (?, 'noop', ?, 't', ?, ?, ?)",
            [(f"old-{i}", "completed" if i % 3 else "failed", at(i), at(i), at(i)) for i in range(30)],
        )
    old.close()
    async with open_store(path) as store:
        counts = await store.count_by_status()
        assert counts == {**dict.fromkeys(JobStatus, 0), JobStatus.COMPLETED: 20, JobStatus.FAILED: 10}
        await store.insert_job(make_job(created_at=at(100)))
        await store.claim_pending("me", at(101), at(200), 1)
        assert await store.purge_terminal(at(50), batch=5) == 5  # old-0 .. old-4: 3 completed, 2 failed
        counts = await store.count_by_status()
        expected = {JobStatus.COMPLETED: 17, JobStatus.FAILED: 8, JobStatus.RUNNING: 1}
        assert counts == {**dict.fromkeys(JobStatus, 0), **expected}
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "jobs_status_created" in names
    conn.close()


def test_the_due_schedules_and_the_next_fire_time_are_read_from_the_partial_index(
    conn: sqlite3.Connection,
) -> None:
    """The dispatcher asks both after every fire: one probe of schedules_due, whatever the schedules."""
    assert plan(conn, DUE_SCHEDULES_SQL, (at(5), 100)) == [
        "SEARCH schedules USING INDEX schedules_due (next_fire_at>? AND next_fire_at<?)"
    ]
    assert plan(conn, NEXT_FIRE_SQL, ()) == ["SEARCH schedules USING INDEX schedules_due (next_fire_at>?)"]


@pytest.mark.parametrize("group_by", [(), ("day", "type"), ("model",), ("status",)])
@pytest.mark.parametrize("statement", [analytics_sql, durations_sql], ids=["sums", "durations"])
def test_analytics_reads_only_the_range_by_created_at_and_its_jobs_steps_by_key(
    conn: sqlite3.Connection, group_by: tuple[str, ...], statement: Callable[[tuple[str, ...]], str]
) -> None:
    steps = plan(conn, statement(group_by), {"since": at(10), "until": at(20), "username": "ada"})
    range_reads = [s for s in steps if s.startswith("SEARCH j USING") and "INDEX jobs_created" in s]
    assert range_reads and all(s.endswith("(created_at>? AND created_at<?)") for s in range_reads), steps
    if "model" in group_by:
        assert "SEARCH job_steps USING INDEX sqlite_autoindex_job_steps_1 (job_id=?)" in steps
    assert not [step for step in steps if step.startswith(("SCAN j", "SCAN job_steps"))], steps


def test_the_result_cache_is_read_by_key_and_purged_through_its_indexes(conn: sqlite3.Connection) -> None:
    from lpe_nb.jobs.sqlite._sql_cache import (
        CACHE_ADD_HITS_SQL,
        CACHE_GET_SQL,
        CACHE_PURGE_AGE_SQL,
        CACHE_PURGE_LRU_SQL,
    )

    conn.executemany(
        "INSERT INTO llm_cache (key, value, size_bytes, created_at, used_at) VALUES (?, 'v', 1, ?, ?)",
        [(f"key-{i}", at(i), at(i)) for i in range(50)],
    )
    by_key = ["SEARCH llm_cache USING INDEX sqlite_autoindex_llm_cache_1 (key=?)"]
    assert plan(conn, CACHE_GET_SQL, ("key-1", "")) == by_key
    assert plan(conn, CACHE_ADD_HITS_SQL, (2, at(1), "key-1")) == by_key
    assert plan(conn, CACHE_PURGE_AGE_SQL, (at(1),)) == [
        "SEARCH llm_cache USING INDEX llm_cache_created (created_at<?)"
    ]
    assert any("llm_cache_used" in line for line in plan(conn, CACHE_PURGE_LRU_SQL, (10, 1000)))


# -- one user's jobs (issue 13) ----------------------------------------------------------------------------


@pytest.mark.parametrize("cursor", [None, CURSOR], ids=["first page", "next page"])
@pytest.mark.parametrize("job_type", [None, "noop"], ids=["any type", "one type"])
def test_a_users_listing_by_one_status_walks_the_user_index_from_their_newest_job(
    conn: sqlite3.Connection, cursor: tuple[str, str] | None, job_type: str | None
) -> None:
    steps = listing_plan(conn, [JobStatus.RUNNING], before=cursor, job_type=job_type, username="alice")
    keys = "username=? AND status=?" + (" AND (created_at,id)<(?,?)" if cursor else "")
    assert steps == [f"SEARCH jobs USING INDEX jobs_user_status_created ({keys})"]  # no sort


@pytest.mark.parametrize("cursor", [None, CURSOR], ids=["first page", "next page"])
def test_a_users_whole_listing_merges_one_bounded_walk_per_status(
    conn: sqlite3.Connection, cursor: tuple[str, str] | None
) -> None:
    steps = listing_plan(conn, [], before=cursor, username="alice")
    keys = "username=? AND status=?" + (" AND (created_at,id)<(?,?)" if cursor else "")
    walks = [step for step in steps if step.startswith("SEARCH")]
    assert walks == [f"SEARCH jobs USING INDEX jobs_user_status_created ({keys})"] * len(JobStatus)
    assert not [step for step in steps if step.startswith("SCAN jobs")], steps


def test_a_users_counts_read_only_their_index_entries(conn: sqlite3.Connection) -> None:
    assert plan(conn, COUNT_BY_USER_SQL, ("alice",)) == [
        "SEARCH jobs USING COVERING INDEX jobs_user_status_created (username=?)"
    ]  # no table row, no sort: the entries come grouped by status


def test_the_analytics_migration_fills_the_token_columns_from_the_usage_already_stored(
    tmp_path: Path,
) -> None:
    # the version just before the analytics migration (later ones, if any, run on top as well)
    old, _ = database_before(tmp_path / "old.db", "job_steps ADD COLUMN llm_calls")
    old.execute(
        "INSERT INTO jobs (id, type, status, title, created_at, updated_at) VALUES ('j', 'noop', 'completed', "
        "'t', ?, ?)",
        (at(0), at(0)),
    )
    usages = [{"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "llm_calls": 1},
              {"cache_hits": 1}, None]  # fmt: skip
    for index, usage in enumerate(usages):
        old.execute(
            "INSERT INTO job_steps (job_id, idx, name, usage, started_at, completed_at, duration_ms, attempt) "
            "VALUES ('j', ?, ?, ?, ?, ?, 1, 1)",
            (index, f"s{index}", None if usage is None else json.dumps(usage), at(0), at(0)),
        )
    migrate(old)
    columns = "prompt_tokens, completion_tokens, total_tokens, llm_calls, cache_hits"
    steps = old.execute(f"SELECT {columns} FROM job_steps ORDER BY idx").fetchall()
    assert steps == [(3, 2, 5, 1, 0), (0, 0, 0, 0, 1), (0, 0, 0, 0, 0)]
    assert old.execute(f"SELECT {columns} FROM jobs").fetchall() == [(3, 2, 5, 1, 1)]
    old.close()
