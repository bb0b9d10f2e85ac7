"""The PostgreSQL job store's writes of running jobs: claim, heartbeat, checkpoint, finish, requeue and
recovery.

Leases run on the database's clock: a lease ends at ``now() + length``, where ``length`` is what the
caller asked for (``lease_until - now`` on its own clock: a difference, which clock skew does not change),
and a lease has expired when it ends before the database's ``now()``. Every other timestamp (``started_at``,
``updated_at``, the audit trail) is the caller's ``now``, as on SQLite.

A claim takes its jobs with ``FOR UPDATE SKIP LOCKED``: many processes claim from one queue at once, none
waits for another, and none gets a job another took.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from lpe_nb.errors import LeaseLost
from lpe_nb.jobs._recovery import REQUEUE_REASON, recovery_of
from lpe_nb.jobs._store_common import Recovered
from lpe_nb.jobs.model import JobRecord, JobStatus, Progress, StepRecord
from lpe_nb.jobs.postgres._connection import Connection
from lpe_nb.jobs.postgres._rows import progress_json, row_to_job
from lpe_nb.jobs.postgres._sql_chains import end_dependents
from lpe_nb.jobs.postgres._sql_jobs import Transition, record_transitions
from lpe_nb.jobs.postgres._sql_reads import fetch_steps

__all__ = [
    "CLAIM_SQL",
    "DUE_SCHEDULED_SQL",
    "ORPHANS_SQL",
    "SEQ_GAP_AFTER_CRASH",
    "claim_pending",
    "finish",
    "finish_childless",
    "lease_seconds",
    "record_retry",
    "recover_orphans",
    "renew_leases",
    "requeue",
    "save_progress",
    "save_step",
]

SEQ_GAP_AFTER_CRASH = 1_000_000  # as SQLite's: past any seq an event lost in a crash could have used

# The due scheduled jobs join the queue (walking jobs_scheduled by time): the queue's partial index holds
# only jobs without a time. Due by the database's clock, as leases are: machines' clocks are not in step,
# and a delay_s was added to the database's now() (PgJobStore.insert_job).
DUE_SCHEDULED_SQL = (
    "UPDATE jobs SET scheduled_at = NULL WHERE id IN (SELECT id FROM jobs "
    "WHERE status = 'pending' AND scheduled_at IS NOT NULL AND scheduled_at <= now() "
    "FOR UPDATE SKIP LOCKED)"
)
# The claim walks jobs_pending_queue in order and stops after `limit` rows it could lock.
CLAIM_SQL = """
    UPDATE jobs AS j SET status = 'running', attempts = j.attempts + 1, lease_owner = %(owner)s,
           lease_expires_at = now() + make_interval(secs => %(lease_s)s),
           started_at = COALESCE(j.started_at, %(now)s::timestamptz), updated_at = %(now)s::timestamptz,
           seq = j.seq + 1
    FROM (SELECT id FROM jobs
          WHERE status = 'pending' AND scheduled_at IS NULL AND waiting_on IS NULL
                AND (%(any_type)s OR type = ANY(%(types)s::text[]))
          ORDER BY priority DESC, created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) AS picked
    WHERE j.id = picked.id
    RETURNING j.*
