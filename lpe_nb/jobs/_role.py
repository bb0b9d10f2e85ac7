"""DispatchRole: whether a manager dispatches its database's jobs, and taking the role over when it is free.

One process per SQLite file dispatches: whoever holds the store's dispatch lock. With ``dispatch=True`` a
manager must get it (else :class:`~lpe_nb.errors.DispatcherBusy`); with ``False`` it never tries; with
``"auto"`` it takes it if free and otherwise runs as a *peer* (submit, read, cancel and watch all work) that
tries again every ``poll_interval_s``. On a store whose ``concurrent_dispatch`` is true (PostgreSQL) there
is no lock to take: every manager with ``dispatch`` ``True`` or ``"auto"`` dispatches at once. The OS frees the lock when its holder exits, even by SIGKILL, so a
surviving peer takes over within one interval, recovers the jobs the old dispatcher left running, and
dispatches. Not thread-safe: use it on the manager's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal, TypeAlias

from lpe_nb.errors import DispatcherBusy, InvalidInput
from lpe_nb.jobs.settings import ManagerSettings
from lpe_nb.jobs.store import DispatchLock

__all__ = ["DispatchMode", "DispatchRole"]

log = logging.getLogger("lpe_nb.jobs.manager")  # the manager's logger

DispatchMode: TypeAlias = bool | Literal["auto"]
"""``True``: dispatch or fail; ``False``: never dispatch; ``"auto"``: dispatch when no one else does."""


class DispatchRole:
    """The dispatch lock of one manager, taken per its mode; ``begin`` starts dispatching once it is held.

    ``begin`` runs with the lock held (recovery first: every running job is then an orphan); if it fails,
    the lock is released.
    """

    def __init__(
        self,
        lock: DispatchLock,
        mode: DispatchMode,
        settings: ManagerSettings,
        *,
        location: str,
        begin: Callable[[], Awaitable[None]],
        concurrent: bool = False,
    ) -> None:
        if mode not in (True, False, "auto"):
            raise InvalidInput.field("dispatch", f"must be True, False or 'auto', not {mode!r}")
        self.mode = mode
        self.settings = settings
        self.location = location
        self._lock = lock
        self._begin = begin
        self.concurrent = concurrent  # any number of managers may dispatch: no lock to hold
        self._dispatching = False
        self._takeover: asyncio.Task[None] | None = None

    @property
    def dispatching(self) -> bool:
        """Whether this manager dispatches now (it holds the lock and has started)."""
        return self._dispatching

    async def start(self) -> None:
        """Take the role per the mode; in ``"auto"`` mode without it, keep trying in the background."""
        if self.concurrent:
            if self.mode is not False:
                await self._become_dispatcher()
            return
        if self.mode is True:
            await self._acquire_or_fail()
        elif self.mode == "auto" and not await self._lock.try_acquire():
            log.info(
                "another process dispatches the jobs of %s: this one is a peer (it submits, reads, cancels "
                "and watches) and takes over if that process exits",
                self.location,
            )
            self._takeover = asyncio.create_task(self._take_over_when_free(), name="lpe-takeover")
            return
        if self._lock.held:
            await self._become_dispatcher()

    async def stop(self) -> None:
        """Stop trying to take over. The caller stops dispatching, then calls :meth:`release`."""
        task, self._takeover = self._takeover, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def release(self) -> None:
        self._dispatching = False
        await self._lock.release()

    async def _acquire_or_fail(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.wait_for_dispatcher_s
        while not await self._lock.try_acquire():
            if loop.time() >= deadline:
                raise DispatcherBusy(self.location)
            await asyncio.sleep(0.1)  # polling another process's lock: there is nothing to await

    async def _become_dispatcher(self) -> None:
        try:
            await self._begin()
        except BaseException:
            await self._lock.release()
            raise
        self._dispatching = True

    async def _take_over_when_free(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_interval_s)  # another process's lock: nothing to await
            if not await self._lock.try_acquire():
                continue
            log.info(
                "took over dispatching the jobs of %s: the process that dispatched them has exited",
                self.location,
            )
            try:
                await self._become_dispatcher()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The lock is released again; a peer (this one included) tries again next interval.
                log.exception("taking over the jobs of %s failed; retrying", self.location)
                continue
            return
