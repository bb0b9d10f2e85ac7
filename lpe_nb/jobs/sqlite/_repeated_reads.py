"""The answers of the reads a dashboard repeats, given again while nothing was committed since.

A page of jobs and the status counts are what every open dashboard (a browser tab, a widget) asks,
many times between two commits. Each read is a hop to SQLite's reader thread and back; while a Jupyter
server's loop is saturated (300 WebSocket clients connecting at once, say) that hop waits for the GIL
several times and for the loop twice, and was most of a slow ``GET lpe/api/jobs`` (issue 15,
docs/benchmarks.md). The answer of such a read is kept with the database's commit stamp
(:class:`~lpe_nb.jobs.sqlite._wal_stamp.WalStamp`) taken *before* it was read, and given again while the
stamp is the same: no commit by any connection of any process since, so the database holds what it did.
A commit during the read changes the stamp, so such an answer is never given again. Without a stamp
(not mapped) every read goes to the database.

Only answers of the current stamp are kept: the first read after a commit drops the others, so what is
held is what was asked since the last commit, at most :data:`MAX_KEPT` reads and :data:`MAX_KEPT_ITEMS`
records in all (a dashboard paging through a quiet database 500 jobs at a time keeps its last few pages,
not the history). What is kept is shared by the callers it is given to: immutable records (``JobRecord``
is frozen; its input and result are the caller's to read, not to change in place), which the store hands
out in a new list or dict each time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sized
from typing import TypeVar

from lpe_nb.jobs.sqlite._wal_stamp import WalStamp

__all__ = ["RepeatedReads"]

T = TypeVar("T", bound=Sized)

MAX_KEPT = 32  # distinct reads kept (filters, pages, users), the least recently asked dropped first
MAX_KEPT_ITEMS = 2_000  # records (or counts) in all the kept answers together


class RepeatedReads:
    """Reads keyed by their arguments, answered from memory while ``stamp`` has not moved."""

    def __init__(
        self, stamp: WalStamp, *, max_kept: int = MAX_KEPT, max_kept_items: int = MAX_KEPT_ITEMS
    ) -> None:
        self._stamp = stamp
        self._max_kept, self._max_kept_items = max_kept, max_kept_items
        self._kept: OrderedDict[Hashable, Sized] = OrderedDict()  # the answers of ``_kept_stamp``
        self._kept_stamp: bytes | None = None
        self.answered_from_memory = 0  # for tests and benchmarks
        self.enabled = True  # False: every read goes to the database (a benchmark of the reads themselves)

    async def read(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """What ``read()`` returned for ``key`` if nothing was committed since, else ``read()`` now."""
        stamp = self._stamp.read() if self.enabled else None
        if stamp is None:
            return await read()
        if stamp != self._kept_stamp:  # something was committed: every kept answer is out of date
            self.clear()
            self._kept_stamp = stamp
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            self.answered_from_memory += 1
            answer: T = kept  # type: ignore[assignment]  # stored by this method for this key
            return answer
        answer = await read()
        if stamp == self._kept_stamp and len(answer) <= self._max_kept_items:  # else a commit came meanwhile
            self._keep(key, answer)
        return answer

    def _keep(self, key: Hashable, answer: Sized) -> None:
        self._kept[key] = answer
        self._kept.move_to_end(key)
        while len(self._kept) > self._max_kept or self._items() > self._max_kept_items:
            self._kept.popitem(last=False)  # the least recently asked

    def _items(self) -> int:
        return sum(map(len, self._kept.values()))

    @property
    def kept(self) -> tuple[int, int]:
        """How many answers are kept, and how many records (or counts) they hold together."""
        return len(self._kept), self._items()

    def clear(self) -> None:
        self._kept.clear()
        self._kept_stamp = None