"""
# The lease sweep reads only the running jobs (by jobs_running_lease or jobs_status_created).
ORPHANS_SQL = (
    "SELECT * FROM jobs WHERE status = 'running' AND lease_owner IS DISTINCT FROM %(owner)s "
    "AND (NOT %(only_expired)s OR lease_expires_at IS NULL OR lease_expires_at < now()) "
    "ORDER BY created_at, id FOR UPDATE SKIP LOCKED"
)


def lease_seconds(now: str, lease_until: str) -> float:
    """How long a lease from ``now`` to ``lease_until`` lasts, in seconds (negative: already over)."""
    return (datetime.fromisoformat(lease_until) - datetime.fromisoformat(now)).total_seconds()


async def claim_pending(
    conn: Connection, owner: str, now: str, lease_s: float, limit: int, types: Collection[str] | None
) -> list[tuple[JobRecord, list[StepRecord]]]:
    """pending -> running for up to ``limit`` jobs, highest priority then oldest first, with their steps."""
    # The due scheduled jobs join the queue first (its partial index holds only jobs without a time).
    await conn.execute(DUE_SCHEDULED_SQL)
    cur = await conn.execute(
        CLAIM_SQL,
        {
            "owner": owner, "lease_s": lease_s, "now": now, "limit": limit,
            "any_type": types is None, "types": sorted(types or ()),
        },
    )  # fmt: skip
    jobs = sorted((row_to_job(r) for r in await cur.fetchall()), key=lambda j: (-j.priority, j.created_at))
    await record_transitions(
        conn, [(job.id, job.seq, now, JobStatus.PENDING, JobStatus.RUNNING, owner, None) for job in jobs]
    )
    # Only a job that started before this claim can have checkpoints to resume from.
    return [(job, await fetch_steps(conn, job.id) if job.started_at != now else []) for job in jobs]


async def renew_leases(conn: Connection, owner: str, lease_s: float) -> set[str]:
    """Extend every lease ``owner`` holds; returns the ids of its jobs whose cancel was requested."""
    cur = await conn.execute(
        "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => %s) "
        "WHERE status = 'running' AND lease_owner = %s RETURNING id, cancel_requested",
        (lease_s, owner),
    )
    return {r["id"] for r in await cur.fetchall() if r["cancel_requested"]}


_FINISH_SQL = (
    "WITH done AS (UPDATE jobs SET status = %(status)s, result_data = %(result)s::json, "
    "error_message = %(error)s, progress = %(progress)s::json, completed_at = %(now)s::timestamptz, "
    "updated_at = %(now)s::timestamptz, seq = GREATEST(seq, %(seq)s), lease_owner = NULL, "
    "lease_expires_at = NULL WHERE id = %(id)s AND status = 'running' AND lease_owner = %(owner)s "
    "{only_childless}RETURNING id, title, dependents), "
    "audit AS (INSERT INTO job_transitions (job_id, seq, at, from_status, to_status, actor, reason) "
    "SELECT id, %(seq)s, %(now)s::timestamptz, 'running', %(status)s, %(owner)s, %(error)s FROM done) "
    "SELECT title, dependents FROM done"
)
_FINISH_IN_TRANSACTION_SQL = _FINISH_SQL.format(only_childless="")
# Only a job no other depends on: it is then finished whole by this one statement (its own transaction).
_FINISH_CHILDLESS_SQL = _FINISH_SQL.format(only_childless="AND dependents = 0 ")


def _finish_params(
    job_id: str, owner: str, status: JobStatus, now: str, seq: int, progress: str,
    result_data: str | None, error_message: str | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "status": status.value, "result": result_data, "error": error_message, "progress": progress,
        "now": now, "seq": seq, "id": job_id, "owner": owner,
    }  # fmt: skip


async def finish_childless(
    conn: Connection,
    job_id: str,
    owner: str,
    status: JobStatus,
    *,
    now: str,
    seq: int,
    progress: str,
    result_data: str | None,
    error_message: str | None,
) -> bool:
    """:func:`finish` in autocommit, as one statement (one round trip, where BEGIN, the statement and
    COMMIT were three), if ``owner`` holds the lease and no job depends on ``job_id``; False (nothing
    changed) otherwise, for :func:`finish` in a transaction to do, or to report the lost lease.

    A dependent linking itself meanwhile holds the job's row ``FOR SHARE`` until its commit; this UPDATE
    waits for it and then sees ``dependents`` above 0, so no dependent misses its parent's outcome."""
    cur = await conn.execute(
        _FINISH_CHILDLESS_SQL,
        _finish_params(job_id, owner, status, now, seq, progress, result_data, error_message),
    )
    return await cur.fetchone() is not None


async def finish(
    conn: Connection,
    job_id: str,
    owner: str,
    status: JobStatus,
    *,
    now: str,
    seq: int,
    progress: str,
    result_data: str | None,
    error_message: str | None,
) -> int:
    """running -> ``status`` with its outcome (``progress`` and ``result_data`` already as JSON), and its
    dependents released or cancelled; returns how many jobs depend on it.

    The move, its audit row and the dependents' count are one statement, in the transaction that releases
    or cancels the dependents too (a job without any takes :func:`finish_childless` first)."""
    cur = await conn.execute(
        _FINISH_IN_TRANSACTION_SQL,
        _finish_params(job_id, owner, status, now, seq, progress, result_data, error_message),
    )
    parent = await cur.fetchone()
    if parent is None:
        raise LeaseLost.of(job_id, owner)
    return await end_dependents(conn, job_id, status, now=now, parent=parent)


async def requeue(conn: Connection, job_id: str, owner: str, *, now: str, seq: int, refund: int) -> None:
    """running -> pending, giving ``refund`` (0 or 1) attempts back."""
    cur = await conn.execute(
        "UPDATE jobs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, "
        "attempts = GREATEST(0, attempts - %s), updated_at = %s::timestamptz, seq = GREATEST(seq, %s) "
        "WHERE id = %s AND status = 'running' AND lease_owner = %s",
        (refund, now, seq, job_id, owner),
    )
    if cur.rowcount != 1:
        raise LeaseLost.of(job_id, owner)
    await record_transitions(
        conn, [(job_id, seq, now, JobStatus.RUNNING, JobStatus.PENDING, owner, REQUEUE_REASON)]
    )


async def record_retry(conn: Connection, job_id: str, owner: str, *, now: str, seq: int, reason: str) -> int:
    """Count a new attempt of a running job that stays running; returns the job's attempts now."""
    cur = await conn.execute(
        "UPDATE jobs SET attempts = attempts + 1, updated_at = %s::timestamptz, seq = GREATEST(seq, %s) "
        "WHERE id = %s AND status = 'running' AND lease_owner = %s RETURNING attempts",
        (now, seq, job_id, owner),
    )
    row = await cur.fetchone()
    if row is None:
        raise LeaseLost.of(job_id, owner)
    await record_transitions(conn, [(job_id, seq, now, JobStatus.RUNNING, JobStatus.RUNNING, owner, reason)])
    return int(row["attempts"])


