"""What other connections changed: the jobs whose ``seq`` rose (or whose cancel was asked) since a cursor.

This is how a process that does not run a job still sees it move: every state change a store makes to a job
bumps its ``updated_at`` and, but for a cancel request, its ``seq``. ``PRAGMA data_version`` on the store's
*writer* connection says at no cost whether another connection (another process, mostly) committed since
the last look: the store's own commits do not change it, so a busy dispatcher does not read its own writes
back. Only then is the window of recent ``updated_at`` read, from the covering index ``jobs_updated``, and
the rows whose ``(seq, cancel_requested)`` moved are fetched whole.

``updated_at`` is the writer's clock, read before its transaction commits, so two processes can commit
out of timestamp order (a write that waited for the lock). The window reaches :data:`LOOKBACK_S` behind
the newest change seen, and the cursor remembers what it saw in that window, so such a late commit is still
found, and nothing is returned twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from lpe_nb.jobs.model import JobRecord, to_iso
from lpe_nb.jobs.sqlite._rows import row_to_job

__all__ = ["LOOKBACK_S", "ChangeCursor", "changed_since", "data_version"]

LOOKBACK_S = 5.0  # how far out of timestamp order a commit may land and still be seen
_CHUNK = 500  # bound parameters per query, well under SQLite's limit


@dataclass(frozen=True, slots=True)
class ChangeCursor:
    """Where a reader of changes stands: opaque to callers."""

    connection: int  # which writer connection's data_version this is (a new one after the store reopens)
    data_version: int
    since: str  # the newest updated_at seen ("" for an empty table)
    seen: Mapping[int, tuple[int, bool]]  # rowid -> (seq, cancel_requested) of the rows in the window


def data_version(conn: sqlite3.Connection) -> int:
    """What changes when another connection commits (run it on the writer, outside a transaction)."""
    ((version,),) = conn.execute("PRAGMA data_version").fetchall()
    return int(version)


def is_current(cursor: ChangeCursor | None, *, connection: int, version: int) -> bool:
    """Whether nothing was committed by others since ``cursor`` was made."""
    return cursor is not None and cursor.connection == connection and cursor.data_version == version


def changed_since(
    conn: sqlite3.Connection, cursor: ChangeCursor | None, *, connection: int, version: int
) -> tuple[list[JobRecord], ChangeCursor]:
    """The jobs that moved since ``cursor`` (oldest change first) and the next cursor; ``None`` starts at the
    present and returns no jobs. ``version`` is the writer's :func:`data_version`, read just before, and
    ``connection`` names that writer (see :attr:`ChangeCursor.connection`); ``conn`` is the reader."""
    conn.execute("BEGIN")  # one snapshot for the window and the rows
    try:
        if cursor is None:
            ((newest,),) = conn.execute("SELECT MAX(updated_at) FROM jobs").fetchall()
            since = newest or ""
        else:
            since = cursor.since
        window = conn.execute(
            "SELECT rowid, seq, cancel_requested, updated_at FROM jobs INDEXED BY jobs_updated "
            "WHERE updated_at >= ?",
            (_lookback(since),),
        ).fetchall()
        seen = {} if cursor is None else cursor.seen
        moved = [] if cursor is None else [r[0] for r in window if seen.get(r[0]) != (r[1], bool(r[2]))]
        jobs: list[tuple[str, int, JobRecord]] = []
        for start in range(0, len(moved), _CHUNK):
            chunk = moved[start : start + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for row in conn.execute(f"SELECT * FROM jobs WHERE rowid IN ({marks})", chunk):
                jobs.append((row["updated_at"], row["seq"], row_to_job(row)))
    finally:
        conn.execute("COMMIT")
    newest = max([since, *(r[3] for r in window)])
    start_of_window = _lookback(newest)
    next_cursor = ChangeCursor(
        connection,
        version,
        newest,
        {r[0]: (r[1], bool(r[2])) for r in window if r[3] >= start_of_window},
    )
    jobs.sort(key=lambda item: (item[0], item[1]))
    return [job for _, _, job in jobs], next_cursor


def _lookback(moment: str) -> str:
    if not moment:
        return ""
    return to_iso(datetime.fromisoformat(moment) - timedelta(seconds=LOOKBACK_S))
