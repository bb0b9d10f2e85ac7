"""Group commit: the job store's one writer task, which commits many queued writes in one transaction.

Every write is a plain function of a ``sqlite3.Connection``. The writer takes everything queued at that
moment and runs it in *one* ``BEGIN IMMEDIATE`` transaction (one fsync for many state changes); one failing
operation does not undo the others (see :func:`_run_batch`). A whole transaction runs in
one hop to aiosqlite's thread. Not thread-safe: submit writes on the event loop that started the writer.

A write costs the event loop one future and a list append: the queue is a plain deque with one wake-up
event, not an ``asyncio.Queue`` (whose ``put`` is a coroutine per write; profiled in docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from lpe_nb.errors import StoreError
from lpe_nb.jobs.sqlite import _counts
from lpe_nb.jobs.sqlite._connection import hop

__all__ = ["GroupCommitWriter"]

T = TypeVar("T")
_GATHER_TICKS = 4
# The authors of a transaction's writes resume at most this many per loop iteration: each goes on with its
# job (~0.25 ms: the next step, its LLM call), and 150 of them at once held the loop ~35 ms, every socket
# of a Jupyter server waiting (bench/llm_concurrency.py, issue 16).
_RESUMED_PER_TICK = 32


@dataclass(slots=True)
class _Write:
    op: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]


class GroupCommitWriter:
    """Runs the writes submitted to it on one connection, as many as are queued per transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path  # named in errors
        self.commits = 0  # transactions committed; group commit makes this < writes
        self._pending: deque[_Write] = deque()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, conn: aiosqlite.Connection, *, max_batch: int) -> None:
        """Start the writer task on ``conn``, with at most ``max_batch`` writes per transaction."""
        self._stopping = False
        self._loop = asyncio.get_running_loop()  # each submit's future is of it (one lookup, not one each)
        self._task = asyncio.create_task(
            self._write_loop(conn, max_batch), name=f"lpe-store-writer:{self.path}"
        )

    async def stop(self) -> None:
        """Commit every write queued so far, then end the writer task."""
        try:
            if self._task is not None:
                self._stopping = True
                self._wake.set()
                await self._task
        finally:
            self._task = None

    async def submit(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Queue ``op``; returns what it returned once its transaction committed, or raises what it raised.

        A ``sqlite3.Error`` that fails the whole transaction is raised as :class:`StoreError`.
        """
        if self._task is None or self._stopping or self._loop is None:
            raise StoreError("the job store is not open; use `async with open_store(...)`")
        future: asyncio.Future[T] = self._loop.create_future()
        self._pending.append(_Write(op, future))
        self._wake.set()
        return await future

    async def _write_loop(self, conn: aiosqlite.Connection, max_batch: int) -> None:
        pending = self._pending
        while True:
            if not pending:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            # A few loop ticks for the tasks this write's author woke (a dispatcher claiming the freed
            # slot, sibling jobs finishing) to queue their writes too: they join this transaction.
            for _ in range(_GATHER_TICKS):
                await asyncio.sleep(0)
            batch = [pending.popleft() for _ in range(min(max_batch, len(pending)))]
            try:
                outcomes = await hop(conn, functools.partial(_run_batch, batch=batch))
                self.commits += 1
            except sqlite3.Error as exc:
                error = StoreError(f"writing to the job database {self.path} failed: {exc}")
                outcomes = [(False, error)] * len(batch)
            for index, (write, (ok, value)) in enumerate(zip(batch, outcomes, strict=True)):
                if index and index % _RESUMED_PER_TICK == 0:
                    await asyncio.sleep(0)  # these authors run in this tick, the next ones in the next
                if write.future.done():  # the caller gave up waiting; the write stands
                    continue
                if ok:
                    write.future.set_result(value)
                else:
                    write.future.set_exception(value)


def _run_batch(conn: sqlite3.Connection, batch: list[_Write]) -> list[tuple[bool, Any]]:
    """Runs on the connection's thread.

    Writes rarely fail (a lost lease, a cancel of a finished job), so the batch first runs without a
    savepoint per write (two statements fewer each). If one raises, the whole transaction is rolled back
    and the batch runs again with a savepoint per write, so only the failing one is undone. Running a
    write twice is safe: every write is a function of the database alone (its arguments were fixed when
    it was queued), and the rollback put the database back where the first run found it.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        try:
            outcomes: list[tuple[bool, Any]] = [(True, write.op(conn)) for write in batch]
        except Exception as exc:
            _counts.discard_moves(conn)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if len(batch) == 1:
                return [(False, exc)]
            conn.execute("BEGIN IMMEDIATE")
            outcomes = _run_isolated(conn, batch)
        _counts.apply_moves(conn)  # the status counters, once per transaction (see _counts)
        conn.execute("COMMIT")
    except BaseException:
        _counts.discard_moves(conn)
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


def _run_isolated(conn: sqlite3.Connection, batch: list[_Write]) -> list[tuple[bool, Any]]:
    """Each write in its own savepoint: one that raises is undone alone."""
    outcomes: list[tuple[bool, Any]] = []
    for write in batch:
        conn.execute("SAVEPOINT op")
        moves = _counts.snapshot(conn)
        try:
            outcomes.append((True, write.op(conn)))
        except Exception as exc:
            conn.execute("ROLLBACK TO op")
            _counts.restore(conn, moves)
            outcomes.append((False, exc))
        conn.execute("RELEASE op")
    return outcomes
