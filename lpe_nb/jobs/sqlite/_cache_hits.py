"""The result cache's hits, counted in memory and written at most once a second with a write of the store.

A cache lookup is one ``SELECT`` queued on the writer (it joins the group commit's transaction of the
moment, as every write does: a read on the reader connection would cost each lookup a hop of its own,
measured dearer in docs/benchmarks.md, issue 16). What a hit changes (``hits`` and ``used_at``: statistics
for ``cache stats`` and the LRU order of a purge) waits here, summed per key, and rides on the first write
the store queues once the oldest has waited :data:`FLUSH_AFTER_S` or :data:`MAX_PENDING_KEYS` keys wait, in
that write's transaction (:func:`carrying`). Before, every lookup was an ``UPDATE ... RETURNING`` that
dirtied the entry's page in each transaction. Pending hits are lost if the process dies before they are
written (docs/caching.md); the store writes them before it closes, reads its stats or purges.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from lpe_nb.jobs.sqlite import _sql_cache

__all__ = ["FLUSH_AFTER_S", "MAX_PENDING_KEYS", "PendingHits", "carrying"]

T = TypeVar("T")

FLUSH_AFTER_S = 1.0  # the longest a hit waits for a write to carry it (when the store writes at all)
MAX_PENDING_KEYS = 1024  # a bound on memory: this many keys waiting are written with the next write


class PendingHits:
    """Per key: the hits not yet written and the latest ``used_at`` among them. Not thread-safe: used on
    the store's loop."""

    __slots__ = ("_by_key", "_since")

    def __init__(self) -> None:
        self._by_key: dict[str, tuple[int, str]] = {}
        self._since = 0.0  # time.monotonic() of the oldest pending hit

    def __len__(self) -> int:
        return len(self._by_key)

    def count(self, key: str, now: str) -> None:
        """One more hit of ``key``, used at ``now``."""
        self._add(key, 1, now)

    def take(self, *, due_only: bool) -> _sql_cache.Hits | None:
        """Every pending hit, in key order (the order their rows are updated), or None; none pending after.
        ``due_only``: None unless the oldest waited :data:`FLUSH_AFTER_S` or the keys reached the bound."""
        by_key = self._by_key
        if not by_key:
            return None
        if due_only and len(by_key) < MAX_PENDING_KEYS and time.monotonic() - self._since < FLUSH_AFTER_S:
            return None
        self._by_key = {}
        return sorted((key, n, used_at) for key, (n, used_at) in by_key.items())

    def put_back(self, hits: _sql_cache.Hits) -> None:
        """Pending again: ``hits`` were taken for a transaction that did not commit them."""
        for key, n, used_at in hits:
            self._add(key, n, used_at)

    def _add(self, key: str, n: int, used_at: str) -> None:
        held = self._by_key.get(key)
        if held is not None:
            self._by_key[key] = (held[0] + n, max(held[1], used_at))
            return
        if not self._by_key:
            self._since = time.monotonic()
        self._by_key[key] = (n, used_at)


def carrying(
    hits: _sql_cache.Hits, op: Callable[[sqlite3.Connection], T]
) -> Callable[[sqlite3.Connection], T]:
    """``op``, first writing ``hits`` in its transaction: undone with it if it raises (its savepoint)."""

    @functools.wraps(op)  # keeps op's name: bench/projection_cpu.py --writes counts writes by it
    def write(conn: sqlite3.Connection) -> T:
        _sql_cache.add_hits(conn, hits)
        return op(conn)

    return write
