"""The result cache's hits, counted in memory and written with the writer's next transaction.

A cache lookup is a read on the reader connection; what a hit changes (``hits`` and ``used_at``, statistics
for ``cache stats`` and the LRU order of a purge) waits here, per key, and rides on the next write the
store queues, in that write's transaction (:func:`carrying`). A projection's five lookups were five awaited
writer transactions before (docs/benchmarks.md, issue 16). Pending hits are lost if the process dies before
that write commits (docs/caching.md); the store writes them before it closes, reads its stats, purges or
clears.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from lpe_nb.jobs.sqlite import _sql_cache

__all__ = ["MAX_PENDING_KEYS", "PendingHits", "carrying"]

T = TypeVar("T")

# Past this many keys with pending hits, the lookup that adds one writes them at once (a bound on memory
# for a process that only reads the cache; a running job writes long before).
MAX_PENDING_KEYS = 1024


class PendingHits:
    """Per key: the hits not yet written and the latest ``used_at`` among them. Not thread-safe: used on
    the store's loop."""

    __slots__ = ("_by_key",)

    def __init__(self) -> None:
        self._by_key: dict[str, tuple[int, str]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def count(self, key: str, now: str) -> bool:
        """One more hit of ``key``, used at ``now``; True when the pending keys reached the bound."""
        held = self._by_key.get(key)
        self._by_key[key] = (1, now) if held is None else (held[0] + 1, max(held[1], now))
        return len(self._by_key) >= MAX_PENDING_KEYS

    def take(self) -> _sql_cache.Hits | None:
        """Every pending hit, in key order (the order their rows are updated), or None; now none pending."""
        if not self._by_key:
            return None
        taken = sorted((key, n, used_at) for key, (n, used_at) in self._by_key.items())
        self._by_key = {}
        return taken

    def put_back(self, hits: _sql_cache.Hits) -> None:
        """Pending again: ``hits`` were taken for a transaction that did not commit them."""
        for key, n, used_at in hits:
            held = self._by_key.get(key)
            self._by_key[key] = (n, used_at) if held is None else (held[0] + n, max(held[1], used_at))


def carrying(
    hits: _sql_cache.Hits, op: Callable[[sqlite3.Connection], T]
) -> Callable[[sqlite3.Connection], T]:
    """``op``, first writing ``hits`` in its transaction: undone with it if it raises (its savepoint)."""

    @functools.wraps(op)  # keeps op's name: bench/projection_cpu.py --writes counts writes by it
    def write(conn: sqlite3.Connection) -> T:
        _sql_cache.add_hits(conn, hits)
        return op(conn)

    return write
