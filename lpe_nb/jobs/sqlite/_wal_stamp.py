"""Whether anything was committed to a WAL database since a moment, without a call into SQLite.

In WAL mode every commit, by any connection of any process, rewrites the wal-index header at the start of
the database's ``-shm`` file (https://www.sqlite.org/walformat.html, "The WAL-Index Header"): a change
counter bumped by each transaction, the last valid frame, the salts that a restarted WAL renews and a
checksum over them. The 48 bytes of its first copy are a stamp of the last commit: while they are the
same, nothing was committed. Reading them from a mapping of that file is a memory copy on the caller's
thread: no system call, no lock, no hop to a connection's thread, which a Jupyter server's loop under load
pays for in waits for the GIL (issue 15, docs/benchmarks.md).

Two rules of POSIX files make the mapping's lifetime matter:

- *Closing any descriptor of a file drops every lock the process holds on it* (``fcntl`` locks), SQLite's
  included: its shared lock on the ``-shm`` that tells other processes the file is in use, and its read
  locks on the WAL. A descriptor opened here (and the copy Python's ``mmap`` keeps) is therefore closed
  only once the store's own connections are closed, and is shared by every store of this process on the
  same file, closed with the last of them.
- *Reading a mapping past the end of its file kills the process* (SIGBUS), and SQLite truncates the
  ``-shm`` when it finds nobody using it: so the header is read only while the store's connections are
  open, and that lock held.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass

__all__ = ["WalStamp"]

_HEADER_BYTES = 48  # one copy of the header; SQLite writes it twice and readers compare the copies
_WAL_INDEX_VERSION = 3007000  # its first field, in the machine's byte order (walformat.html)


@dataclass(eq=False)
class _OpenShm:
    """A ``-shm`` file held open for this process's stores on one database, and its mapping if it has one."""

    fd: int
    mapping: mmap.mmap | None
    users: int = 0


_OPEN: dict[str, _OpenShm] = {}  # by the -shm file's real path


class WalStamp:
    """The wal-index header of ``database``, read from a read-only mapping of ``<database>-shm``.

    :meth:`open` once the store's connections are open, :meth:`stop` before they close, :meth:`release`
    after (see the module doc for why in that order).
    """

    def __init__(self, database: os.PathLike[str] | str) -> None:
        # SQLite names the file after the database's real path (symbolic links resolved): so must this,
        # or a stale file of that name that no commit touches would look like a database never changed.
        self._shm = f"{os.path.realpath(database)}-shm"
        self._held: _OpenShm | None = None  # this stamp's share of _OPEN[self._shm]
        self._reading: mmap.mmap | None = None  # its mapping while the header may be read

    def open(self) -> None:
        """Map the header if the database has one (a WAL database a connection has read); else stay off."""
        # Not on Windows (no POSIX shared mapping; SQLite's locks on the file differ): every read goes to it.
        if self._held is not None or not hasattr(mmap, "MAP_SHARED"):
            return
        held = _OPEN.get(self._shm)
        if held is None:
            try:
                fd = os.open(self._shm, os.O_RDONLY)
            except OSError:
                return
            held = _OPEN[self._shm] = _OpenShm(fd, _map_header(fd))
        held.users += 1
        self._held = held
        if held.mapping is not None and _is_wal_index(held.mapping):
            self._reading = held.mapping

    def read(self) -> bytes | None:
        """The header as it is now; None when it cannot be read (then nothing can be said about commits)."""
        return None if self._reading is None else self._reading[:_HEADER_BYTES]

    def stop(self) -> None:
        """No more reads: the store's connections are about to close."""
        self._reading = None

    def release(self) -> None:
        """This store's connections are closed: the last store of this process on the file closes it."""
        self._reading = None
        held, self._held = self._held, None
        if held is None:
            return
        held.users -= 1
        if held.users == 0:
            del _OPEN[self._shm]
            if held.mapping is not None:
                held.mapping.close()
            os.close(held.fd)


def _map_header(fd: int) -> mmap.mmap | None:
    try:
        if os.fstat(fd).st_size >= mmap.PAGESIZE:
            return mmap.mmap(fd, mmap.PAGESIZE, mmap.MAP_SHARED, mmap.PROT_READ)
    except OSError:
        pass
    return None


def _is_wal_index(mapping: mmap.mmap) -> bool:
    """Whether the mapped file starts with a header SQLite initialised, in a version this code knows."""
    version, _, _, initialised = struct.unpack_from("=IIIB", mapping)
    return bool(version == _WAL_INDEX_VERSION and initialised)
