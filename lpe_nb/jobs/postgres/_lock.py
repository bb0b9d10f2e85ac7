"""The dispatch lock on PostgreSQL: a session advisory lock held on a dedicated connection.

The manager takes no dispatch lock on PostgreSQL (``PgJobStore.concurrent_dispatch`` is True: claims skip
each other's rows, leases run on the database's clock, and a starting manager recovers only expired
leases), so every process with ``dispatch`` on runs jobs at once. The lock is still the protocol's, with
the protocol's meaning, for code that wants one process at a time on a database: one holder per database
(advisory locks are per database), freed by the server when the holder's connection ends, even if its
process was killed; the contract suite proves it like SQLite's file lock.
"""

from __future__ import annotations

import psycopg

from lpe_nb.errors import StoreError
from lpe_nb.jobs.postgres._connection import Connection, connect, describe_error, redact
from lpe_nb.jobs.postgres.schema import DISPATCH_LOCK

__all__ = ["AdvisoryDispatchLock"]


class AdvisoryDispatchLock:
    """``pg_try_advisory_lock`` on its own connection: at most one holder per database."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None and not self._conn.closed

    async def try_acquire(self) -> bool:
        if self.held:
            return True
        try:
            conn = await connect(self._url, application_name="lpe-nb dispatch lock")
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot reach the job database {redact(self._url)}: {describe_error(exc)}"
            ) from exc
        try:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s) AS taken", (DISPATCH_LOCK,))
            row = await cur.fetchone()
        except psycopg.Error as exc:
            await conn.close()
            raise StoreError(
                f"taking the dispatch lock on {redact(self._url)} failed: {describe_error(exc)}"
            ) from exc
        if row is None or not row["taken"]:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()  # ending the session frees its advisory locks
