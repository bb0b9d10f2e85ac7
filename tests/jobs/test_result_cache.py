"""The manager's result cache (``manager.cache``) on a real SQLite file, with an injected clock: its age
bound holds at every read, and the retention purge applies the age and size bounds (docs/caching.md)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lpe_nb.errors import InvalidInput
from lpe_nb.jobs import JobManager, ManagerSettings
from lpe_nb.jobs.settings import CacheSettings

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


async def test_an_entry_past_the_age_bound_is_never_served_and_the_purge_deletes_it(db_path: Path) -> None:
    clock = Clock()
    settings = ManagerSettings(cache=CacheSettings(max_age_days=30), retention_days=None)
    async with JobManager.open(db_path, settings=settings, clock=clock) as manager:
        await manager.cache.put("old", "a reply")
        clock.now = START + timedelta(days=20)
        await manager.cache.put("young", "another reply")
        assert await manager.cache.get("old") == "a reply"
        clock.now = START + timedelta(days=31)
        assert await manager.cache.get("old") is None  # too old to serve, though still stored
        assert (await manager.cache.stats()).entries == 2
        await manager.purge_old_jobs()  # the retention purge: jobs (none kept forever here) and the cache
        stats = await manager.cache.stats()
        assert (stats.entries, stats.oldest_at) == (1, "2026-01-21T00:00:00.000000+00:00")
        assert await manager.cache.get("young") == "another reply"


async def test_the_purge_keeps_the_most_recently_used_within_the_size_bounds(db_path: Path) -> None:
    clock = Clock()
    settings = ManagerSettings(cache=CacheSettings(max_entries=None, max_bytes=2 * 1000))
    async with JobManager.open(db_path, settings=settings, clock=clock) as manager:
        for i in range(4):
            clock.now = START + timedelta(minutes=i)
            await manager.cache.put(f"k{i}", "x" * 1000)
        clock.now = START + timedelta(minutes=10)
        assert await manager.cache.get("k0") is not None  # used last: kept
        await manager.purge_old_jobs()
        kept = [key for key in ("k0", "k1", "k2", "k3") if await manager.cache.get(key) is not None]
    assert kept == ["k0", "k3"]


async def test_a_cache_turned_off_serves_and_stores_nothing_but_can_be_cleared(db_path: Path) -> None:
    async with JobManager.open(db_path, settings=ManagerSettings(cache=CacheSettings())) as manager:
        await manager.cache.put("k", "v")
    off = ManagerSettings(cache=CacheSettings(enabled=False))
    async with JobManager.open(db_path, settings=off) as manager:
        await manager.cache.put("other", "v")
        assert await manager.cache.get("k") is None
        stats = await manager.cache.stats()
        assert (stats.entries, stats.enabled) == (1, False)
        assert await manager.cache.clear() == 1


def test_the_settings_read_the_environment_and_name_a_bad_variable() -> None:
    settings = CacheSettings.from_env(
        {"LPE_LLM_CACHE": "0", "LPE_LLM_CACHE_MAX_AGE_DAYS": "none", "LPE_LLM_CACHE_MAX_MB": "1.5"}
    )
    assert settings == CacheSettings(enabled=False, max_age_days=None, max_bytes=1_572_864)
    assert CacheSettings.from_env({"LPE_LLM_CACHE": "0"}, enabled=True).enabled  # an override wins
    with pytest.raises(InvalidInput) as raised:
        CacheSettings.from_env({"LPE_LLM_CACHE_MAX_ENTRIES": "-3"})
    assert set(raised.value.fields) == {"LPE_LLM_CACHE_MAX_ENTRIES"}
    with pytest.raises(InvalidInput) as raised:
        CacheSettings.from_env({"LPE_LLM_CACHE": "sometimes"})
    assert set(raised.value.fields) == {"LPE_LLM_CACHE"}
    with pytest.raises(InvalidInput) as raised:
        CacheSettings(max_age_days=0)
    assert set(raised.value.fields) == {"max_age_days"}
