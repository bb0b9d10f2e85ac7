"""The result cache's SQL (table ``llm_cache``, schema migration of issue 12): get, put, clear, purge, stats.

Plain functions of a ``sqlite3.Connection``; the writes run inside the writer's group-commit transaction.
The SQL is plain (an upsert, a window function) so that the PostgreSQL backend can say the same.
"""

from __future__ import annotations

import sqlite3

from lpe_nb.jobs._store_common import CacheStats

__all__ = [
    "CACHE_GET_SQL",
    "CACHE_PURGE_AGE_SQL",
    "CACHE_PURGE_LRU_SQL",
    "clear",
    "get",
    "purge",
    "put",
    "stats",
]

# One statement: found, fresh enough, and marked used (what the LRU eviction orders by).
CACHE_GET_SQL = (
    "UPDATE llm_cache SET used_at = ?, hits = hits + 1 WHERE key = ? AND created_at > ? RETURNING value"
)
CACHE_PURGE_AGE_SQL = "DELETE FROM llm_cache WHERE created_at < ?"
# Newest use first, the running count and size: whatever lies past either bound is evicted. Reads the
# table once in llm_cache_used order (a purge runs once per retention check, not per call).
CACHE_PURGE_LRU_SQL = """
    DELETE FROM llm_cache WHERE key IN (
        SELECT key FROM (
            SELECT key,
                   ROW_NUMBER() OVER newest_use AS n,
                   SUM(size_bytes) OVER newest_use AS running_bytes
            FROM llm_cache
            WINDOW newest_use AS (ORDER BY used_at DESC, key DESC)
        ) WHERE n > ? OR running_bytes > ?
    )
"""
_NO_BOUND = 2**62  # stands for "no bound" in the LRU statement, so it stays one statement


def get(conn: sqlite3.Connection, key: str, *, created_after: str, now: str) -> str | None:
    row = conn.execute(CACHE_GET_SQL, (now, key, created_after)).fetchone()
    return None if row is None else str(row[0])


def put(conn: sqlite3.Connection, key: str, value: str, *, now: str) -> None:
    conn.execute(
        "INSERT INTO llm_cache (key, value, size_bytes, created_at, used_at, hits) VALUES (?, ?, ?, ?, ?, 0) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, size_bytes = excluded.size_bytes, "
        "created_at = excluded.created_at, used_at = excluded.used_at, hits = 0",
        (key, value, len(value.encode()), now, now),
    )


def clear(conn: sqlite3.Connection) -> int:
    return conn.execute("DELETE FROM llm_cache").rowcount


def purge(
    conn: sqlite3.Connection, *, created_before: str | None, max_entries: int | None, max_bytes: int | None
) -> int:
    deleted = 0
    if created_before is not None:
        deleted += conn.execute(CACHE_PURGE_AGE_SQL, (created_before,)).rowcount
    if max_entries is not None or max_bytes is not None:
        bounds = (
            _NO_BOUND if max_entries is None else max_entries,
            _NO_BOUND if max_bytes is None else max_bytes,
        )
        deleted += conn.execute(CACHE_PURGE_LRU_SQL, bounds).rowcount
    return deleted


def stats(conn: sqlite3.Connection) -> CacheStats:
    entries, size, hits, oldest, newest = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0), COALESCE(SUM(hits), 0), MIN(created_at), "
        "MAX(created_at) FROM llm_cache"
    ).fetchone()
    return CacheStats(entries=entries, size_bytes=size, hits=hits, oldest_at=oldest, newest_at=newest)
