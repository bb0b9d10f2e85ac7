from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from lpe_nb.errors import InvalidInput, JobNotFound, StoreError
from lpe_nb.jobs import JobRecord, JobStatus, JobStore, Progress
from lpe_nb.jobs.model import new_job_id, to_iso, utc_now
from lpe_nb.jobs.schema import SCHEMA_VERSION
from lpe_nb.jobs.store import LeaseLost

SEED_COLUMNS = [
    "id", "type", "status", "title", "description", "input_data", "result_data", "error_message",
    "progress", "created_at", "started_at", "completed_at",
]  # fmt: skip


def make_job(**overrides: object) -> JobRecord:
    now = to_iso(utc_now())
    values: dict[str, object] = {
        "id": new_job_id(), "type": "noop", "status": JobStatus.PENDING, "title": "t",
        "input_data": {}, "created_at": now, "updated_at": now,
    }  # fmt: skip
    values.update(overrides)
    return JobRecord(**values)  # type: ignore[arg-type]


def later(seconds: float = 60) -> str:
    from datetime import timedelta

    return to_iso(utc_now() + timedelta(seconds=seconds))


async def test_schema_has_the_seed_columns_wal_and_a_version(store: JobStore, db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(jobs)")]
        assert columns[: len(SEED_COLUMNS)] == SEED_COLUMNS
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_reopening_migrates_nothing_and_keeps_data(db_path: Path) -> None:
    job = make_job()
    async with JobStore(db_path) as store:
        await store.insert_job(job)
    async with JobStore(db_path) as store:
        assert (await store.get_job(job.id)).id == job.id


async def test_a_database_from_a_newer_version_is_refused(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this lpe-nb understands"):
        await JobStore(db_path).open()


async def test_synchronous_mode_is_validated_and_applied(db_path: Path) -> None:
    with pytest.raises(InvalidInput, match="synchronous"):
        JobStore(db_path, synchronous="OFF")  # type: ignore[arg-type]
    async with JobStore(db_path, synchronous="FULL") as store:
        assert await store._read(lambda c: c.execute("PRAGMA synchronous").fetchall()[0][0]) == 2


async def test_default_path_is_under_home_and_its_directory_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LPE_DB_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    async with JobStore() as store:
        assert store.path == tmp_path / ".lpe" / "jobs.db"
    assert (tmp_path / ".lpe" / "jobs.db").exists()


async def test_concurrent_writes_are_group_committed(store: JobStore) -> None:
    jobs = [make_job() for _ in range(200)]
    before = store.commits
    await asyncio.gather(*(store.insert_job(job) for job in jobs))
    assert store.commits - before < 50  # many state changes per transaction
    assert (await store.count_by_status())[JobStatus.PENDING] == 200


async def test_one_failing_write_in_a_group_does_not_undo_the_others(store: JobStore) -> None:
    dup = make_job()
    await store.insert_job(dup)
    others = [make_job() for _ in range(5)]
    results = await asyncio.gather(
        *(store.insert_job(j) for j in others[:2]), store.insert_job(dup), *(store.insert_job(j) for j in others[2:]),
        return_exceptions=True,
    )  # fmt: skip
    assert isinstance(results[2], sqlite3.IntegrityError)
    for job in others:
        assert (await store.get_job(job.id)).id == job.id


async def test_two_stores_claiming_the_same_file_never_get_the_same_job(db_path: Path) -> None:
    async with JobStore(db_path) as a, JobStore(db_path) as b:
        jobs = [make_job() for _ in range(60)]
        await asyncio.gather(*(a.insert_job(j) for j in jobs))
        claims = await asyncio.gather(
            *(store.claim_pending(name, to_iso(utc_now()), later(), 3) for _ in range(15) for name, store in (("a", a), ("b", b)))
        )  # fmt: skip
    ids = [job.id for claim in claims for job, _ in claim]
    assert len(ids) == len(set(ids)) == 60


async def test_a_late_writer_cannot_overwrite_a_terminal_state(store: JobStore) -> None:
    job = make_job()
    await store.insert_job(job)
    [(claimed, _)] = await store.claim_pending("me", to_iso(utc_now()), later(), 1)
    done = await store.finish(
        claimed, "me", JobStatus.COMPLETED, now=to_iso(utc_now()), seq=5, progress=Progress()
    )
    assert done.status is JobStatus.COMPLETED
    with pytest.raises(LeaseLost):
        await store.finish(claimed, "me", JobStatus.FAILED, now=to_iso(utc_now()), seq=6, progress=Progress())
    with pytest.raises(LeaseLost):
        await store.requeue(claimed, "me", now=to_iso(utc_now()), seq=7, refund_attempt=True)
    await store.save_progress([(job.id, "me", Progress(percentage=3.0), 8)], now=to_iso(utc_now()))
    final = await store.get_job(job.id)
    assert final.status is JobStatus.COMPLETED and final.progress.percentage == 0.0


async def test_only_the_lease_owner_can_finish_or_checkpoint(store: JobStore) -> None:
    from lpe_nb.jobs import StepRecord

    job = make_job()
    await store.insert_job(job)
    await store.claim_pending("owner", to_iso(utc_now()), later(), 1)
    with pytest.raises(LeaseLost):
        await store.finish(
            job, "intruder", JobStatus.COMPLETED, now=to_iso(utc_now()), seq=2, progress=Progress()
        )
    step = StepRecord(job.id, 0, "s", None, "out", {}, to_iso(utc_now()), to_iso(utc_now()), 1, 1)
    with pytest.raises(LeaseLost):
        await store.save_step(step, "intruder")
    await store.save_step(step, "owner")
    assert [s.output for s in await store.get_steps(job.id)] == ["out"]


async def test_unknown_ids_raise_job_not_found(store: JobStore) -> None:
    with pytest.raises(JobNotFound):
        await store.get_job("missing")
    with pytest.raises(JobNotFound):
        await store.request_cancel("missing", now=to_iso(utc_now()), actor="t")
    with pytest.raises(JobNotFound):
        await store.delete_job("missing")


async def test_operations_after_close_fail_clearly(db_path: Path) -> None:
    store = await JobStore(db_path).open()
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.insert_job(make_job())
