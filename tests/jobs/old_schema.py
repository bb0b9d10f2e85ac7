"""A SQLite job database as it was just before one schema migration, for tests of that migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lpe_nb.jobs.sqlite.schema import MIGRATIONS, apply_migration


def database_before(path: Path, marker: str) -> tuple[sqlite3.Connection, int]:
    """A connection to a new database at ``path`` migrated up to (not including) the first migration whose
    SQL contains ``marker``, and that migration's version."""
    version = next(i for i, m in enumerate(MIGRATIONS) if isinstance(m, str) and marker in m)
    conn = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:version]:
        apply_migration(conn, step)
    conn.execute(f"PRAGMA user_version = {version}")
    return conn, version
