"""The SQLite backend's dispatch lock: an exclusive, non-blocking OS lock on a file beside the database.

The OS releases it when the holder dies (even by SIGKILL), so a new manager can take over at once, and
the holder knows every running job owned by someone else is an orphan. ``flock`` locks belong to the open
file, so two managers in one process exclude each other too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

__all__ = ["FileDispatchLock"]

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


class FileDispatchLock:
    """A :class:`~lpe_nb.jobs.store.DispatchLock` on ``<db file>.dispatch.lock``; the file holds the pid.

    Async to fit the protocol, but it never waits: ``flock`` with ``LOCK_NB`` returns at once.
    """

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".dispatch.lock")
        self._file: IO[str] | None = None

    async def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        # Opened on the loop, not a thread: a tiny local file, and a cancel during a thread hop would leave
        # the lock taken with no one to release it.
        handle = open(self.path, "a+")  # noqa: SIM115, ASYNC230 - held open for the lock's lifetime
        try:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:  # pragma: no cover - Windows
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    async def release(self) -> None:
        if self._file is None:
            return
        try:
            if fcntl is not None:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        finally:
            self._file.close()
            self._file = None

    @property
    def held(self) -> bool:
        return self._file is not None
