"""What a no-op job costs the SQLite writer, counted rather than timed (issue 16): the statements the real
engine runs for it, as SQLite runs them (a trace callback on the store's writer connection), so that work
taken out of a job's path cannot come back unnoticed. ``bench/engine_throughput.py``'s workload, smaller.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from lpe_nb.jobs import JobManager, JobStatus, ManagerSettings, OperationRegistry, SqliteJobStore, StepContext
from lpe_nb.jobs.sqlite._connection import hop

JOBS = 40


async def _noop(ctx: StepContext, data: Any) -> None:
    return None


def _kind(sql: str) -> str:
    """A statement's first words: its verb and table (``UPDATE jobs``, ``INSERT INTO job_transitions``)."""
    words = re.sub(r"\s+", " ", sql).strip().split(" ")
    return " ".join(words[:3] if words[0] == "INSERT" else words[:2])


async def run_noop_jobs(db_path: Path, jobs: int = JOBS) -> tuple[list[str], JobManager]:
    """Submit and run ``jobs`` no-op jobs; every statement the writer ran meanwhile, in order."""
    registry = OperationRegistry()
    registry.register("noop", _noop)
    settings = ManagerSettings(concurrency=8, retention_days=None)
    statements: list[str] = []
    async with JobManager.open(db_path, registry=registry, settings=settings) as manager:
        store = manager.store
        assert isinstance(store, SqliteJobStore) and store._writer is not None
        writer = store._writer

        def trace(conn: sqlite3.Connection) -> None:
            conn.set_trace_callback(statements.append)

        await hop(writer, trace)
        events = manager.events.subscribe(None, statuses_only=True, max_pending=4 * jobs)
        ids = set(await asyncio.gather(*(manager.submit("noop") for _ in range(jobs))))
        while ids:
            event = await events.get(timeout_s=30)
            if event.is_terminal:
                assert event.status is JobStatus.COMPLETED
                ids.discard(event.job_id)
        await hop(writer, lambda conn: conn.set_trace_callback(None))
    return statements, manager


async def test_a_job_without_dependents_is_finished_without_reading_its_row_back(db_path: Path) -> None:
    statements, _ = await run_noop_jobs(db_path)
    # (the trace shows each statement with its values bound)
    finishes = [sql for sql in statements if sql.startswith("UPDATE jobs SET status = 'completed'")]
    assert len(finishes) == JOBS  # one UPDATE per finish: it checks the lease and the dependents at once
    assert Counter(_kind(sql) for sql in statements)["SELECT id,"] == 0  # the dependents not read back
