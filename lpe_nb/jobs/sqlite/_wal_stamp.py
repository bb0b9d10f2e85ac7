"""Whether anything was committed to a WAL database since a moment, without a call into SQLite.

In WAL mode every commit, by any connection of any process, rewrites the wal-index header at the start of
the database's ``-shm`` file (https://www.sqlite.org/walformat.html, "The WAL-Index Header"): a change
counter bumped by each transaction, the last valid frame, the salts that a restarted WAL renews and a
checksum over them. The 48 bytes of its first copy are a stamp of the last commit: while they are the
same, nothing was committed. Reading them from a mapping of that file is a memory copy on the caller's
thread: no system call, no lock, no hop to a connection's thread, which a Jupyter server's loop under load
pays for in waits for the GIL (issue 15, docs/benchmarks.md).
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

__all__ = ["WalStamp"]

_HEADER_BYTES = 48  # one copy of the header; SQLite writes it twice and readers compare the copies
_WAL_INDEX_VERSION = 3007000  # its first field, in the machine's byte order (walformat.html)


class WalStamp:
    """The wal-index header of ``database``, read from a read-only mapping of ``<database>-shm``.

    Map it only while a connection of this process to the database is open, and close it before the
    last one: SQLite truncates the ``-shm`` file only when it finds no other connection using it (the
    process holds a shared lock on it while one does), and reading a mapping past the end of its file
    kills the process (SIGBUS).
    """

    def __init__(self, database: Path) -> None:
        # SQLite names the file after the database's real path (symbolic links resolved): so must this,
        # or a stale file of that name that no commit touches would look like a database never changed.
        self._shm = Path(f"{os.path.realpath(database)}-shm")
        self._map: mmap.mmap | None = None

    def open(self) -> None:
        """Map the header if the database has one (a WAL database a connection has read); else stay off."""
        self.close()
        # Not on Windows (no POSIX shared mapping; SQLite's locks on the file differ): every read goes to it.
        if not hasattr(mmap, "MAP_SHARED"):
            return
        try:
            fd = os.open(self._shm, os.O_RDONLY)
        except OSError:
            return
        try:
            if os.fstat(fd).st_size >= mmap.PAGESIZE:
                self._map = mmap.mmap(fd, mmap.PAGESIZE, mmap.MAP_SHARED, mmap.PROT_READ)
        except OSError:
            self._map = None
        finally:
            os.close(fd)
        if self._map is not None:
            version, _, _, initialised = struct.unpack_from("=IIIB", self._map)
            if version != _WAL_INDEX_VERSION or not initialised:  # not a header this code knows: stay off
                self.close()

    def read(self) -> bytes | None:
        """The header as it is now; None while not mapped (then nothing can be said about commits)."""
        return None if self._map is None else self._map[:_HEADER_BYTES]

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
