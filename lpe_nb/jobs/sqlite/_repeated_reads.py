"""The answers of the reads a dashboard repeats, given again while nothing was committed since.

A page of jobs and the status counts are what every open dashboard, widget and ``lpe status`` polls,
many times between two commits. Each read is a hop to SQLite's reader thread and back; while a Jupyter
server's loop is saturated (300 WebSocket clients connecting at once, say) that hop waits for the GIL
several times and for the loop twice, and was most of a slow ``GET lpe/api/jobs`` (issue 15,
docs/benchmarks.md). The answer of such a read is kept with the database's commit stamp
(:class:`~lpe_nb.jobs.sqlite._wal_stamp.WalStamp`) taken *before* it was read, and given again while the
stamp is the same: no commit by any connection of any process since, so the database holds what it did.
A commit during the read changes the stamp, so such an answer is never given again. Without a stamp
(not mapped) every read goes to the database.

What is kept is shared by the callers it is given to: immutable records (``JobRecord`` is frozen; its
input and result are the caller's to read, not to change in place) in a new list or dict each time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from lpe_nb.jobs.sqlite._wal_stamp import WalStamp

__all__ = ["RepeatedReads"]

T = TypeVar("T")

MAX_KEPT = 32  # distinct reads kept (filters, pages, users), the least recently asked dropped first


class RepeatedReads:
    """Reads keyed by their arguments, answered from memory while ``stamp`` has not moved."""

    def __init__(self, stamp: WalStamp, *, max_kept: int = MAX_KEPT) -> None:
        self._stamp = stamp
        self._max_kept = max_kept
        self._kept: OrderedDict[Hashable, tuple[bytes, object]] = OrderedDict()
        self.answered_from_memory = 0  # for tests and benchmarks
        self.enabled = True  # False: every read goes to the database (a benchmark of the reads themselves)

    async def read(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """What ``read()`` returned for ``key`` if nothing was committed since, else ``read()`` now."""
        stamp = self._stamp.read() if self.enabled else None
        if stamp is None:
            return await read()
        kept = self._kept.get(key)
        if kept is not None and kept[0] == stamp:
            self._kept.move_to_end(key)
            self.answered_from_memory += 1
            answer: T = kept[1]  # type: ignore[assignment]  # stored by this method for this key
            return answer
        answer = await read()
        self._kept[key] = (stamp, answer)
        self._kept.move_to_end(key)
        if len(self._kept) > self._max_kept:
            self._kept.popitem(last=False)
        return answer

    def clear(self) -> None:
        self._kept.clear()
