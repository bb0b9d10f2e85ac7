"""The PostgreSQL schema and its forward migrations, versioned in the table ``lpe_schema``.

Migration *n* (1-based) takes a database from version n-1 to n; append new ones, never edit a released
one. They run in one transaction under ``pg_advisory_xact_lock`` (:data:`MIGRATION_LOCK`), so servers and
workers that start together never apply one twice, and the version row is written in the same
transaction as the migration. ``lpe_schema`` holds one row per applied version (with when), so an admin
can read the history; the current version is the highest.

Timestamps are ``timestamptz`` (written from the callers' ISO-8601 strings, read back with
:func:`lpe_nb.jobs.model.to_iso`); JSON is ``json`` (not ``jsonb``), so a result keeps its keys in the
order the operation wrote them.
"""

from __future__ import annotations

from typing import Any

import psycopg

from lpe_nb.errors import StoreError

__all__ = [
    "COUNT_SHARDS",
    "DISPATCH_LOCK",
    "MIGRATIONS",
    "MIGRATION_LOCK",
    "SCHEMA_VERSION",
    "check_version",
    "migrate",
    "schema_version",
]

# Advisory lock keys are per database; these two are lpe-nb's ("lpe" in ASCII, then a number).
MIGRATION_LOCK = 0x6C706501
DISPATCH_LOCK = 0x6C706502

# job_counts is kept in COUNT_SHARDS rows per status (by the writing connection's backend pid), so that
# concurrent writers on different connections do not queue on one counter row until they commit.
COUNT_SHARDS = 16

