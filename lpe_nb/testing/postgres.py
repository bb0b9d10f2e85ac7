"""A throwaway PostgreSQL server for tests and benchmarks: ``initdb`` + ``pg_ctl`` on a free loopback port.

The server's data lives in a temporary directory and goes with it; authentication is ``trust`` on
127.0.0.1 only and durability is off (``fsync=off``), so this is for tests, never for data. As root,
``initdb`` and ``pg_ctl`` refuse to run, so they run as the ``postgres`` user that Debian's package creates
(``runuser``). The binaries are found under ``/usr/lib/postgresql/<major>/bin`` (newest first), else on
``PATH``.

::

    with ThrowawayPostgres() as server:
        url = server.create_database("t1")   # postgresql://postgres@127.0.0.1:<port>/t1

Blocking (subprocesses and a synchronous connection): call it from a fixture or a script, not a coroutine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = [
    "PostgresUnavailable",
    "ThrowawayPostgres",
    "create_database",
    "create_schema",
    "drop_database",
    "drop_schema",
    "find_pg_bin",
]


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here (no binaries, no ``postgres`` user, initdb failed...)."""


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None."""
    candidates: list[Path] = []
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        majors = sorted(
            (p for p in root.iterdir() if p.name.isdigit()), key=lambda p: int(p.name), reverse=True
        )
        candidates += [major / "bin" for major in majors]
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ThrowawayPostgres:
    """One PostgreSQL server in a temporary directory; :meth:`start` it, :meth:`stop` it (or ``with``)."""

    def __init__(self, *, port: int | None = None, max_connections: int = 200) -> None:
        self.port = port
        self.max_connections = max_connections
        self._root: Path | None = None
        self._bin: Path | None = None
        self.url = ""  # of the `postgres` database, once started

    def _as_pg(self, args: Sequence[str]) -> list[str]:
        if os.geteuid() == 0:  # initdb and pg_ctl refuse root
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("running as root needs runuser to start PostgreSQL as `postgres`")
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def _run(self, args: Sequence[str], what: str) -> None:
        done = subprocess.run(self._as_pg(args), capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise PostgresUnavailable(f"{what} failed: {' / '.join(tail)}")

    def start(self) -> str:
        """initdb and start; returns the URL of the server's ``postgres`` database."""
        self._bin = find_pg_bin()
        if self._bin is None:
            raise PostgresUnavailable(
                "no PostgreSQL binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin or on PATH; "
                "install Debian's `postgresql` package or set LPE_TEST_PG_URL"
            )
        if os.geteuid() == 0:
            try:
                import pwd

                pg_user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable("running as root needs a `postgres` user to run initdb") from exc
        self._root = Path(tempfile.mkdtemp(prefix="lpe-pg-"))
        if os.geteuid() == 0:
            os.chown(self._root, pg_user.pw_uid, pg_user.pw_gid)
        self._root.chmod(0o700)
        data, sockets = self._root / "data", self._root / "sock"
        self._run(
            [str(self._bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--locale=C.UTF-8", "--no-sync"],
            "initdb",
        )  # fmt: skip
        self._run(["mkdir", "-m", "700", str(sockets)], "mkdir")
        self.port = self.port or _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {sockets} -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off -c max_connections={self.max_connections}"
        )
        self._run(
            [str(self._bin / "pg_ctl"), "-D", str(data), "-l", str(self._root / "postgres.log"), "-w",
             "-t", "60", "-o", options, "start"],
            "pg_ctl start",
        )  # fmt: skip
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        return self.url

    def stop(self) -> None:
        """Stop the server and delete its directory; does nothing if it was not started."""
        if self._root is None or self._bin is None:
            return
        try:
            if (self._root / "data" / "postmaster.pid").exists():
                self._run(
                    [
                        str(self._bin / "pg_ctl"),
                        "-D",
                        str(self._root / "data"),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ],
                    "pg_ctl stop",
                )
        finally:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _with_database(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def create_database(server_url: str, name: str, *, template: str = "template0") -> str:
    """``CREATE DATABASE name`` on the server of ``server_url`` (dropped first if it exists); its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        )
    return _with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """``DROP DATABASE IF EXISTS name WITH (FORCE)``: its connections are ended."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_schema(database_url: str, name: str) -> str:
    """``CREATE SCHEMA name`` in the database of ``database_url``; the URL of a connection whose
    ``search_path`` is that schema alone: a fresh, empty place for the job store (a few ms, where a new
    database costs a tenth of a second and more)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    parts = urlsplit(database_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-c search_path={name}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


# Sessions still holding locks on the schema's tables (a store a failed run did not close, say) are waited
# for this long, then ended: a throwaway schema is dropped either way, never waited on forever.
DROP_LOCK_WAIT = "2s"


def drop_schema(database_url: str, name: str) -> None:
    """``DROP SCHEMA IF EXISTS name CASCADE``, ending the sessions that hold locks on its tables if they do
    not let go within :data:`DROP_LOCK_WAIT`."""
    import psycopg
    from psycopg import sql

    drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(DROP_LOCK_WAIT)))
        try:
            conn.execute(drop)
        except psycopg.errors.LockNotAvailable:
            conn.execute(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l"
                " JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND l.pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute("SET lock_timeout = 0")
            conn.execute(drop)
