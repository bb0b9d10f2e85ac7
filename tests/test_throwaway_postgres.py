"""The tests' throwaway PostgreSQL schemas (lpe_nb.testing.postgres): dropped even while a session that
a failed test or benchmark left open still holds a lock on one of their tables."""

from __future__ import annotations

import psycopg
import pytest

from lpe_nb.testing.postgres import create_schema, drop_schema


def test_a_schema_is_dropped_though_a_session_holds_a_lock_on_its_table(
    postgres_session_database: str,
) -> None:
    url = create_schema(postgres_session_database, "lpe_test_held_lock")
    holder = psycopg.connect(url)  # a transaction left open: its lock would block DROP SCHEMA forever
    try:
        holder.execute("CREATE TABLE held (n int)")
        holder.commit()
        holder.execute("SELECT count(*) FROM held").fetchone()  # ACCESS SHARE, held until the end

        drop_schema(postgres_session_database, "lpe_test_held_lock")

        with psycopg.connect(postgres_session_database) as check:
            left = check.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = 'lpe_test_held_lock'"
            ).fetchone()
        assert left == (0,)
        with pytest.raises(psycopg.OperationalError):  # the holder's session was ended
            holder.execute("SELECT 1").fetchone()
    finally:
        holder.close()
