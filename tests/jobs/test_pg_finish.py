"""A job's finish on PostgreSQL: one autocommit statement when no job depends on it (issue 13), without
losing a dependent that links itself to the job while it finishes."""

from __future__ import annotations

import asyncio
import time

from lpe_nb.jobs import JobStatus, Progress
from lpe_nb.jobs._rows import job_row
from lpe_nb.jobs.postgres import PgJobStore
from lpe_nb.jobs.postgres._connection import Connection
from lpe_nb.jobs.postgres._rows import POSTGRES
from lpe_nb.jobs.postgres._sql_jobs import insert_job
from tests.jobs.records import at, make_job

LEASE = at(60)


async def _wait_until_blocked_on_a_lock(observer: Connection, deadline_s: float = 10.0) -> None:
    """Until some other session of this database waits for a row lock (the finish, behind the link)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        cur = await observer.execute(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        row = await cur.fetchone()
        if row is not None and row["n"]:
            return
        await asyncio.sleep(0.01)  # polling an observable condition, with a deadline
    raise AssertionError("the finish never waited for the dependent's link")


async def test_a_dependent_linked_while_its_parent_finishes_is_released_in_the_same_commit(
    postgres_url: str,
) -> None:
    async with PgJobStore(postgres_url) as store:
        parent = make_job(title="the parent")
        await store.insert_job(parent)
        [(running, _)] = await store.claim_pending("me", at(1), LEASE, 1)
        child = make_job(depends_on=(parent.id,), waiting_on=1, created_at=at(2))
        linker, observer = await store.connect(), await store.connect()
        try:
            async with linker.transaction():  # the submit of the child, held open before its commit
                await insert_job(linker, child, job_row(child, POSTGRES))
                finishing = asyncio.create_task(
                    store.finish(running, "me", JobStatus.COMPLETED, now=at(3), seq=5, progress=Progress())
                )
                await _wait_until_blocked_on_a_lock(observer)
            done = await asyncio.wait_for(finishing, 10.0)
        finally:
            await linker.close()
            await observer.close()
        assert done.dependents == 1
        released = await store.get_job(child.id)
        assert (released.status, released.waiting_on, released.progress.current_step) == (
            JobStatus.PENDING,
            None,
            "queued",
        )
        [(claimed, _)] = await store.claim_pending("me", at(4), LEASE, 1)
        assert claimed.id == child.id
        moves = [(t["from_status"], t["to_status"]) for t in await store.get_transitions(parent.id)]
        assert moves[-1] == ("running", "completed")
