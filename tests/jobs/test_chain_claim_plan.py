"""Jobs waiting for parents cost the claim nothing (issue 12): the claim's statements walk the queue index,
which holds no waiting job, and do the same work with 10,000 of them (and 10,000 scheduled) as with none.

The statements are the claim's own, captured as SQLite runs them; the work is counted in SQLite virtual
machine instructions (a progress handler called on every one), which no machine load changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from lpe_nb.jobs.sqlite._counts import WriterConnection
from lpe_nb.jobs.sqlite._sql_leases import claim_pending
from lpe_nb.jobs.sqlite.schema import migrate
from tests.jobs.records import at

WAITING = 10_000


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None, factory=WriterConnection)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn)
    yield conn
    conn.close()


def add_ready_jobs(conn: sqlite3.Connection, count: int, *, start: int = 0) -> None:
    with conn:  # one transaction
        conn.executemany(
            "INSERT INTO jobs (id, type, status, title, created_at, updated_at) "
            "VALUES (?, 'noop', 'pending', 't', ?, ?)",
            [(f"ready-{start + i}", at(1000 + start + i), at(0)) for i in range(count)],
        )


def add_waiting_jobs(conn: sqlite3.Connection) -> None:
    """10,000 jobs blocked by a parent, and 10,000 scheduled for tomorrow, all older than the ready ones."""
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO jobs (id, type, status, title, created_at, updated_at) "
        "VALUES ('parent', 'noop', 'running', 't', ?, ?)",
        (at(0), at(0)),
    )
    conn.executemany(
        "INSERT INTO jobs (id, type, status, title, created_at, updated_at, depends_on, waiting_on) "
        "VALUES (?, 'noop', 'pending', 't', ?, ?, '[\"parent\"]', 1)",
        [(f"blocked-{i}", at(i / 100), at(0)) for i in range(WAITING)],
    )
    conn.executemany(
        "INSERT INTO job_dependencies (parent_id, job_id) VALUES ('parent', ?)",
        [(f"blocked-{i}",) for i in range(WAITING)],
    )
    conn.executemany(
        "INSERT INTO jobs (id, type, status, title, created_at, updated_at, scheduled_at) "
        "VALUES (?, 'noop', 'pending', 't', ?, ?, ?)",
        [(f"scheduled-{i}", at(i / 100), at(0), at(86_400 + i)) for i in range(WAITING)],
    )
    conn.execute("COMMIT")


def claim_counting(conn: sqlite3.Connection, limit: int = 8) -> tuple[list[str], int, list[str]]:
    """Claim ``limit`` jobs in one transaction: the ids claimed, the VM instructions it took, its SQL."""
    statements: list[str] = []
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_trace_callback(statements.append)
    conn.set_progress_handler(count, 1)
    try:
        conn.execute("BEGIN IMMEDIATE")
        claimed = claim_pending(conn, "me", at(5000), at(6000), limit)
        conn.execute("COMMIT")
    finally:
        conn.set_progress_handler(None, 1)
        conn.set_trace_callback(None)
    return [job.id for job, _ in claimed], steps, statements


def test_blocked_jobs_are_not_in_the_queue_index(conn: sqlite3.Connection) -> None:
    add_waiting_jobs(conn)
    ((in_queue,),) = conn.execute(
        "SELECT COUNT(*) FROM jobs INDEXED BY jobs_pending_queue "
        "WHERE status = 'pending' AND scheduled_at IS NULL AND waiting_on IS NULL"
    ).fetchall()
    assert in_queue == 0


def test_the_claim_walks_the_queue_index_past_no_blocked_job(conn: sqlite3.Connection) -> None:
    add_waiting_jobs(conn)
    add_ready_jobs(conn, 20)
    claimed, _, statements = claim_counting(conn)
    assert claimed == [f"ready-{i}" for i in range(8)]  # the blocked ones are older, and never claimed
    claim = next(sql for sql in statements if "SET status = 'running'" in sql)
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {claim}")]
    assert "SCAN jobs USING INDEX jobs_pending_queue" in plan
    assert not any("TEMP B-TREE" in line for line in plan)  # no sort: the index is in queue order


def test_the_claim_costs_the_same_with_twenty_thousand_waiting_jobs_as_with_none(tmp_path: Path) -> None:
    costs = []
    for crowded in (False, True):
        conn = sqlite3.connect(
            tmp_path / f"jobs-{crowded}.db", isolation_level=None, factory=WriterConnection
        )
        conn.row_factory = sqlite3.Row
        migrate(conn)
        if crowded:
            add_waiting_jobs(conn)
        add_ready_jobs(conn, 40)
        claim_counting(conn)  # warm: the first claim of a connection prepares its statements
        add_ready_jobs(conn, 8, start=100)
        _, steps, _ = claim_counting(conn)
        costs.append(steps)
        conn.close()
    empty, crowded_cost = costs
    assert crowded_cost <= empty * 1.1, f"{crowded_cost} VM steps with 20,000 waiting, {empty} with none"
