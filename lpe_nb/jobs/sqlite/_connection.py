"""The job store's aiosqlite connections: opened with the store's pragmas, and called in one hop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import aiosqlite

from lpe_nb.jobs._store_common import Synchronous
from lpe_nb.jobs.sqlite._counts import WriterConnection

__all__ = ["CACHE_KIB", "configure", "connect", "hop"]

CACHE_KIB = 8000  # each connection's page cache, in KiB (see configure)

T = TypeVar("T")


async def connect(
    path: Path, *, busy_timeout_ms: int, synchronous: Synchronous, query_only: bool = False
) -> aiosqlite.Connection:
    """A connection to ``path`` in WAL mode with ``busy_timeout``, foreign keys on, and ``sqlite3.Row`` rows."""
    # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
    # WriterConnection: a write notes its status moves on it, for the counters (see _counts).
    conn = aiosqlite.connect(path, isolation_level=None, factory=WriterConnection)
    try:
        await conn
    except BaseException:
        # aiosqlite stops its worker thread on a failed connect but does not wait for it: the thread then
        # resolves a future of a loop that may be closed by then ("RuntimeError: Event loop is closed" in a
        # thread traceback, issue 14). Wait here while the loop still runs.
        await asyncio.to_thread(conn._thread.join, 5.0)
        raise
    try:
        conn.row_factory = sqlite3.Row
        await hop(conn, configure(busy_timeout_ms, synchronous, query_only))
    except BaseException:
        await conn.close()  # else its thread outlives the loop: a hang at exit, or a traceback
        raise
    return conn


def configure(
    busy_timeout_ms: int, synchronous: Synchronous, query_only: bool
) -> Callable[[sqlite3.Connection], None]:
    """What sets a new connection's PRAGMAs (bench/sql_floor.py opens its own connections with it)."""
    pragmas = [
        f"busy_timeout = {int(busy_timeout_ms)}",
        "journal_mode = WAL",
        f"synchronous = {synchronous}",
        "foreign_keys = ON",
        f"query_only = {'ON' if query_only else 'OFF'}",
        # 8 MB of page cache per connection (SQLite's default is 2 MB; Huey's SqliteStorage also takes 8):
        # a job's writes touch a dozen index pages, and with 2 MB the writer kept reading back pages it
        # had just evicted, ~25 µs of its ~155 µs per no-op job (bench/cpu_per_job.py).
        f"cache_size = {-CACHE_KIB}",
    ]

    def apply(raw: sqlite3.Connection) -> None:
        for pragma in pragmas:
            raw.execute(f"PRAGMA {pragma}").fetchall()

    return apply


async def hop(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` on the connection's own thread in one hop.

    aiosqlite has no public call for this; ``_execute`` is the method all its public calls use.
    """
    raw = conn._conn
    result: T = await conn._execute(fn, raw)  # type: ignore[no-untyped-call]  # private, untyped
    return result
