"""ResultCache: the engine's cache of step results (LLM completions) in the job store, with its bounds.

The values are opaque text under keys someone else computes (the LLM layer hashes a request); this module
only applies :class:`~lpe_nb.jobs.settings.CacheSettings`: nothing is served or stored while the cache is
off, an entry older than ``max_age_days`` is never served, and :meth:`ResultCache.purge` (run with the
retention purge) deletes the old entries and evicts the least recently used past the size bounds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta

from lpe_nb.jobs._store_common import CacheStats
from lpe_nb.jobs.model import to_iso
from lpe_nb.jobs.settings import CacheSettings
from lpe_nb.jobs.store import JobStore

__all__ = ["CacheStats", "ResultCache"]


class ResultCache:
    """Get, put, clear, purge and count the cached results of one store, as ``settings`` bound them.

    Safe to use from any task on the store's loop; every method is one store transaction.
    """

    def __init__(self, store: JobStore, settings: CacheSettings, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.settings = settings
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def _oldest_allowed(self, now: datetime) -> str | None:
        days = self.settings.max_age_days
        return None if days is None else to_iso(now - timedelta(days=days))

    async def get(self, key: str) -> str | None:
        """The value stored under ``key``, unless it is older than ``max_age_days`` or the cache is off."""
        if not self.enabled:
            return None
        now = self._clock()
        return await self.store.cache_get(key, created_after=self._oldest_allowed(now) or "", now=to_iso(now))

    async def put(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` now (nothing while the cache is off)."""
        if self.enabled:
            await self.store.cache_put(key, value, now=to_iso(self._clock()))

    async def clear(self) -> int:
        """Delete every entry, whether the cache is on or off; returns how many."""
        return await self.store.cache_clear()

    async def purge(self) -> int:
        """Delete the entries past ``max_age_days``, then the least recently used past ``max_entries`` or
        ``max_bytes``; returns how many were deleted."""
        settings = self.settings
        return await self.store.cache_purge(
            created_before=self._oldest_allowed(self._clock()),
            max_entries=settings.max_entries,
            max_bytes=settings.max_bytes,
        )

    async def stats(self) -> CacheStats:
        """What the cache holds, with the bounds in force."""
        held = await self.store.cache_stats()
        settings = self.settings
        return dataclasses.replace(
            held,
            enabled=settings.enabled,
            max_entries=settings.max_entries,
            max_bytes=settings.max_bytes,
            max_age_days=settings.max_age_days,
        )