async def save_progress(
    conn: Connection, updates: Sequence[tuple[str, str, Progress, int]], *, now: str
) -> None:
    """Persist the latest progress of running jobs, as ``(job_id, owner, progress, seq)``.

    Progress is throttled and advisory, so its commit does not wait for the WAL to reach the disk
    (``synchronous_commit = off``: a server crash may lose the last fraction of a second of it).
    """
    await conn.execute("SET LOCAL synchronous_commit = off")
    async with conn.cursor() as cur:
        await cur.executemany(
            "UPDATE jobs SET progress = %s::json, seq = GREATEST(seq, %s), updated_at = %s::timestamptz "
            "WHERE id = %s AND status = 'running' AND lease_owner = %s",
            [(progress_json(p), seq, now, job_id, owner) for job_id, owner, p, seq in updates],
        )


async def save_step(conn: Connection, params: dict[str, Any], owner: str) -> None:
    """Insert a finished step (``params`` from :func:`~._rows.step_params`) while ``owner`` still runs the
    job (its row stays share-locked until commit, so a finish cannot slip in between)."""
    cur = await conn.execute(
        "SELECT 1 FROM jobs WHERE id = %s AND status = 'running' AND lease_owner = %s FOR SHARE",
        (params["job_id"], owner),
    )
    if await cur.fetchone() is None:
        raise LeaseLost.of(params["job_id"], owner)
    cur = await conn.execute(
        "INSERT INTO job_steps (job_id, idx, name, input, output, usage, started_at, completed_at, "
        "duration_ms, attempt, model, cost_usd, prompt_tokens, completion_tokens, total_tokens, llm_calls, "
        "cache_hits) VALUES (%(job_id)s, %(idx)s, %(name)s, %(input)s::json, %(output)s::json, "
        "%(usage)s::json, %(started_at)s::timestamptz, %(completed_at)s::timestamptz, %(duration_ms)s, "
        "%(attempt)s, %(model)s, %(cost_usd)s, %(prompt_tokens)s, %(completion_tokens)s, %(total_tokens)s, "
        "%(llm_calls)s, %(cache_hits)s) ON CONFLICT (job_id, name) DO NOTHING",
        params,
    )
    if cur.rowcount == 1:  # a step saved twice is counted once
        await conn.execute(
            "UPDATE jobs SET cost_usd = CASE WHEN %(cost_usd)s::float8 IS NULL THEN cost_usd "
            "ELSE COALESCE(cost_usd, 0) + %(cost_usd)s END, prompt_tokens = prompt_tokens + %(prompt_tokens)s, "
            "completion_tokens = completion_tokens + %(completion_tokens)s, "
            "total_tokens = total_tokens + %(total_tokens)s, llm_calls = llm_calls + %(llm_calls)s, "
            "cache_hits = cache_hits + %(cache_hits)s WHERE id = %(job_id)s",
            params,
        )


async def recover_orphans(conn: Connection, owner: str, *, now: str, only_expired: bool) -> list[Recovered]:
    """Take back running jobs held by other owners (all of them, or those whose lease ended before the
    database's ``now()``), in one UPDATE so the status counters move in one statement."""
    cur = await conn.execute(ORPHANS_SQL, {"owner": owner, "only_expired": only_expired})
    orphans = [row_to_job(r) for r in await cur.fetchall()]
    if not orphans:
        return []
    cur = await conn.execute(
        "SELECT job_id, MAX(attempt) AS a FROM job_steps WHERE job_id = ANY(%s) GROUP BY job_id",
        ([job.id for job in orphans],),
    )
    last_progress = {r["job_id"]: r["a"] for r in await cur.fetchall()}
    decided = {job.id: recovery_of(job, last_progress.get(job.id)) for job in orphans}
    cur = await conn.execute(
        """
        UPDATE jobs AS j SET status = v.action, error_message = v.message, lease_owner = NULL,
               lease_expires_at = NULL, updated_at = %(now)s::timestamptz, seq = j.seq + %(gap)s,
               completed_at = CASE WHEN v.action = 'pending' THEN NULL ELSE %(now)s::timestamptz END
        FROM unnest(%(ids)s::text[], %(actions)s::text[], %(messages)s::text[]) AS v(id, action, message)
        WHERE j.id = v.id
        RETURNING j.*
        """,
        {
            "now": now, "gap": SEQ_GAP_AFTER_CRASH, "ids": list(decided),
            "actions": [action.value for action, _ in decided.values()],
            "messages": [None if action is JobStatus.PENDING else reason for action, reason in decided.values()],
        },
    )  # fmt: skip
    by_id = {job.id: job for job in (row_to_job(r) for r in await cur.fetchall())}
    recovered = [Recovered(by_id[job.id], decided[job.id][0]) for job in orphans if job.id in by_id]
    transitions: list[Transition] = [
        (r.job.id, r.job.seq, now, JobStatus.RUNNING, r.action, owner, decided[r.job.id][1])
        for r in recovered
    ]
    await record_transitions(conn, transitions)
    for item in recovered:
        if item.action is not JobStatus.PENDING:
            await end_dependents(conn, item.job.id, item.action, now=now)
    return recovered
