"""The heartbeat rows of the processes that dispatch jobs (``lpe_workers``): plain functions of a connection.

A handful of rows (one per dispatching process), written at its start, at each lease heartbeat and at its
graceful exit; read whole for ``api/status``.
"""

from __future__ import annotations

import sqlite3

from lpe_nb.jobs._rows import worker_from_row, worker_params
from lpe_nb.jobs._store_common import WorkerRecord
from lpe_nb.jobs.sqlite._rows import SQLITE

__all__ = ["delete_worker", "forget_workers", "list_workers", "save_worker", "touch_worker"]


def save_worker(conn: sqlite3.Connection, worker: WorkerRecord) -> None:
    """Insert ``worker``'s row, or replace the row of the same owner."""
    conn.execute(
        "INSERT INTO lpe_workers (owner, kind, host, pid, version, concurrency, types, started_at, last_seen) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (owner) DO UPDATE SET kind = excluded.kind, host = excluded.host, pid = excluded.pid, "
        "version = excluded.version, concurrency = excluded.concurrency, types = excluded.types, "
        "started_at = excluded.started_at, last_seen = excluded.last_seen",
        worker_params(worker),
    )


def touch_worker(conn: sqlite3.Connection, owner: str, now: str) -> bool:
    """``last_seen = now`` on ``owner``'s row; False if it has none."""
    return conn.execute("UPDATE lpe_workers SET last_seen = ? WHERE owner = ?", (now, owner)).rowcount == 1


def delete_worker(conn: sqlite3.Connection, owner: str) -> None:
    conn.execute("DELETE FROM lpe_workers WHERE owner = ?", (owner,))


def forget_workers(conn: sqlite3.Connection, seen_before: str) -> int:
    """Delete the rows last seen before ``seen_before``; returns how many."""
    return conn.execute("DELETE FROM lpe_workers WHERE last_seen < ?", (seen_before,)).rowcount


def list_workers(conn: sqlite3.Connection) -> list[WorkerRecord]:
    rows = conn.execute("SELECT * FROM lpe_workers ORDER BY started_at, owner").fetchall()
    return [worker_from_row(r, SQLITE) for r in rows]
