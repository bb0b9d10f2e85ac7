"""What other connections changed: the jobs whose ``seq`` rose (or whose cancel was asked) since a cursor.

Every write to a job row stamps it with its transaction's id (``changed_xid``, a trigger). A cursor holds
the ``xmin`` of the snapshot it read: every transaction with a lower id had ended by then, so it was seen;
any later write, committed or not yet, has an id at or above it. The next read takes the rows stamped at or
above that ``xmin`` (the index ``jobs_changed``: a handful of rows when nothing is going on), compares their
``(seq, cancel_requested)`` with what the cursor saw of them, and fetches whole the ones that moved, all in
one snapshot. No clock is involved, so neither skew between machines nor a commit that lands after a newer
timestamp loses a change (SQLite's version needs a look-back window for the latter).

The window grows while some transaction stays open in the cluster (an ``idle in transaction`` session holds
``xmin`` back); it shrinks again when that ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lpe_nb.jobs.model import JobRecord
from lpe_nb.jobs.postgres._connection import Connection
from lpe_nb.jobs.postgres._rows import row_to_job

__all__ = ["CHANGES_WINDOW_SQL", "PgChangeCursor", "changed_since"]

# The rows written by transactions at or after a snapshot's xmin, from the index jobs_changed.
CHANGES_WINDOW_SQL = (
    "SELECT id, seq, cancel_requested, changed_xid >= %(xmin)s::xid8 AS recent FROM jobs "
    "WHERE changed_xid >= %(since)s::xid8"
)


@dataclass(frozen=True, slots=True)
class PgChangeCursor:
    """Where a reader of changes stands: opaque to callers."""

    xmin: str  # the xid8 below which every transaction was visible to the last read
    seen: Mapping[str, tuple[int, bool]]  # job id -> (seq, cancel_requested) of rows stamped >= xmin


async def changed_since(
    conn: Connection, cursor: PgChangeCursor | None
) -> tuple[list[JobRecord], PgChangeCursor]:
    """The jobs that moved since ``cursor`` (oldest change first) and the next cursor; ``None`` starts at the
    present and returns no jobs. Runs its own read-only repeatable-read transaction (one snapshot)."""
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur = await conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin")
        snap = await cur.fetchone()
        assert snap is not None
        xmin: str = snap["xmin"]
        since = xmin if cursor is None else cursor.xmin
        cur = await conn.execute(CHANGES_WINDOW_SQL, {"xmin": xmin, "since": since})
        window = await cur.fetchall()
        seen = {} if cursor is None else cursor.seen
        moved = [] if cursor is None else [r["id"] for r in window if seen.get(r["id"]) != _state(r)]
        jobs: list[JobRecord] = []
        if moved:
            cur = await conn.execute(
                "SELECT * FROM jobs WHERE id = ANY(%s) ORDER BY updated_at, seq", (moved,)
            )
            jobs = [row_to_job(r) for r in await cur.fetchall()]
    return jobs, PgChangeCursor(xmin, {r["id"]: _state(r) for r in window if r["recent"]})


def _state(row: Mapping[str, Any]) -> tuple[int, bool]:
    return int(row["seq"]), bool(row["cancel_requested"])
