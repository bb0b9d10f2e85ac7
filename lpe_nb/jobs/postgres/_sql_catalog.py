"""The PostgreSQL job store's user catalog (table ``user_catalog``): list, save (owner-checked), delete.

The same statements as SQLite's; ``fields`` is ``json`` (psycopg hands it back parsed) and ``created_at``
a ``timestamptz``.
"""

from __future__ import annotations

from typing import Any

from lpe_nb.jobs._store_common import CatalogRow
from lpe_nb.jobs.model import to_iso
from lpe_nb.jobs.postgres._connection import Connection

__all__ = ["delete", "entries", "revision", "save"]

_COLUMNS = "kind, name, description, fields, created_at, username"


def _entry(row: dict[str, Any]) -> CatalogRow:
    return CatalogRow(
        row["kind"], row["name"], row["description"], dict(row["fields"]), to_iso(row["created_at"]),
        row["username"],
    )  # fmt: skip


async def revision(conn: Connection) -> int:
    cur = await conn.execute("SELECT revision FROM user_catalog_revision")
    row = await cur.fetchone()
    assert row is not None  # the migration inserts the one row
    return int(row["revision"])


async def _bump(conn: Connection) -> None:
    # The row lock orders concurrent catalog writes (rare): each commit shows a new revision.
    await conn.execute("UPDATE user_catalog_revision SET revision = revision + 1")


async def entries(conn: Connection) -> list[CatalogRow]:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM user_catalog ORDER BY created_at, kind, name")
    return [_entry(row) for row in await cur.fetchall()]


async def save(conn: Connection, entry: CatalogRow, fields_json: str) -> bool:
    # The upsert's WHERE leaves another user's row alone (NULL matches NULL), and then changes nothing.
    cur = await conn.execute(
        f"INSERT INTO user_catalog ({_COLUMNS}) VALUES (%s, %s, %s, %s::json, %s::timestamptz, %s) "
        "ON CONFLICT (kind, name) DO UPDATE SET description = excluded.description, "
        "fields = excluded.fields, created_at = excluded.created_at "
        "WHERE user_catalog.username IS NOT DISTINCT FROM excluded.username",
        (entry.kind, entry.name, entry.description, fields_json, entry.created_at, entry.username),
    )
    if cur.rowcount != 1:
        return False
    await _bump(conn)
    return True


async def delete(conn: Connection, kind: str, name: str, username: str | None) -> CatalogRow | None:
    mine = "" if username is None else " AND username = %s"
    params = (kind, name) if username is None else (kind, name, username)
    cur = await conn.execute(
        f"DELETE FROM user_catalog WHERE kind = %s AND name = %s{mine} RETURNING {_COLUMNS}", params
    )
    row = await cur.fetchone()
    if row is None:
        return None
    await _bump(conn)
    return _entry(row)
