"""The result cache's SQL (table ``llm_cache``, schema migration of issue 12): get, put, clear, purge, stats.

Plain functions of a ``sqlite3.Connection``, run inside the writer's group-commit transaction. A lookup
(``get``) only reads; its hit is written later by ``add_hits`` (see ``_cache_hits``). The SQL is plain (an
upsert, a window function) so that the PostgreSQL backend can say the same.
"""

from __future__ import annotations

import sqlite3

from lpe_nb.jobs._store_common import CacheStats

__all__ = [
    "CACHE_ADD_HITS_SQL",
    "CACHE_GET_SQL",
    "CACHE_PURGE_AGE_SQL",
    "CACHE_PURGE_LRU_SQL",
    "Hits",
    "add_hits",
    "clear",
    "get",
    "purge",
    "put",
    "stats",
]

Hits = list[tuple[str, int, str]]  # (key, how many hits, the latest used_at among them)

# Found and fresh enough: a read (the hit is counted by CACHE_ADD_HITS_SQL later).
CACHE_GET_SQL = "SELECT value FROM llm_cache WHERE key = ? AND created_at > ?"
# used_at only moves forward: hits counted in memory may be written after a later use's.
CACHE_ADD_HITS_SQL = "UPDATE llm_cache SET hits = hits + ?, used_at = MAX(used_at, ?) WHERE key = ?"
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


def get(conn: sqlite3.Connection, key: str, *, created_after: str) -> str | None:
    row = conn.execute(CACHE_GET_SQL, (key, created_after)).fetchone()
    return None if row is None else str(row[0])


def add_hits(conn: sqlite3.Connection, hits: Hits) -> None:
    """Count ``hits`` (an entry deleted or replaced meanwhile: nothing, or the new one's)."""
    conn.executemany(CACHE_ADD_HITS_SQL, [(n, used_at, key) for key, n, used_at in hits])


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
