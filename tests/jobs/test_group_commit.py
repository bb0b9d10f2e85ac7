"""The SQLite store's group-commit writer: savepoints per write, a failing write undoes only itself, and
``stop`` commits everything queued before it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiosqlite
import pytest

from lpe_nb.errors import StoreError
from lpe_nb.jobs.sqlite._connection import connect, hop
from lpe_nb.jobs.sqlite._group_commit import GroupCommitWriter


@pytest.fixture
async def conn(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    connection = await connect(tmp_path / "w.db", busy_timeout_ms=1000, synchronous="NORMAL")
    await connection.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    try:
        yield connection
    finally:
        await connection.close()


def _insert(k: int) -> Callable[[sqlite3.Connection], int]:
    def op(c: sqlite3.Connection) -> int:
        c.execute("INSERT INTO t (k) VALUES (?)", (k,))
        return k

    return op


def _insert_then_fail(k: int) -> Callable[[sqlite3.Connection], None]:
    def op(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t (k) VALUES (?)", (k,))
        raise ValueError(f"op {k} failed after writing")

    return op


async def _keys(conn: aiosqlite.Connection) -> list[int]:
    return await hop(conn, lambda c: [k for (k,) in c.execute("SELECT k FROM t ORDER BY k")])


async def test_a_failing_write_alone_in_its_transaction_leaves_nothing(conn: aiosqlite.Connection) -> None:
    writer = GroupCommitWriter(Path("w.db"))
    writer.start(conn, max_batch=16)
    try:
        with pytest.raises(ValueError, match="op 1 failed"):
            await writer.submit(_insert_then_fail(1))
        assert await writer.submit(_insert(2)) == 2
    finally:
        await writer.stop()
    assert await _keys(conn) == [2]
    assert not conn._conn.in_transaction


async def test_a_failing_write_among_others_undoes_only_itself(conn: aiosqlite.Connection) -> None:
    writer = GroupCommitWriter(Path("w.db"))
    writer.start(conn, max_batch=16)
    try:
        outcomes = await asyncio.gather(
            writer.submit(_insert(1)),
            writer.submit(_insert_then_fail(2)),
            writer.submit(_insert(3)),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
    assert outcomes[0] == 1 and outcomes[2] == 3
    assert isinstance(outcomes[1], ValueError)
    assert writer.commits == 1  # all three in one transaction
    assert await _keys(conn) == [1, 3]


async def test_stop_commits_every_write_queued_before_it(conn: aiosqlite.Connection) -> None:
    writer = GroupCommitWriter(Path("w.db"))
    writer.start(conn, max_batch=4)  # several transactions' worth
    writes = [asyncio.ensure_future(writer.submit(_insert(k))) for k in range(10)]
    await asyncio.sleep(0)  # every write queued
    await writer.stop()
    assert [w.result() for w in writes] == list(range(10))
    assert await _keys(conn) == list(range(10))


async def test_a_write_after_stop_is_refused(conn: aiosqlite.Connection) -> None:
    writer = GroupCommitWriter(Path("w.db"))
    writer.start(conn, max_batch=4)
    await writer.stop()
    with pytest.raises(StoreError, match="not open"):
        await writer.submit(_insert(1))


async def test_the_authors_of_a_big_transaction_resume_a_few_per_loop_iteration(
    conn: aiosqlite.Connection,
) -> None:
    """Each author goes on with its job when its write commits; 150 of them in one iteration held a
    Jupyter server's loop ~35 ms (issue 16), so they resume over several iterations, in order."""
    loop = asyncio.get_running_loop()
    iteration = 0
    ticker: asyncio.Handle | None = None

    def count_iterations() -> None:  # a callback that re-queues itself runs once per iteration
        nonlocal iteration, ticker
        iteration += 1
        ticker = loop.call_soon(count_iterations)

    resumed_in: list[tuple[int, int]] = []  # (iteration, key), as the authors resume

    async def author(k: int) -> None:
        await writer.submit(_insert(k))
        resumed_in.append((iteration, k))

    writer = GroupCommitWriter(Path("w.db"))
    writer.start(conn, max_batch=1000)
    count_iterations()
    try:
        await asyncio.gather(*(author(k) for k in range(150)))
    finally:
        assert ticker is not None
        ticker.cancel()
        await writer.stop()

    assert writer.commits == 1  # one transaction still
    per_iteration = Counter(i for i, _ in resumed_in)
    assert max(per_iteration.values()) <= 32, per_iteration
    assert [k for _, k in resumed_in] == list(range(150))  # in the order they wrote
    assert await _keys(conn) == list(range(150))
