"""Where the SQLite file can live: a local directory this process can write. Checked when the store opens.

A bad place then gives one :class:`~lpe_nb.errors.StoreError` that names the path and the fix, rather than
a bare ``PermissionError`` or SQLite's "unable to open database file". A network file system is refused
outright: SQLite's locks and WAL shared memory do not work across machines (https://sqlite.org/wal.html),
so jobs could run twice or the file be corrupted. Set ``LPE_ALLOW_NETWORK_FS=1`` to open it anyway.
"""

from __future__ import annotations

import os
from pathlib import Path

from lpe_nb.errors import StoreError

__all__ = [
    "ALLOW_NETWORK_FS_ENV",
    "NETWORK_FS_TYPES",
    "network_fs_type",
    "prepare_location",
    "read_mount_table",
]

ALLOW_NETWORK_FS_ENV = "LPE_ALLOW_NETWORK_FS"

# File system types (as /proc/mounts names them) whose files live on another machine, or behind a
# user-space bridge to one.
NETWORK_FS_TYPES = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "ncpfs", "afs", "coda", "9p", "v9fs",
        "ceph", "glusterfs", "lustre", "gpfs", "beegfs", "ocfs2", "gfs2", "davfs", "sshfs",
        "fuse.sshfs", "fuse.glusterfs", "fuse.ceph", "fuse.cephfs", "fuse.s3fs", "fuse.gcsfuse",
        "fuse.rclone", "fuse.davfs2", "fuse.juicefs", "fuse.goofys", "fuse.blobfuse", "fuse.blobfuse2",
    }
)  # fmt: skip

_FIX = "set LPE_DB_PATH (or the Jupyter server's --LpeExtensionApp.db_path) to a file in a writable local directory"


def read_mount_table() -> str | None:
    """This process's mount table in ``/proc/mounts`` format, or None where there is none (not Linux)."""
    for name in ("/proc/self/mounts", "/proc/mounts"):
        try:
            with open(name, encoding="utf-8", errors="replace") as table:
                return table.read()
        except OSError:
            continue
    return None


def network_fs_type(path: str | os.PathLike[str], mounts: str) -> str | None:
    """The type of the network file system holding ``path``, per the mount table ``mounts`` (the text of
    ``/proc/mounts``), or None if it is local or not in the table. ``path`` should be absolute and resolved.

    The mount whose point is the longest prefix of ``path`` holds it (the last one listed wins a tie, as
    the kernel stacks mounts).
    """
    target = os.path.normpath(os.fspath(path))
    best_point, best_type = "", ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point, fs_type = _unescape(fields[1]), fields[2]
        if _contains(point, target) and len(point) >= len(best_point):
            best_point, best_type = point, fs_type
    return best_type if best_type.lower() in NETWORK_FS_TYPES else None


def prepare_location(db_path: Path) -> None:
    """Create the database's directory and check it is local and writable; :class:`StoreError` if not."""
    directory = db_path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the directory {directory} for the job database {db_path}: "
            f"{exc.strerror or exc}; {_FIX}"
        ) from exc
    if not directory.is_dir():
        raise StoreError(f"cannot use {directory} for the job database {db_path}: not a directory; {_FIX}")
    _check_local(db_path)
    for place in (directory, db_path):
        if place.exists() and not os.access(place, os.W_OK):
            # access() says EROFS even to root on a read-only mount, and the mode bits to anyone else
            why = "is on a read-only file system" if _read_only(place) else "is not writable by this user"
            raise StoreError(f"cannot write the job database {db_path}: {place} {why}; {_FIX}")


def _check_local(db_path: Path) -> None:
    if os.environ.get(ALLOW_NETWORK_FS_ENV, "").strip() not in ("", "0"):
        return
    mounts = read_mount_table()
    if mounts is None:
        return  # no mount table to read (not Linux): nothing to check against
    fs_type = network_fs_type(db_path.parent.resolve(), mounts)
    if fs_type is not None:
        raise StoreError(
            f"the job database {db_path} is on a network file system ({fs_type}), where SQLite's locks do "
            "not hold: jobs could run twice or the file be corrupted. Use a path on a local disk "
            "(set LPE_DB_PATH, or the server's db_path), or, once the PostgreSQL backend is available, a "
            f"postgresql:// URL in LPE_DB_URL; {ALLOW_NETWORK_FS_ENV}=1 opens it anyway"
        )


def _contains(point: str, target: str) -> bool:
    if point == "/":
        return target.startswith("/")
    return target == point or target.startswith(point.rstrip("/") + "/")


def _unescape(field: str) -> str:
    r"""/proc/mounts writes a space as \040, a tab as \011, a newline as \012 and a backslash as \134."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        chunk = field[i + 1 : i + 4]
        if field[i] == "\\" and len(chunk) == 3 and all(c in "01234567" for c in chunk):
            out.append(chr(int(chunk, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _read_only(place: Path) -> bool:
    try:
        return bool(os.statvfs(place).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # statvfs is POSIX only
        return False
