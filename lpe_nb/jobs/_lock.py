"""An exclusive, non-blocking lock file that says which process dispatches a database's jobs.

The OS releases it when the holder dies (even by SIGKILL), so a new manager can take over at once, and
the holder knows every running job owned by someone else is an orphan. ``flock`` locks belong to the open
file, so two managers in one process exclude each other too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

__all__ = ["DispatchLock"]

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


class DispatchLock:
    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".dispatch.lock")
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
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

    def release(self) -> None:
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
