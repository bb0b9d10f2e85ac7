"""The PostgreSQL store's hot queries are served by their indexes, as SQLite's are (test_sqlite_query_plans).

Each statement is EXPLAINed with its real parameters on a database with jobs in every status, with
sequential scans disabled: a plan that still scans ``jobs`` means no index can serve the statement (the
planner falls back to a scan whatever it costs), so a schema or query change that loses an index fails
here rather than at 100,000 jobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from lpe_nb.jobs import JobStatus, Progress, open_store
from lpe_nb.jobs.postgres._sql_changes import CHANGES_WINDOW_SQL
from lpe_nb.jobs.postgres._sql_jobs import PURGE_TERMINAL_SQL
from lpe_nb.jobs.postgres._sql_leases import CLAIM_SQL, DUE_SCHEDULED_SQL, ORPHANS_SQL
from lpe_nb.jobs.postgres._sql_reads import COUNT_BY_STATUS_SQL, COUNT_BY_USER_SQL, list_jobs_query
from tests.jobs.records import at, make_job


@pytest.fixture
async def filled_url(postgres_url: str) -> str:
    """A database with 240 jobs: pending (some scheduled), running, and every terminal status."""
    async with open_store(postgres_url) as store:
        for i in range(240):
            await store.insert_job(
                make_job(
                    created_at=at(i), updated_at=at(i), username=f"user{i % 4}",
                    scheduled_at=at(10_000) if i % 10 == 0 else None,
                )
            )  # fmt: skip
        for job, _ in await store.claim_pending("w", at(300), at(400), 120):
            if job.priority == 0 and job.created_at < at(200):
                await store.finish(job, "w", JobStatus.COMPLETED, now=at(301), seq=9, progress=Progress())
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return postgres_url


@pytest.fixture
def explain(filled_url: str) -> Iterator[Any]:
    with psycopg.connect(filled_url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")

        def plan(query: Any, params: Any = None) -> str:
            sql = query if isinstance(query, (str, bytes)) else query.as_string(conn)
            text = sql.decode() if isinstance(sql, bytes) else sql
            rows = conn.execute(f"EXPLAIN {text}", params).fetchall()  # type: ignore[arg-type]
            return "\n".join(row[0] for row in rows)

        yield plan


def _uses(plan: str, index: str) -> None:
    assert index in plan, plan
    assert "Seq Scan on jobs " not in plan, plan


def test_the_claim_walks_the_queue_index(explain: Any) -> None:
    params = {
        "owner": "w", "lease_s": 30.0, "now": at(500), "limit": 8, "any_type": True, "types": [],
    }  # fmt: skip
    _uses(explain(CLAIM_SQL, params), "jobs_pending_queue")
    _uses(explain(CLAIM_SQL, {**params, "any_type": False, "types": ["noop"]}), "jobs_pending_queue")
    _uses(explain(DUE_SCHEDULED_SQL, {"now": at(500)}), "jobs_scheduled")


def test_the_lease_sweep_and_the_purge_read_their_partial_indexes(explain: Any) -> None:
    sweep = explain(ORPHANS_SQL, {"owner": "me", "only_expired": True})
    assert "Seq Scan on jobs " not in sweep, sweep  # the running jobs only, by either index that has them
    assert "jobs_running_lease" in sweep or "Index Cond: (status = 'running'" in sweep, sweep
    _uses(explain(PURGE_TERMINAL_SQL, {"before": at(1_000), "batch": 100}), "jobs_terminal_completed")


def test_listings_walk_an_index_per_status_and_per_user(explain: Any) -> None:
    everything = list_jobs_query(statuses=[], job_type=None, limit=50, before=None)
    _uses(explain(*everything), "jobs_created")
    several = list_jobs_query(
        statuses=[JobStatus.PENDING, JobStatus.COMPLETED], job_type=None, limit=50, before=(at(100), "z")
    )
    _uses(explain(*several), "jobs_status_created")
    mine = list_jobs_query(statuses=[], job_type=None, limit=50, before=None, username="user1")
    _uses(explain(*mine), "jobs_user_status_created")


def test_counts_read_the_counters_or_one_users_index_entries(explain: Any) -> None:
    totals = explain(COUNT_BY_STATUS_SQL)
    assert "job_counts" in totals and " on jobs " not in totals, totals
    _uses(explain(COUNT_BY_USER_SQL, ("user2",)), "jobs_user_status_created")


def test_the_change_feed_reads_the_rows_of_recent_transactions_by_index(explain: Any) -> None:
    _uses(explain(CHANGES_WINDOW_SQL, {"xmin": "1000", "since": "1000"}), "jobs_changed")
