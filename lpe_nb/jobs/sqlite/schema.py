"""The SQLite schema and its forward migrations, versioned with ``PRAGMA user_version``.

Migration *n* (1-based) takes a database from version n-1 to n. Append new migrations; never edit a
released one. Together with the rest of this package (``_store.py`` and its ``_sql_*`` modules) this is
the only place that holds SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from lpe_nb.errors import StoreError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "apply_migration", "migrate"]

Migration = str | Callable[[sqlite3.Connection], None]
"""A script of statements, or a function for a step plain SQL cannot say (run in the same transaction)."""

_USER_CATALOG = """
CREATE TABLE IF NOT EXISTS user_catalog (
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    fields      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    username    TEXT,
    PRIMARY KEY (kind, name)
);
-- one row: a number each save or delete raises, so a process knows when to read the catalog again
CREATE TABLE user_catalog_revision (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL);
INSERT INTO user_catalog_revision VALUES (1, 0);
"""


def _adopt_user_catalog(conn: sqlite3.Connection) -> None:
    """The user catalog joins the job store (issue 13). Until now the catalog's own code created the table
    in this file on first use (without ``username`` before issue 13, adding it later): the table is kept
    as it is, with its rows, and given the column if it lacks it."""
    for statement in _statements(_USER_CATALOG):
        conn.execute(statement)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(user_catalog)")}
    if "username" not in columns:
        conn.execute("ALTER TABLE user_catalog ADD COLUMN username TEXT")


MIGRATIONS: tuple[Migration, ...] = (
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
    # 2 (issue 15): counts and status-filtered listings that cost the same at 100,000 jobs as at none.
    # Measured at 100k jobs: GROUP BY status over a status index still reads every entry (15 ms), the
    # counters below read five rows; a status filter walking jobs_created reads the whole history when the
    # status is rare (35 ms for `running`), this index reads one page (0.1 ms). Their cost on writes is in
    # docs/benchmarks.md.
    """
    -- a status filter walks this index in order, one status at a time, newest first
    CREATE INDEX jobs_status_created ON jobs (status, created_at DESC, id DESC);

    -- how many jobs each status has, kept by the triggers below in the transaction that changes a job
    CREATE TABLE job_counts (
        status TEXT PRIMARY KEY,
        n      INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO job_counts (status, n)
        SELECT s.status, (SELECT COUNT(*) FROM jobs WHERE jobs.status = s.status)
        FROM (SELECT 'pending' AS status UNION ALL SELECT 'running' UNION ALL SELECT 'completed'
              UNION ALL SELECT 'failed' UNION ALL SELECT 'cancelled') AS s;
    CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
        UPDATE job_counts SET n = n + 1 WHERE status = NEW.status;
    END;
    CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
        UPDATE job_counts SET n = n - 1 WHERE status = OLD.status;
    END;
    CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs WHEN OLD.status <> NEW.status BEGIN
        UPDATE job_counts SET n = n - 1 WHERE status = OLD.status;
        UPDATE job_counts SET n = n + 1 WHERE status = NEW.status;
    END;
    """,
    # 3 (issue 14): what changed lately, for the processes that watch the file (``_sql_changes``); covering,
    # so the window of recent changes is read from the index alone.
    """
    CREATE INDEX jobs_updated ON jobs (updated_at, seq, cancel_requested);
    """,
    # 4 (issue 12): jobs that wait for a time (``run_at`` / ``delay_s`` at submit). ``scheduled_at`` stays
    # set until the job is due; each claim first clears it on the due ones (walking jobs_scheduled by
    # time), then reads the queue, which holds only jobs without one: jobs waiting for tomorrow cost the
    # claim nothing, however many there are.
    """
    ALTER TABLE jobs ADD COLUMN scheduled_at TEXT;
    DROP INDEX jobs_pending_queue;
    CREATE INDEX jobs_pending_queue ON jobs (priority DESC, created_at)
        WHERE status = 'pending' AND scheduled_at IS NULL;
    CREATE INDEX jobs_scheduled ON jobs (scheduled_at) WHERE status = 'pending' AND scheduled_at IS NOT NULL;
    """,
    # 5 (issue 13): one heartbeat row per dispatching process (``_sql_workers``), for ``api/status``; a
    # handful of rows, read whole.
    """
    CREATE TABLE lpe_workers (
        owner       TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        host        TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        version     TEXT NOT NULL,
        concurrency INTEGER NOT NULL,
        types       TEXT,  -- a JSON array of the job types it claims; NULL: every type
        started_at  TEXT NOT NULL,
        last_seen   TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # (issue 12, cost): what each step's LLM calls cost, priced when they were made (so a price change
    # never rewrites history), and the model they went to; a job's cost is the sum of its steps', added by
    # the step's own insert. USD as REAL: a sum of thousands of calls stays exact far below a cent.
    """
    ALTER TABLE job_steps ADD COLUMN model TEXT;
    ALTER TABLE job_steps ADD COLUMN cost_usd REAL;
    ALTER TABLE jobs ADD COLUMN cost_usd REAL;
    """,
    # (issue 12): recurring schedules (docs/scheduling.md). A due schedule is found by schedules_due (only
    # unpaused ones, by next fire time): the dispatcher reads its first entry to know when to wake, so any
    # number of schedules cost one index probe per fire. schedule_fires' key (schedule_id, slot) refuses a
    # second fire of a slot; it is written in the same transaction as the job the slot creates.
    """
    CREATE TABLE schedules (
        id           TEXT PRIMARY KEY,
        job_type     TEXT NOT NULL,
        input_data   TEXT NOT NULL,
        title        TEXT NOT NULL,
        priority     INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        cron         TEXT,
        interval_s   REAL,
        timezone     TEXT NOT NULL,
        anchor       TEXT NOT NULL,
        catch_up     TEXT NOT NULL CHECK (catch_up IN ('skip', 'once')),
        paused       INTEGER NOT NULL DEFAULT 0,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        next_fire_at TEXT,
        last_slot    TEXT,
        last_job_id  TEXT,
        fire_count   INTEGER NOT NULL DEFAULT 0,
        CHECK ((cron IS NULL) <> (interval_s IS NULL))
    );
    CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE paused = 0;
    CREATE TABLE schedule_fires (
        schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
        slot        TEXT NOT NULL,
        job_id      TEXT NOT NULL,
        fired_at    TEXT NOT NULL,
        PRIMARY KEY (schedule_id, slot)
    ) WITHOUT ROWID;
    """,
    # (issue 12): dependency chains. A job that waits for parents keeps ``waiting_on`` (how many have not
    # completed) non-NULL, so the queue index, which holds only NULLs, never sees it: 10,000 blocked jobs
    # cost the claim nothing. The parent's completion sets it back to NULL in the same transaction.
    # job_dependencies holds the edges, by parent (the release and the cascade of a cancel) and by
    # dependent (what is left to wait for; and the foreign key's cascade when a job is deleted).
    """
    ALTER TABLE jobs ADD COLUMN depends_on TEXT;
    ALTER TABLE jobs ADD COLUMN inputs_from TEXT;
    ALTER TABLE jobs ADD COLUMN waiting_on INTEGER;
    ALTER TABLE jobs ADD COLUMN dependents INTEGER NOT NULL DEFAULT 0;
    DROP INDEX jobs_pending_queue;
    CREATE INDEX jobs_pending_queue ON jobs (priority DESC, created_at)
        WHERE status = 'pending' AND scheduled_at IS NULL AND waiting_on IS NULL;
    CREATE TABLE job_dependencies (
        parent_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        job_id    TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        PRIMARY KEY (parent_id, job_id)
    ) WITHOUT ROWID;
    CREATE INDEX job_dependencies_job ON job_dependencies (job_id, parent_id);
    """,
    # (issue 12): the LLM result cache (docs/caching.md): a completion by the hash of its request. Found by
    # key; the retention purge deletes by age (llm_cache_created) and evicts the least recently used
    # (llm_cache_used). A job's own opt-out (``cache=False`` at submit) is ``use_cache``.
    """
    ALTER TABLE jobs ADD COLUMN use_cache INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE llm_cache (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        used_at    TEXT NOT NULL,
        hits       INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX llm_cache_created ON llm_cache (created_at);
    CREATE INDEX llm_cache_used ON llm_cache (used_at, key);
    """,
    # (issue 13): who submitted each job: the Jupyter identity, or an embedded engine's user (NULL:
    # unknown, and every job written before this migration). One index serves every read of one user's
    # jobs: a listing walks it one status at a time, newest first (several statuses, or none, merge one
    # bounded walk per status, as jobs_status_created does), and a user's counts read only their entries.
    # A second index on (username, created_at) would save the merge of an unfiltered listing but cost every
    # insert and delete one more index write; bench/users.py measures both.
    """
    ALTER TABLE jobs ADD COLUMN username TEXT;
    CREATE INDEX jobs_user_status_created ON jobs (username, status, created_at DESC, id DESC);
    """,
    # (issue 12, analytics): each step's token counts, LLM calls and cache hits as columns (read from its
    # usage JSON when it is saved), and their sums per job, kept by the step's own insert like cost_usd:
    # a report over 100,000 jobs then reads integer columns of the jobs in its range, not 500,000 JSON
    # documents (bench/analytics.py). Rows written before this migration are filled from their JSON.
    """
    ALTER TABLE job_steps ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE job_steps ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE job_steps ADD COLUMN total_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE job_steps ADD COLUMN llm_calls INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE job_steps ADD COLUMN cache_hits INTEGER NOT NULL DEFAULT 0;
    UPDATE job_steps SET
        prompt_tokens = COALESCE(json_extract(usage, '$.prompt_tokens'), 0),
        completion_tokens = COALESCE(json_extract(usage, '$.completion_tokens'), 0),
        total_tokens = COALESCE(json_extract(usage, '$.total_tokens'), 0),
        llm_calls = COALESCE(json_extract(usage, '$.llm_calls'), 0),
        cache_hits = COALESCE(json_extract(usage, '$.cache_hits'), 0)
    WHERE json_valid(usage);
    ALTER TABLE jobs ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN total_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN llm_calls INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN cache_hits INTEGER NOT NULL DEFAULT 0;
    UPDATE jobs SET (prompt_tokens, completion_tokens, total_tokens, llm_calls, cache_hits) = (
        SELECT SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens), SUM(llm_calls), SUM(cache_hits)
        FROM job_steps WHERE job_steps.job_id = jobs.id)
    WHERE id IN (SELECT job_id FROM job_steps);
    """,
    # 12: the user catalog, until now a table the catalog kept in this file by itself (see the function).
    _adopt_user_catalog,
    # (issue 16): the status counters are kept by the store's writer, one statement per changed status per
    # transaction (``_counts``), instead of a trigger per row: the triggers were ~30 µs of CPU of a no-op
    # job's ~150 µs of SQL (bench/sql_floor.py). The counts are taken again here, so whatever the triggers
    # left is where the writer starts; written to run again harmlessly.
    """
    DROP TRIGGER IF EXISTS jobs_count_insert;
    DROP TRIGGER IF EXISTS jobs_count_delete;
    DROP TRIGGER IF EXISTS jobs_count_update;
    DELETE FROM job_counts;
    INSERT INTO job_counts (status, n)
        SELECT s.status, (SELECT COUNT(*) FROM jobs WHERE jobs.status = s.status)
        FROM (SELECT 'pending' AS status UNION ALL SELECT 'running' UNION ALL SELECT 'completed'
              UNION ALL SELECT 'failed' UNION ALL SELECT 'cancelled') AS s;
    """,
    # (issue 13): who made each schedule; the jobs it fires are theirs, and with jobs_per_user a user lists
    # and manages only their own (docs/users.md). A user's few schedules are read without an index.
    """
    ALTER TABLE schedules ADD COLUMN username TEXT;
    """,
    # (issue 16): the audit trail clustered by when its job was created, then by the job, instead of by the
    # job's random id: the claim and the finish of the jobs one transaction moves (mostly created together)
    # then write a page or two of it, not one page per row; it was 22 of the ~49 WAL pages a transaction
    # of 8 no-op jobs wrote, and ~34 µs of a job's ~120 µs of SQL (bench/sql_floor.py, docs/benchmarks.md
    # "Fifth pass"). The rows still go with their job (ON DELETE CASCADE), whose key for them is
    # (created_at, id): jobs_created, the same columns made UNIQUE (an id is unique by itself).
    """
    DROP INDEX jobs_created;
    CREATE UNIQUE INDEX jobs_created ON jobs (created_at DESC, id DESC);
    CREATE TABLE job_transitions_by_created (
        job_created_at TEXT NOT NULL,
        job_id      TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        at          TEXT NOT NULL,
        from_status TEXT,
        to_status   TEXT NOT NULL,
        actor       TEXT,
        reason      TEXT,
        PRIMARY KEY (job_created_at, job_id, seq),
        FOREIGN KEY (job_created_at, job_id) REFERENCES jobs (created_at, id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    INSERT INTO job_transitions_by_created
        SELECT j.created_at, t.job_id, t.seq, t.at, t.from_status, t.to_status, t.actor, t.reason
        FROM job_transitions AS t JOIN jobs AS j ON j.id = t.job_id;
    DROP TABLE job_transitions;
    ALTER TABLE job_transitions_by_created RENAME TO job_transitions;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def apply_migration(conn: sqlite3.Connection, step: Migration) -> None:
    """Run one entry of :data:`MIGRATIONS` on ``conn`` (inside the caller's transaction)."""
    if callable(step):
        step(conn)
        return
    for statement in _statements(step):
        conn.execute(statement)


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
        for step in MIGRATIONS[version:SCHEMA_VERSION]:
            apply_migration(conn, step)
        # PRAGMA takes no bound parameters; the value is our own integer.
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(version)


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction first, so split the script ourselves; a trigger's body
    # has semicolons of its own, so a piece ends a statement only once SQLite says it is complete.
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    statements: list[str] = []
    current = ""
    for piece in "\n".join(lines).split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                statements.append(current.strip())
            current = ""
    return statements
