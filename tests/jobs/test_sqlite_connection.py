"""The SQLite store's connections: the PRAGMAs every one of them gets (issue 16: the page cache)."""

from __future__ import annotations

from lpe_nb.jobs.sqlite import SqliteJobStore
from lpe_nb.jobs.sqlite._connection import CACHE_KIB, hop


async def test_the_writer_and_the_reader_get_the_pragmas(sqlite_store: SqliteJobStore) -> None:
    for conn, query_only in ((sqlite_store._writer, 0), (sqlite_store._reader, 1)):
        assert conn is not None
        pragmas = await hop(
            conn,
            lambda raw: [
                raw.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("cache_size", "journal_mode", "foreign_keys", "query_only")
            ],
        )
        assert pragmas == [-CACHE_KIB, "wal", 1, query_only]
