"""A dashboard's repeated reads answered from memory while nothing was committed (issue 15): the commit
stamp moves with every commit of any connection of any process, and only then; a page of jobs and the
status counts asked again are read again only once something was committed, by this store or another
process."""

from __future__ import annotations

import asyncio
import mmap
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from lpe_nb.jobs import JobStatus, SqliteJobStore
from lpe_nb.jobs.sqlite._repeated_reads import RepeatedReads
from lpe_nb.jobs.sqlite._wal_stamp import WalStamp
from tests.jobs.records import make_job

REPO = Path(__file__).resolve().parents[2]


def wal_database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    assert conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    conn.execute("INSERT INTO t VALUES (1, 'a')")
    return conn


def commit_in_another_process(path: Path, sql: str) -> None:
    code = f"import sqlite3; c = sqlite3.connect({str(path)!r}, isolation_level=None); c.execute({sql!r})"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_stamp_moves_with_every_commit_and_only_then(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    conn = wal_database(path)
    stamp = WalStamp(path)
    stamp.open()
    seen = [stamp.read()]
    assert seen[0] is not None
    conn.execute("SELECT * FROM t").fetchall()
    assert stamp.read() == seen[0], "a read is not a commit"
    for i in range(40):
        conn.execute(f"UPDATE t SET v = '{i}' WHERE k = 1" if i % 2 else f"INSERT INTO t (v) VALUES ('{i}')")
        seen.append(stamp.read())
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the next commit starts the WAL over
    conn.execute("UPDATE t SET v = 'b' WHERE k = 1")
    seen.append(stamp.read())
    commit_in_another_process(path, "UPDATE t SET v = 'c' WHERE k = 1")
    seen.append(stamp.read())
    assert len(set(seen)) == len(seen), "each commit, of this process or another, gives a new stamp"
    stamp.stop()
    assert stamp.read() is None
    conn.close()
    stamp.release()


def test_no_stamp_without_a_wal_index(tmp_path: Path) -> None:
    path = tmp_path / "rollback.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE t (k INTEGER)")
    stamp = WalStamp(path)
    stamp.open()
    assert stamp.read() is None  # a rollback-journal database has no -shm: every read goes to the file
    conn.close()


async def test_without_a_stamp_every_read_goes_to_the_database(tmp_path: Path) -> None:
    reads = RepeatedReads(WalStamp(tmp_path / "never-opened.db"))
    calls = 0

    async def read() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert [await reads.read("k", read) for _ in range(3)] == [1, 2, 3]


def count_reads(store: SqliteJobStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A one-item list counting the store's hops to its reader connection from now on."""
    calls = [0]
    read = store._read

    def counted(fn: Callable[[sqlite3.Connection], Any]) -> Awaitable[Any]:
        calls[0] += 1
        return read(fn)

    monkeypatch.setattr(store, "_read", counted)
    return calls


async def test_a_page_and_the_counts_are_read_again_only_after_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "jobs.db"
    async with SqliteJobStore(path) as store:
        first = make_job()
        await store.insert_job(first)
        reads = count_reads(store, monkeypatch)

        page = await store.list_jobs(limit=10)
        counts = await store.count_by_status()
        assert [job.id for job in page] == [first.id] and counts[JobStatus.PENDING] == 1
        for _ in range(5):
            assert await store.list_jobs(limit=10) == page
            assert await store.count_by_status() == counts
        assert reads == [2], "asked six times each, read once each"

        running = await store.list_jobs(statuses=[JobStatus.RUNNING], limit=10)
        assert running == [] and reads == [3], "another filter is another read"

        mine = make_job(created_at="2026-01-01T00:00:01.000000+00:00")
        await store.insert_job(mine)  # this store's own commit
        assert [job.id for job in await store.list_jobs(limit=10)] == [mine.id, first.id]
        assert (await store.count_by_status())[JobStatus.PENDING] == 2
        assert reads == [5]

        # Another process commits: a job it inserts is in the next page and the next counts.
        theirs = make_job(created_at="2026-01-01T00:00:02.000000+00:00")
        code = (
            "import asyncio, sys; from lpe_nb.jobs import SqliteJobStore; from tests.jobs.records import make_job\n"
            "async def main():\n"
            "    async with SqliteJobStore(sys.argv[1]) as store:\n"
            "        await store.insert_job(make_job(id=sys.argv[2], created_at=sys.argv[3]))\n"
            "asyncio.run(main())\n"
        )
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", code, str(path), theirs.id, theirs.created_at],
            check=True,
            timeout=120,
            cwd=REPO,
        )
        assert [job.id for job in await store.list_jobs(limit=10)] == [theirs.id, mine.id, first.id]
        assert (await store.count_by_status())[JobStatus.PENDING] == 3
        assert reads == [7]


async def test_a_page_is_given_as_a_new_list(tmp_path: Path) -> None:
    async with SqliteJobStore(tmp_path / "jobs.db") as store:
        await store.insert_job(make_job())
        page = await store.list_jobs(limit=10)
        page.clear()  # the caller's list: what the store keeps is not changed
        assert len(await store.list_jobs(limit=10)) == 1
        counts = await store.count_by_status()
        counts.clear()
        assert (await store.count_by_status())[JobStatus.PENDING] == 1


async def test_the_least_recently_asked_reads_are_dropped_first() -> None:
    class StillStamp(WalStamp):
        def read(self) -> bytes | None:
            return b"same"

    reads = RepeatedReads(StillStamp(Path("unused")), max_kept=2)
    calls: list[str] = []

    def reader(key: str) -> Callable[[], Awaitable[str]]:
        async def read() -> str:
            calls.append(key)
            return key

        return read

    for key in ("a", "b", "a", "c", "a", "b"):
        assert await reads.read(key, reader(key)) == key
    assert calls == ["a", "b", "c", "b"], "b was the least recently asked when c came"
    assert reads.answered_from_memory == 2


