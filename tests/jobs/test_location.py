"""Where the SQLite file may live: network file systems are refused, unwritable places give one clear line
(issue 14, items 1 and 6). Tests run as root in CI, where mode bits stop nothing: the failures here are
ones root meets too (a file where a directory should be, a file that is not a database, a read-only mount)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lpe_nb.errors import StoreError
from lpe_nb.jobs import open_store
from lpe_nb.jobs.sqlite import _location
from lpe_nb.jobs.sqlite._location import ALLOW_NETWORK_FS_ENV, network_fs_type

REPO = Path(__file__).resolve().parents[2]

MOUNTS = textwrap.dedent(
    r"""
    /dev/vda / ext4 rw,relatime 0 0
    proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
    fileserver:/export/home /home nfs4 rw,relatime,vers=4.2,rsize=1048576 0 0
    /dev/vdb /home/alice/scratch xfs rw,relatime 0 0
    //nas/share /mnt/my\040share cifs rw,relatime,vers=3.0 0 0
    alice@box:/data /mnt/box fuse.sshfs rw,nosuid,nodev,relatime 0 0
    drvfs /mnt/c 9p rw,noatime,dirsync,aname=drvfs 0 0
    /dev/vdc /home2 ext4 rw,relatime 0 0
    """
)


# -- network file systems -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/home/alice/.lpe", "nfs4"),
        ("/home", "nfs4"),  # the mount point itself
        ("/home/alice/scratch/jobs", None),  # a local disk mounted inside the network one
        ("/home2/alice", None),  # /home is not a prefix of /home2
        ("/mnt/my share/lpe", "cifs"),  # \040 in the table is a space
        ("/mnt/box/x", "fuse.sshfs"),
        ("/mnt/c/Users/alice", "9p"),
        ("/var/lib/lpe", None),
    ],
)
def test_the_file_system_of_a_path_is_the_longest_mount_point_above_it(
    path: str, expected: str | None
) -> None:
    assert network_fs_type(path, MOUNTS) == expected


def test_a_later_mount_on_the_same_point_hides_the_earlier_one() -> None:
    table = "server:/x /data nfs rw 0 0\n/dev/vdd /data ext4 rw 0 0\n"
    assert network_fs_type("/data/jobs.db", table) is None
    assert network_fs_type("/data/jobs.db", "\n".join(reversed(table.splitlines()))) == "nfs"


def test_the_mount_table_of_this_machine_can_be_read() -> None:
    if not Path("/proc/self/mounts").exists():
        pytest.skip("no /proc/self/mounts here")
    table = _location.read_mount_table()
    assert table is not None
    assert "/" in [line.split()[1] for line in table.splitlines() if len(line.split()) > 2]


def mounted_over_nfs(directory: Path) -> str:
    """A mount table in which ``directory`` is an NFS mount."""
    return f"/dev/vda / ext4 rw 0 0\nfiler:/vol {directory.resolve()} nfs4 rw 0 0\n"


async def test_a_database_on_a_network_file_system_is_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_NETWORK_FS_ENV, raising=False)
    table = mounted_over_nfs(tmp_path)
    monkeypatch.setattr(_location, "read_mount_table", lambda: table)
    with pytest.raises(StoreError) as raised:
        async with open_store(tmp_path / "jobs.db"):
            pass
    message = str(raised.value)
    assert "network file system (nfs4)" in message
    assert "local disk" in message and "LPE_DB_PATH" in message and ALLOW_NETWORK_FS_ENV in message
    assert not (tmp_path / "jobs.db").exists()  # refused before SQLite touched it

    monkeypatch.setenv(ALLOW_NETWORK_FS_ENV, "1")  # for people who know what they do
    async with open_store(tmp_path / "jobs.db") as store:
        assert await store.list_jobs() == []


# -- places that cannot be written ----------------------------------------------------------------------------


async def test_a_directory_that_cannot_be_created_is_one_store_error_naming_path_and_fix(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a file where a directory should be")  # mkdir fails even for root
    with pytest.raises(StoreError) as raised:
        async with open_store(blocker / ".lpe" / "jobs.db"):
            pass
    message = str(raised.value)
    assert str(blocker / ".lpe") in message and "LPE_DB_PATH" in message
    assert isinstance(raised.value.__cause__, OSError)


async def test_an_unusable_home_gives_the_same_clear_error_for_the_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.write_text("not a directory")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("LPE_DB_PATH", raising=False)
    with pytest.raises(StoreError, match=r"cannot create the directory .*home/\.lpe.*LPE_DB_PATH"):
        async with open_store():
            pass


def test_a_directory_this_user_cannot_write_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mode bits do not stop root, so ask as if they did: access() is what the check consults."""
    monkeypatch.setattr("os.access", lambda path, mode: False)
    with pytest.raises(StoreError, match=r"is not writable by this user; set LPE_DB_PATH"):
        _location.prepare_location(tmp_path / "jobs.db")


def run_python(code: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout_s, cwd=REPO,
    )  # fmt: skip


OPEN_AND_REPORT = """
    import asyncio, sys
    from lpe_nb.errors import StoreError
    from lpe_nb.jobs import open_store

    async def main() -> None:
        async with open_store(sys.argv[1]):
            pass

    try:
        asyncio.run(main())
    except StoreError as exc:
        print(exc)
    else:
        print("opened")
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["not a database", "a directory"])
def test_a_failed_open_leaves_no_thread_behind_to_hang_or_print_a_traceback(
    tmp_path: Path, kind: str
) -> None:
    """aiosqlite's worker thread of a failed connection outlived the loop: the process hung at exit, or a
    thread printed 'RuntimeError: Event loop is closed'."""
    db = tmp_path / "jobs.db"
    if kind == "a directory":
        db.mkdir()  # the connection itself fails
    else:
        db.write_bytes(b"not a database " * 200)  # the connection opens; its first PRAGMA fails
    done = run_python(OPEN_AND_REPORT.replace("sys.argv[1]", repr(str(db))))
    assert done.returncode == 0
    assert done.stdout.startswith(f"cannot open the job database {db}")
    assert done.stderr == ""


@pytest.mark.slow
def test_a_database_on_a_read_only_mount_gives_one_line_and_nothing_after(tmp_path: Path) -> None:
    """A real read-only bind mount, in a mount namespace of its own (skipped where that is not allowed)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1)")
    directory = tmp_path / "ro"
    directory.mkdir()
    script = tmp_path / "open.py"
    script.write_text(textwrap.dedent(OPEN_AND_REPORT))
    probe = subprocess.run(
        [unshare, "-rm", "true"], capture_output=True, text=True, timeout=30, check=False
    )  # user and mount namespaces: root is not needed
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.strip()}")
    run_python(OPEN_AND_REPORT.replace("sys.argv[1]", repr(str(directory / "jobs.db"))))  # create it
    shell = (
        f"mount --bind {directory} {directory} && mount -o remount,ro,bind {directory} && "
        f"exec {sys.executable} {script} {directory / 'jobs.db'}"
    )
    done = subprocess.run(
        [unshare, "-rm", "sh", "-c", shell], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    if "mount:" in done.stderr:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    assert done.stdout.strip().splitlines() == [
        f"cannot write the job database {directory / 'jobs.db'}: {directory} is on a read-only file system; "
        f"{_location._FIX}"
    ]
    assert done.returncode == 0 and done.stderr == ""