MIGRATIONS: tuple[str, ...] = (
    # 1: jobs, steps, transitions, workers, costs, schedules, chains and the LLM cache,
    # as in SQLite's migrations 1-9, plus what PostgreSQL needs instead of
    # SQLite's tricks: counters kept by statement triggers over sharded rows, and ``changed_xid`` (the
    # transaction that last wrote the row) for ``changed_since``.
    f"""
    CREATE TABLE jobs (
        id               text PRIMARY KEY,
        type             text NOT NULL,
        status           text NOT NULL
                         CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
        title            text NOT NULL,
        description      text,
        input_data       json,
        result_data      json,
        error_message    text,
        progress         json,
        created_at       timestamptz NOT NULL,
        started_at       timestamptz,
        completed_at     timestamptz,
        updated_at       timestamptz NOT NULL,
        priority         integer NOT NULL DEFAULT 0,
        attempts         integer NOT NULL DEFAULT 0,
        max_attempts     integer NOT NULL DEFAULT 3,
        lease_owner      text,
        lease_expires_at timestamptz,
        cancel_requested boolean NOT NULL DEFAULT false,
        seq              bigint NOT NULL DEFAULT 0,
        scheduled_at     timestamptz,
        cost_usd         double precision,  -- the sum of its steps' costs
        use_cache        boolean NOT NULL DEFAULT true,  -- its LLM calls may use the result cache
        depends_on       json,  -- the ids it waits for (chains)
        inputs_from      json,  -- input field -> "<parent id>.<result path>"
        waiting_on       integer,  -- how many parents have not completed; NULL: it may be claimed
        dependents       integer NOT NULL DEFAULT 0,
        changed_xid      xid8 NOT NULL DEFAULT pg_current_xact_id()
    );
    -- claim: highest priority first, then oldest, among the jobs that may start now (not waiting for a
    -- time or for parents: however many do, they cost the claim nothing)
    CREATE INDEX jobs_pending_queue ON jobs (priority DESC, created_at)
        WHERE status = 'pending' AND scheduled_at IS NULL AND waiting_on IS NULL;
    -- jobs that wait for a time: each claim makes the due ones join the queue
    CREATE INDEX jobs_scheduled ON jobs (scheduled_at) WHERE status = 'pending' AND scheduled_at IS NOT NULL;
    -- listing, newest first; by status, one status at a time
    CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
    CREATE INDEX jobs_status_created ON jobs (status, created_at DESC, id DESC);
    -- heartbeats and lease sweeps
    CREATE INDEX jobs_running_lease ON jobs (lease_owner, lease_expires_at) WHERE status = 'running';
    -- retention
    CREATE INDEX jobs_terminal_completed ON jobs (completed_at)
        WHERE status IN ('completed', 'failed', 'cancelled');
    -- what other processes changed since a snapshot (changed_since)
    CREATE INDEX jobs_changed ON jobs (changed_xid);

    CREATE FUNCTION lpe_jobs_touch() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.changed_xid := pg_current_xact_id();
        RETURN NEW;
    END $$;
    CREATE TRIGGER jobs_touch BEFORE UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION lpe_jobs_touch();

    CREATE TABLE job_steps (
        job_id       text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        idx          integer NOT NULL,
        name         text NOT NULL,
        input        json,
        output       json,
        usage        json,
        started_at   timestamptz NOT NULL,
        completed_at timestamptz NOT NULL,
        duration_ms  bigint NOT NULL,
        attempt      integer NOT NULL,
        model        text,  -- the model its LLM calls went to
        cost_usd     double precision,  -- what they cost, priced when made
        PRIMARY KEY (job_id, name)
    );

    -- chains: the edges, by parent (release, cascade) and by dependent (what is left to wait for)
    CREATE TABLE job_dependencies (
        parent_id text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        job_id    text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        PRIMARY KEY (parent_id, job_id)
    );
    CREATE INDEX job_dependencies_job ON job_dependencies (job_id, parent_id);

    CREATE TABLE job_transitions (
        job_id      text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        seq         bigint NOT NULL,
        at          timestamptz NOT NULL,
        from_status text,
        to_status   text NOT NULL,
        actor       text,
        reason      text,
        PRIMARY KEY (job_id, seq)
    );

    -- How many jobs each status has: the sum over a status's shards. The triggers run once per statement
    -- and touch the writer's own shard, in status order (so two writers never wait on each other in a
    -- cycle); a statement that moves no job between statuses (progress, heartbeats) writes nothing here.
    CREATE TABLE job_counts (
        status text NOT NULL,
        shard  integer NOT NULL,
        n      bigint NOT NULL,
        PRIMARY KEY (status, shard)
    );
    CREATE FUNCTION lpe_jobs_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO job_counts AS c (status, shard, n)
                SELECT status, pg_backend_pid() % {COUNT_SHARDS}, count(*) FROM new_rows
                GROUP BY status ORDER BY status
                ON CONFLICT (status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO job_counts AS c (status, shard, n)
                SELECT status, pg_backend_pid() % {COUNT_SHARDS}, -count(*) FROM old_rows
                GROUP BY status ORDER BY status
                ON CONFLICT (status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
        ELSE
            INSERT INTO job_counts AS c (status, shard, n)
                SELECT status, pg_backend_pid() % {COUNT_SHARDS}, sum(d) FROM (
                    SELECT status, 1 AS d FROM new_rows UNION ALL SELECT status, -1 FROM old_rows
                ) AS moved GROUP BY status HAVING sum(d) <> 0 ORDER BY status
                ON CONFLICT (status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION lpe_jobs_count();
    CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION lpe_jobs_count();
    CREATE TRIGGER jobs_count_update AFTER UPDATE ON jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION lpe_jobs_count();

    -- one heartbeat row per dispatching process, for api/status (SQLite's migration 5)
    CREATE TABLE lpe_workers (
        owner       text PRIMARY KEY,
        kind        text NOT NULL,
        host        text NOT NULL,
        pid         integer NOT NULL,
        version     text NOT NULL,
        concurrency integer NOT NULL,
        types       json,  -- the job types it claims; NULL: every type
        started_at  timestamptz NOT NULL,
        last_seen   timestamptz NOT NULL
    );

    -- recurring schedules; their times are the fixed-width ISO text the recurrence module computes (a
    -- slot is a key), compared as text like SQLite's
    CREATE TABLE schedules (
        id           text PRIMARY KEY,
        job_type     text NOT NULL,
        input_data   json NOT NULL,
        title        text NOT NULL,
        priority     integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL,
        cron         text,
        interval_s   double precision,
        timezone     text NOT NULL,
        anchor       text NOT NULL,
        catch_up     text NOT NULL CHECK (catch_up IN ('skip', 'once')),
        paused       boolean NOT NULL DEFAULT false,
        created_at   text NOT NULL,
        updated_at   text NOT NULL,
        next_fire_at text,
        last_slot    text,
        last_job_id  text,
        fire_count   integer NOT NULL DEFAULT 0,
        CHECK ((cron IS NULL) <> (interval_s IS NULL))
    );
    CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE NOT paused;
    -- (schedule_id, slot) is unique: a slot fires once, whoever fires it
    CREATE TABLE schedule_fires (
        schedule_id text NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
        slot        text NOT NULL,
        job_id      text NOT NULL,
        fired_at    text NOT NULL,
        PRIMARY KEY (schedule_id, slot)
    );

    -- the LLM result cache, by the hash of a request; times are ISO text ("" is before every one)
    CREATE TABLE llm_cache (
        key        text PRIMARY KEY,
        value      text NOT NULL,
        size_bytes bigint NOT NULL,
        created_at text NOT NULL,
        used_at    text NOT NULL,
        hits       bigint NOT NULL DEFAULT 0
    );
    CREATE INDEX llm_cache_created ON llm_cache (created_at);
    CREATE INDEX llm_cache_used ON llm_cache (used_at, key);
    """,
    # 2 (issue 13): who submitted each job (SQLite's migration of the same name): one index serves a user's
    # listing (one bounded walk per status, merged) and their counts.
    """
    ALTER TABLE jobs ADD COLUMN username text;
    CREATE INDEX jobs_user_status_created ON jobs (username, status, created_at DESC, id DESC);
    """,
    # 3 (issue 12, analytics; SQLite's migration of the same name): each step's token counts, LLM calls and
    # cache hits as integer columns (read from its usage when it is saved) and their sums per job, kept by
    # the step's own insert like cost_usd, so a report reads integer columns of the jobs in its range.
    """
    ALTER TABLE job_steps
        ADD COLUMN prompt_tokens integer NOT NULL DEFAULT 0,
        ADD COLUMN completion_tokens integer NOT NULL DEFAULT 0,
        ADD COLUMN total_tokens integer NOT NULL DEFAULT 0,
        ADD COLUMN llm_calls integer NOT NULL DEFAULT 0,
        ADD COLUMN cache_hits integer NOT NULL DEFAULT 0;
    UPDATE job_steps SET
        prompt_tokens = CASE WHEN usage ->> 'prompt_tokens' ~ '^[0-9]+$' THEN (usage ->> 'prompt_tokens')::integer ELSE 0 END,
        completion_tokens = CASE WHEN usage ->> 'completion_tokens' ~ '^[0-9]+$' THEN (usage ->> 'completion_tokens')::integer ELSE 0 END,
        total_tokens = CASE WHEN usage ->> 'total_tokens' ~ '^[0-9]+$' THEN (usage ->> 'total_tokens')::integer ELSE 0 END,
        llm_calls = CASE WHEN usage ->> 'llm_calls' ~ '^[0-9]+$' THEN (usage ->> 'llm_calls')::integer ELSE 0 END,
        cache_hits = CASE WHEN usage ->> 'cache_hits' ~ '^[0-9]+$' THEN (usage ->> 'cache_hits')::integer ELSE 0 END
    WHERE json_typeof(usage) = 'object';
    ALTER TABLE jobs
        ADD COLUMN prompt_tokens integer NOT NULL DEFAULT 0,
        ADD COLUMN completion_tokens integer NOT NULL DEFAULT 0,
        ADD COLUMN total_tokens integer NOT NULL DEFAULT 0,
        ADD COLUMN llm_calls integer NOT NULL DEFAULT 0,
        ADD COLUMN cache_hits integer NOT NULL DEFAULT 0;
    UPDATE jobs SET (prompt_tokens, completion_tokens, total_tokens, llm_calls, cache_hits) = (
        SELECT SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens), SUM(llm_calls), SUM(cache_hits)
        FROM job_steps WHERE job_steps.job_id = jobs.id)
    WHERE id IN (SELECT job_id FROM job_steps);
    """,
    # 4 (issue 13; SQLite's 12): the user catalog, shared by every process on the database (until now each
    # machine kept its own in a SQLite file). A few hundred rows, read whole when the revision changed.
    """
    CREATE TABLE user_catalog (
        kind        text NOT NULL,
        name        text NOT NULL,
        description text NOT NULL,
        fields      json NOT NULL,
        created_at  timestamptz NOT NULL,
        username    text,
        PRIMARY KEY (kind, name)
    );
    -- one row: a number each save or delete raises, so a process knows when to read the catalog again
    CREATE TABLE user_catalog_revision (id integer PRIMARY KEY CHECK (id = 1), revision bigint NOT NULL);
    INSERT INTO user_catalog_revision VALUES (1, 0);
    """,
    # 5 (issue 13; SQLite's migration of the same name): who made each schedule; the jobs it fires are
    # theirs, and with jobs_per_user a user lists and manages only their own.
    """
    ALTER TABLE schedules ADD COLUMN username text;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS lpe_schema (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def _too_new(version: int, where: str) -> StoreError:
    return StoreError(
        f"the job database {where} has schema version {version}, newer than this lpe-nb understands "
        f"({SCHEMA_VERSION}); upgrade lpe-nb (every server and worker on it) or point it at another database"
    )


async def schema_version(conn: psycopg.AsyncConnection[Any]) -> int:
    """The database's schema version: 0 if lpe-nb never migrated it. Takes no lock."""
    cur = await conn.execute("SELECT to_regclass('lpe_schema') IS NOT NULL AS present")
    row = await cur.fetchone()
    if row is None or not _first(row):
        return 0
    cur = await conn.execute("SELECT COALESCE(MAX(version), 0) AS version FROM lpe_schema")
    row = await cur.fetchone()
    return 0 if row is None else int(_first(row))


async def migrate(conn: psycopg.AsyncConnection[Any], *, where: str) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION` in one transaction under the migration lock;
    returns the version it had. :class:`StoreError` if it is newer than this code (``where`` names it)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute(_VERSION_TABLE)
        version = await schema_version(conn)
        if version > SCHEMA_VERSION:
            raise _too_new(version, where)
        for number in range(version + 1, SCHEMA_VERSION + 1):
            await conn.execute(MIGRATIONS[number - 1].encode())  # no parameters: several statements
            await conn.execute("INSERT INTO lpe_schema (version) VALUES (%s)", (number,))
    return version


def check_version(version: int, *, where: str) -> None:
    """:class:`StoreError` unless ``version`` is exactly :data:`SCHEMA_VERSION` (for ``db check``)."""
    if version > SCHEMA_VERSION:
        raise _too_new(version, where)
    if version < SCHEMA_VERSION:
        raise StoreError(
            f"the job database {where} has schema version {version}, this lpe-nb needs {SCHEMA_VERSION}: "
            "run `python -m lpe_nb db upgrade`"
        )


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]
