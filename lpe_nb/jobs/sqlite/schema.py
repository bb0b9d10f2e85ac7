"""The SQLite schema and its forward migrations, versioned with ``PRAGMA user_version``.

Migration *n* (1-based) takes a database from version n-1 to n. Append new migrations; never edit a
released one. Together with the rest of this package (``_store.py`` and its ``_sql_*`` modules) this is
the only place that holds SQL.
"""

from __future__ import annotations

import sqlite3

from lpe_nb.errors import StoreError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

MIGRATIONS: tuple[str, ...] = (
    # 1: the seed's jobs table (same column names) plus what the engine needs; steps; transitions.
    """
    CREATE TABLE jobs (
        id               TEXT PRIMARY KEY,
        type             TEXT NOT NULL,
        status           TEXT NOT NULL
                         CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
        title            TEXT NOT NULL,
        description      TEXT,
        input_data       TEXT,
        result_data      TEXT,
        error_message    TEXT,
        progress         TEXT,
        created_at       TEXT NOT NULL,
        started_at       TEXT,
        completed_at     TEXT,
        updated_at       TEXT NOT NULL,
        priority         INTEGER NOT NULL DEFAULT 0,
        attempts         INTEGER NOT NULL DEFAULT 0,
        max_attempts     INTEGER NOT NULL DEFAULT 3,
        lease_owner      TEXT,
        lease_expires_at TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        seq              INTEGER NOT NULL DEFAULT 0
    );
    -- claim: highest priority first, then oldest
    CREATE INDEX jobs_pending_queue ON jobs (priority DESC, created_at) WHERE status = 'pending';
    -- listing, newest first; a status or type filter walks this index too. A (status, created_at) index
    -- would cost every state change two more index writes for a query that reads one page.
    CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
    -- lease sweeps and heartbeats
    CREATE INDEX jobs_running_lease ON jobs (lease_owner, lease_expires_at) WHERE status = 'running';
    -- retention
    CREATE INDEX jobs_terminal_completed ON jobs (completed_at)
        WHERE status IN ('completed', 'failed', 'cancelled');

    CREATE TABLE job_steps (
        job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        idx          INTEGER NOT NULL,
        name         TEXT NOT NULL,
        input        TEXT,
        output       TEXT,
        usage        TEXT,
        started_at   TEXT NOT NULL,
        completed_at TEXT NOT NULL,
        duration_ms  INTEGER NOT NULL,
        attempt      INTEGER NOT NULL,
        PRIMARY KEY (job_id, name)
    );

    -- the audit trail of status changes: who moved the job, when, and why; clustered by job
    CREATE TABLE job_transitions (
        job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        at          TEXT NOT NULL,
        from_status TEXT,
        to_status   TEXT NOT NULL,
        actor       TEXT,
        reason      TEXT,
        PRIMARY KEY (job_id, seq)
    ) WITHOUT ROWID;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION` in one immediate transaction; returns the old version."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        ((version,),) = conn.execute("PRAGMA user_version").fetchall()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the job database has schema version {version}, newer than this lpe-nb understands "
                f"({SCHEMA_VERSION}); upgrade lpe-nb or point it at another database file"
            )
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
        # PRAGMA takes no bound parameters; the value is our own integer.
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(version)


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction first, so split the script ourselves.
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]
