"""``python -m lpe_nb db check|upgrade``: the job database's schema version, for an admin.

``check`` prints one line and exits 0 when the database and this lpe-nb agree, 1 (with one line on stderr)
when it is behind (run ``db upgrade``), ahead (upgrade lpe-nb) or unreachable. ``upgrade`` applies the
missing migrations, under PostgreSQL's advisory lock, and says from which version to which.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from lpe_nb.embedded import DB_URL_ENV, resolve_db_path
from lpe_nb.errors import StoreError
from lpe_nb.jobs.schema_admin import check_schema, upgrade_schema

__all__ = ["add_db_command", "run_db"]

EXIT_SCHEMA = 1


def add_db_command(commands: Any) -> None:
    db = commands.add_parser(
        "db",
        help="the job database's schema: check it, or upgrade it to this lpe-nb's",
        description="check: say whether the database's schema version is the one this lpe-nb needs (exit 1 "
        "if not). upgrade: apply the missing migrations (a server or worker also applies them when it "
        "opens the database; on a shared PostgreSQL run it once, before starting the new version).",
    )
    db.add_argument("action", choices=("check", "upgrade"))
    db.add_argument(
        "--db-url",
        default=argparse.SUPPRESS,  # given before `db` or after it, either works
        metavar="URL",
        help="the database as a URL, over --db-path: postgresql://user@host/db or sqlite:///path "
        f"(default ${DB_URL_ENV})",
    )


def run_db(args: argparse.Namespace) -> int:
    location = args.db_url or os.environ.get(DB_URL_ENV, "").strip() or resolve_db_path(args.db_path)
    try:
        if args.action == "check":
            print(asyncio.run(check_schema(location)).describe())
        else:
            before, after = asyncio.run(upgrade_schema(location))
            if before == after.version:
                print(f"{after.describe()}; nothing to do")
            else:
                print(
                    f"upgraded the job database {after.location} from schema version {before} to {after.version}"
                )
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SCHEMA
    return 0