async def test_with_repeat_reads_off_every_read_goes_to_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with SqliteJobStore(tmp_path / "jobs.db") as store:
        await store.insert_job(make_job())
        store.repeat_reads = False
        reads = count_reads(store, monkeypatch)
        for _ in range(3):
            await store.list_jobs(limit=10)
            await store.count_by_status()
        assert reads == [6] and store.reads_from_memory == 0
        store.repeat_reads = True
        for _ in range(3):
            await store.list_jobs(limit=10)
        assert reads == [7] and store.reads_from_memory == 2


def test_a_database_reached_through_a_symbolic_link_is_stamped_by_its_real_file(tmp_path: Path) -> None:
    real = tmp_path / "real.db"
    conn = wal_database(real)
    link = tmp_path / "link.db"
    link.symlink_to(real)
    other = wal_database(tmp_path / "other.db")  # a stale, valid wal-index named after the link
    (tmp_path / "link.db-shm").write_bytes((tmp_path / "other.db-shm").read_bytes())
    other.close()
    stamp = WalStamp(link)
    stamp.open()
    before = stamp.read()
    conn.execute("INSERT INTO t (v) VALUES ('moved')")
    assert before is not None and stamp.read() != before
    stamp.stop()
    conn.close()
    stamp.release()


def test_a_file_that_is_not_a_wal_index_gives_no_stamp(tmp_path: Path) -> None:
    (tmp_path / "odd.db-shm").write_bytes(b"\xff" * 65536)
    stamp = WalStamp(tmp_path / "odd.db")
    stamp.open()
    assert stamp.read() is None


class SettableStamp(WalStamp):
    def __init__(self) -> None:
        super().__init__(Path("unused"))
        self.now = b"1"

    def read(self) -> bytes | None:
        return self.now


def sized_reader(calls: list[str], key: str, size: int) -> Callable[[], Awaitable[list[str]]]:
    async def read() -> list[str]:
        calls.append(key)
        return [key] * size

    return read


async def test_only_the_answers_of_the_last_commit_are_kept_and_they_are_bounded_in_records() -> None:
    stamp = SettableStamp()
    reads = RepeatedReads(stamp, max_kept=8, max_kept_items=10)
    calls: list[str] = []
    await reads.read("a", sized_reader(calls, "a", 4))
    await reads.read("b", sized_reader(calls, "b", 4))
    assert reads.kept == (2, 8)
    await reads.read("c", sized_reader(calls, "c", 4))  # 12 records: the least recently asked goes
    assert reads.kept == (2, 8)
    await reads.read("b", sized_reader(calls, "b", 4))
    assert calls == ["a", "b", "c"]
    await reads.read("big", sized_reader(calls, "big", 11))  # more than the whole budget: not kept
    assert reads.kept == (2, 8)
    stamp.now = b"2"  # a commit: the first read after it drops what was kept
    await reads.read("d", sized_reader(calls, "d", 1))
    assert reads.kept == (1, 1)
    await reads.read("b", sized_reader(calls, "b", 4))
    assert calls == ["a", "b", "c", "big", "d", "b"]


async def test_an_answer_read_while_a_commit_came_is_not_given_again() -> None:
    stamp = SettableStamp()
    reads = RepeatedReads(stamp)
    calls: list[str] = []

    async def read_across_a_commit() -> list[str]:
        calls.append("a")
        stamp.now = b"2"  # committed while the read ran: it may or may not have seen it
        return ["a"]

    await reads.read("a", read_across_a_commit)
    await reads.read("a", sized_reader(calls, "a", 1))
    assert calls == ["a", "a"] and reads.answered_from_memory == 0


def test_without_posix_shared_mappings_there_is_no_stamp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = wal_database(tmp_path / "wal.db")
    monkeypatch.delattr(mmap, "MAP_SHARED")  # as on Windows
    stamp = WalStamp(tmp_path / "wal.db")
    stamp.open()
    assert stamp.read() is None
    conn.close()
    stamp.release()


LOCK_PROBE = """
import fcntl, os, sys
try:
    fd = os.open(sys.argv[1], os.O_RDWR)
except FileNotFoundError:  # the last connection's close removed it
    sys.exit(print("free"))
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)  # SQLite's 'in use' byte of the -shm (DMS)
except OSError:
    print("held")
else:
    print("free")
"""


async def test_the_store_keeps_sqlites_locks_on_the_file_it_maps(tmp_path: Path) -> None:
    """Closing any descriptor of a file drops every POSIX lock the process holds on it: a stamp that
    closed the one it mapped through dropped SQLite's "in use" lock on the -shm, and the next process to
    open the database truncated the file under this one's mapping (SIGBUS: a server killed by a peer)."""
    path = tmp_path / "jobs.db"

    async def probe() -> str:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", LOCK_PROBE, f"{path}-shm"],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return done.stdout.strip()

    first, second = SqliteJobStore(path), SqliteJobStore(path)
    async with first:
        assert first._stamp.read() is not None
        assert await probe() == "held"
        async with second:  # another store of this process on the file shares what the first opened
            assert await probe() == "held"
        assert await probe() == "held", "the second store's close kept the first's locks"
        await first.insert_job(make_job())
        assert [job.status for job in await first.list_jobs()] == [JobStatus.PENDING]
    assert await probe() == "free"
