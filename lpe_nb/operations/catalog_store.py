"""The user catalog table: personas, namespaces and styles added by users, in the jobs' SQLite file.

All the catalog's SQL lives here. Each call opens a short connection and runs one transaction, so the
table can sit next to the job tables without sharing the job store's connections or writer task. Each
entry records who made it (``username``, the submitter of the configuration job; NULL for entries made
before issue 13 and for unknown users), for the servers that show each user only their own
(``docs/users.md``).
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiosqlite

from lpe_nb.errors import StoreError

__all__ = ["CatalogStore", "StoredEntry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS user_catalog (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    fields TEXT NOT NULL,
    created_at TEXT NOT NULL,
    username TEXT,
    PRIMARY KEY (kind, name)
)
"""
# A table made before issue 13 gets the column on first use (a few rows; no index needed).
_ADD_USERNAME = "ALTER TABLE user_catalog ADD COLUMN username TEXT"
_BUSY_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One row of ``user_catalog``; ``fields`` is the attribute's extra fields as JSON-ready data."""

    kind: str
    name: str
    description: str
    fields: dict[str, Any]
    created_at: str
    username: str | None = None  # who made it; None: unknown


class CatalogStore:
    """Reads and writes ``user_catalog`` in the SQLite file at ``path`` (created on first use)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    async def _connect(self) -> aiosqlite.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = await aiosqlite.connect(self.path, timeout=_BUSY_TIMEOUT_S)
            await conn.execute(_SCHEMA)
            columns = {row[1] for row in await conn.execute_fetchall("PRAGMA table_info(user_catalog)")}
            if "username" not in columns:
                await conn.execute(_ADD_USERNAME)
            await conn.commit()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the catalog table in {self.path}: {exc}") from exc
        return conn

    async def load(self) -> list[StoredEntry]:
        """Every user entry, oldest first."""
        conn = await self._connect()
        try:
            cursor = await conn.execute(
                "SELECT kind, name, description, fields, created_at, username FROM user_catalog "
                "ORDER BY created_at, kind, name"
            )
            rows = await cursor.fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the user catalog in {self.path}: {exc}") from exc
        finally:
            await conn.close()
        return [StoredEntry(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    async def save(
        self, kind: str, name: str, description: str, fields: dict[str, Any], *, username: str | None = None
    ) -> StoredEntry:
        """Insert or replace the entry ``(kind, name)``, made by ``username``, and return it as stored."""
        created_at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        conn = await self._connect()
        try:
            await conn.execute(
                "INSERT OR REPLACE INTO user_catalog (kind, name, description, fields, created_at, username) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (kind, name, description, json.dumps(fields, ensure_ascii=False), created_at, username),
            )
            await conn.commit()
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot save {kind} {name!r} to the user catalog in {self.path}: {exc}"
            ) from exc
        finally:
            await conn.close()
        return StoredEntry(kind, name, description, dict(fields), created_at, username)

    async def delete(self, kind: str, name: str) -> bool:
        """Remove a user entry; True when there was one."""
        conn = await self._connect()
        try:
            cursor = await conn.execute("DELETE FROM user_catalog WHERE kind = ? AND name = ?", (kind, name))
            await conn.commit()
            return (cursor.rowcount or 0) > 0
        except sqlite3.Error as exc:
            raise StoreError(f"cannot delete {kind} {name!r} from {self.path}: {exc}") from exc
        finally:
            await conn.close()
