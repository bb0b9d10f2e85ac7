"""The user catalog's SQL (table ``user_catalog``): list, save (owner-checked), delete.

Plain functions of a ``sqlite3.Connection``; the writes run inside the writer's group-commit transaction.
``fields`` is JSON text. Rows made before the table was a migration (by the catalog's own SQLite file
code, issue 13 and earlier) are the same rows: the migration adopted the table as it was.
"""

from __future__ import annotations

import json
import sqlite3

from lpe_nb.jobs._store_common import CatalogRow

__all__ = ["delete", "entries", "revision", "save"]

_COLUMNS = "kind, name, description, fields, created_at, username"


def _entry(row: sqlite3.Row | tuple[object, ...]) -> CatalogRow:
    kind, name, description, fields, created_at, username = tuple(row)
    return CatalogRow(
        str(kind), str(name), str(description), json.loads(str(fields)), str(created_at),
        None if username is None else str(username),
    )  # fmt: skip


def revision(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT revision FROM user_catalog_revision").fetchone()[0])


def _bump(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE user_catalog_revision SET revision = revision + 1")


def entries(conn: sqlite3.Connection) -> list[CatalogRow]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM user_catalog ORDER BY created_at, kind, name").fetchall()
    return [_entry(row) for row in rows]


def save(conn: sqlite3.Connection, entry: CatalogRow, fields_json: str) -> bool:
    # The upsert's WHERE leaves another user's row alone (IS: NULL matches NULL), and then changes nothing.
    cursor = conn.execute(
        f"INSERT INTO user_catalog ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (kind, name) DO UPDATE SET description = excluded.description, "
        "fields = excluded.fields, created_at = excluded.created_at "
        "WHERE user_catalog.username IS excluded.username",
        (entry.kind, entry.name, entry.description, fields_json, entry.created_at, entry.username),
    )
    if cursor.rowcount != 1:
        return False
    _bump(conn)
    return True


def delete(conn: sqlite3.Connection, kind: str, name: str, username: str | None) -> CatalogRow | None:
    mine = "" if username is None else " AND username = ?"
    params = (kind, name) if username is None else (kind, name, username)
    row = conn.execute(
        f"DELETE FROM user_catalog WHERE kind = ? AND name = ?{mine} RETURNING {_COLUMNS}", params
    ).fetchone()
    if row is None:
        return None
    _bump(conn)
    return _entry(row)
