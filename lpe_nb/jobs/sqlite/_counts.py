"""How many jobs each status has (``job_counts``), kept by the writer instead of triggers.

Every write that inserts, deletes or moves a job between statuses notes the move on its connection
(:func:`moved`); the group-commit writer adds the sum of a whole transaction's moves to ``job_counts``
just before its COMMIT (:func:`apply_moves`): one statement per status that changed, in the same
transaction, so the counters stay exact. The triggers that did it per row (schema migration 2) cost
~30 µs of CPU per job (``bench/sql_floor.py``); the migration of issue 16 in ``schema.py`` dropped them.

A write that raises is undone with its moves (:func:`snapshot` / :func:`restore` around each savepoint).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from lpe_nb.errors import StoreError
from lpe_nb.jobs.model import JobStatus

__all__ = ["WriterConnection", "apply_moves", "discard_moves", "moved", "restore", "snapshot"]

_APPLY_SQL = "UPDATE job_counts SET n = n + ? WHERE status = ?"


class WriterConnection(sqlite3.Connection):
    """A ``sqlite3.Connection`` that also holds the status moves of its open transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.status_moves: dict[str, int] = {}


def moved(conn: sqlite3.Connection, old: JobStatus | None, new: JobStatus | None, n: int = 1) -> None:
    """``n`` jobs went from ``old`` to ``new`` (None: inserted, or deleted) in the open transaction."""
    if n == 0 or old is new:
        return
    try:
        moves: dict[str, int] = conn.status_moves  # type: ignore[attr-defined]  # a WriterConnection's
    except AttributeError:  # a write of jobs outside the store's writer would leave the counters wrong
        raise StoreError(
            "jobs can only be written on a connection opened by the job store (WriterConnection)"
        ) from None
    # _value_, not .value: the enum's property costs more than the rest of this function (runs ~2x a job)
    if old is not None:
        moves[old._value_] = moves.get(old._value_, 0) - n
    if new is not None:
        moves[new._value_] = moves.get(new._value_, 0) + n


def apply_moves(conn: sqlite3.Connection) -> None:
    """Add the transaction's moves to ``job_counts`` (call just before COMMIT); forget them."""
    moves = getattr(conn, "status_moves", None)
    if not moves:
        return
    changes = [(n, status) for status, n in moves.items() if n]
    moves.clear()
    if changes:
        conn.executemany(_APPLY_SQL, changes)


def discard_moves(conn: sqlite3.Connection) -> None:
    """The transaction was rolled back: its moves never happened."""
    moves = getattr(conn, "status_moves", None)
    if moves:
        moves.clear()


def snapshot(conn: sqlite3.Connection) -> dict[str, int]:
    """The moves so far (at a savepoint)."""
    return dict(getattr(conn, "status_moves", None) or {})


def restore(conn: sqlite3.Connection, saved: dict[str, int]) -> None:
    """Back to the moves at the savepoint that was just rolled back to."""
    moves = getattr(conn, "status_moves", None)
    if moves is not None:
        moves.clear()
        moves.update(saved)
