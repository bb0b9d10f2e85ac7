"""The PostgreSQL job store's LLM result cache (table ``llm_cache``): get, put, clear, purge, stats.

The same statements as SQLite's (an upsert, a window function); times are ISO text, so ``""`` (any age)
compares before every entry.
"""

from __future__ import annotations

from lpe_nb.jobs._store_common import CacheStats
from lpe_nb.jobs.postgres._connection import Connection

__all__ = ["clear", "get", "purge", "put", "stats"]

_NO_BOUND = 2**62  # stands for "no bound" in the LRU statement, so it stays one statement


async def get(conn: Connection, key: str, *, created_after: str, now: str) -> str | None:
    """Found, fresh enough, and marked used (what the LRU eviction orders by), in one statement."""
    cur = await conn.execute(
        "UPDATE llm_cache SET used_at = %s, hits = hits + 1 WHERE key = %s AND created_at > %s RETURNING value",
        (now, key, created_after),
    )
    row = await cur.fetchone()
    return None if row is None else str(row["value"])


async def put(conn: Connection, key: str, value: str, *, now: str) -> None:
    await conn.execute(
        "INSERT INTO llm_cache (key, value, size_bytes, created_at, used_at, hits) "
        "VALUES (%s, %s, %s, %s, %s, 0) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, size_bytes = excluded.size_bytes, "
        "created_at = excluded.created_at, used_at = excluded.used_at, hits = 0",
        (key, value, len(value.encode()), now, now),
    )


async def clear(conn: Connection) -> int:
    cur = await conn.execute("DELETE FROM llm_cache")
    return cur.rowcount


async def purge(
    conn: Connection, *, created_before: str | None, max_entries: int | None, max_bytes: int | None
) -> int:
    deleted = 0
    if created_before is not None:
        cur = await conn.execute("DELETE FROM llm_cache WHERE created_at < %s", (created_before,))
        deleted += cur.rowcount
    if max_entries is not None or max_bytes is not None:
        # Newest use first, with the running count and size: whatever lies past either bound is evicted.
        cur = await conn.execute(
            """
            DELETE FROM llm_cache WHERE key IN (
                SELECT key FROM (
                    SELECT key, ROW_NUMBER() OVER newest_use AS n,
                           SUM(size_bytes) OVER newest_use AS running_bytes
                    FROM llm_cache
                    WINDOW newest_use AS (ORDER BY used_at DESC, key DESC)
                ) AS ranked WHERE n > %s OR running_bytes > %s
            )
            """,
            (
                _NO_BOUND if max_entries is None else max_entries,
                _NO_BOUND if max_bytes is None else max_bytes,
            ),
        )
        deleted += cur.rowcount
    return deleted


async def stats(conn: Connection) -> CacheStats:
    cur = await conn.execute(
        "SELECT COUNT(*) AS entries, COALESCE(SUM(size_bytes), 0) AS size, COALESCE(SUM(hits), 0) AS hits, "
        "MIN(created_at) AS oldest, MAX(created_at) AS newest FROM llm_cache"
    )
    row = await cur.fetchone()
    assert row is not None  # an aggregate always has a row
    return CacheStats(
        entries=int(row["entries"]), size_bytes=int(row["size"]), hits=int(row["hits"]),
        oldest_at=row["oldest"], newest_at=row["newest"],
    )  # fmt: skip
