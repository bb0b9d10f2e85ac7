"""The heartbeat rows of the processes that dispatch jobs (``lpe_workers``): coroutines of a connection.

A handful of rows (one per dispatching process), written at its start, at each lease heartbeat and at its
graceful exit; read whole for ``api/status``. Times are the callers' (each process stamps its own row).
"""

from __future__ import annotations

from lpe_nb.jobs._rows import worker_from_row, worker_params
from lpe_nb.jobs._store_common import WorkerRecord
from lpe_nb.jobs.postgres._connection import Connection
from lpe_nb.jobs.postgres._rows import POSTGRES

__all__ = ["delete_worker", "forget_workers", "list_workers", "save_worker", "touch_worker"]


async def save_worker(conn: Connection, worker: WorkerRecord) -> None:
    """Insert ``worker``'s row, or replace the row of the same owner."""
    await conn.execute(
        "INSERT INTO lpe_workers (owner, kind, host, pid, version, concurrency, types, started_at, last_seen) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s::json, %s::timestamptz, %s::timestamptz) "
        "ON CONFLICT (owner) DO UPDATE SET kind = excluded.kind, host = excluded.host, pid = excluded.pid, "
        "version = excluded.version, concurrency = excluded.concurrency, types = excluded.types, "
        "started_at = excluded.started_at, last_seen = excluded.last_seen",
        worker_params(worker),
    )


async def touch_worker(conn: Connection, owner: str, now: str) -> bool:
    """``last_seen = now`` on ``owner``'s row; False if it has none."""
    cur = await conn.execute(
        "UPDATE lpe_workers SET last_seen = %s::timestamptz WHERE owner = %s", (now, owner)
    )
    return cur.rowcount == 1


async def delete_worker(conn: Connection, owner: str) -> None:
    await conn.execute("DELETE FROM lpe_workers WHERE owner = %s", (owner,))


async def forget_workers(conn: Connection, seen_before: str) -> int:
    """Delete the rows last seen before ``seen_before``; returns how many."""
    cur = await conn.execute("DELETE FROM lpe_workers WHERE last_seen < %s::timestamptz", (seen_before,))
    return cur.rowcount


async def list_workers(conn: Connection) -> list[WorkerRecord]:
    cur = await conn.execute("SELECT * FROM lpe_workers ORDER BY started_at, owner")
    return [worker_from_row(r, POSTGRES) for r in await cur.fetchall()]
