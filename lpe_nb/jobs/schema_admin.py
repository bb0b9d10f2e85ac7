"""The job database's schema, for an admin: which version a database has, and bringing it up to date.

What ``python -m lpe_nb db check`` and ``db upgrade`` run, on either backend. A store also migrates when
it opens (SQLite always did; PostgreSQL does it under an advisory lock, so servers and workers starting
together never apply a migration twice), so ``db upgrade`` is for doing it deliberately, once, before
starting a new version on a shared database; ``db check`` says whether a database and this code agree,
without changing anything.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from lpe_nb.errors import StoreError
from lpe_nb.jobs.sqlite import schema as sqlite_schema
from lpe_nb.jobs.store import is_postgres_url, open_store

__all__ = ["SchemaStatus", "check_schema", "schema_status", "upgrade_schema"]


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """A database's schema version against the one this code needs."""

    location: str  # the file, or the URL without its password
    version: int  # 0: never migrated (or the file does not exist)
    needed: int

    @property
    def is_current(self) -> bool:
        return self.version == self.needed

    def describe(self) -> str:
        """One line saying where the database stands, and what to do about it if anything."""
        if self.version > self.needed:
            return (
                f"the job database {self.location} has schema version {self.version}, newer than this "
                f"lpe-nb understands ({self.needed}): upgrade lpe-nb, or point it at another database"
            )
        if self.version < self.needed:
            return (
                f"the job database {self.location} has schema version {self.version}, this lpe-nb needs "
                f"{self.needed}: run `python -m lpe_nb db upgrade`"
            )
        return f"the job database {self.location} has schema version {self.version}, as this lpe-nb needs"


async def schema_status(location: str | os.PathLike[str]) -> SchemaStatus:
    """The schema version of the database at ``location`` (a path or URL, as :func:`open_store` takes),
    read without changing anything. :class:`StoreError` if it cannot be reached."""
    if is_postgres_url(location):
        from lpe_nb.jobs.postgres import schema as pg_schema
        from lpe_nb.jobs.postgres._connection import connect, describe_error, redact

        url = str(location)
        try:
            conn = await connect(url)
        except Exception as exc:  # psycopg.Error, mostly; the message is the server's
            raise StoreError(f"cannot reach the job database {redact(url)}: {describe_error(exc)}") from exc
        try:
            version = await pg_schema.schema_version(conn)
        finally:
            await conn.close()
        return SchemaStatus(redact(url), version, pg_schema.SCHEMA_VERSION)
    path = Path(open_store(location).location)
    version = await asyncio.to_thread(_sqlite_version, path)
    return SchemaStatus(str(path), version, sqlite_schema.SCHEMA_VERSION)


async def check_schema(location: str | os.PathLike[str]) -> SchemaStatus:
    """:func:`schema_status`, raising :class:`StoreError` (with :meth:`SchemaStatus.describe`) unless the
    database is exactly at this code's version."""
    status = await schema_status(location)
    if not status.is_current:
        raise StoreError(status.describe())
    return status


async def upgrade_schema(location: str | os.PathLike[str]) -> tuple[int, SchemaStatus]:
    """Apply the missing migrations (as opening a store does); returns the version before, and the status
    after. :class:`StoreError` if the database is newer than this code or cannot be reached."""
    before = await schema_status(location)
    if before.version > before.needed:
        raise StoreError(before.describe())
    async with open_store(location):
        pass
    return before.version, await schema_status(location)


def _sqlite_version(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            ((version,),) = conn.execute("PRAGMA user_version").fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the job database {path}: {exc}") from exc
    return int(version)
