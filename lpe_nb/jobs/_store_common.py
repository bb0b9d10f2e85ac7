"""What the store protocol and every backend share: durability, recovery's outcome, the default file.

Apart from ``store.py`` so that a backend can import it without importing
:func:`~lpe_nb.jobs.store.open_store`, which imports the backends (no import cycle). Elsewhere, import
these names from :mod:`lpe_nb.jobs.store`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lpe_nb.jobs.model import JobRecord, JobStatus

__all__ = [
    "USAGE_COLUMNS",
    "CacheStats",
    "CatalogRow",
    "JobChanges",
    "Recovered",
    "Synchronous",
    "WorkerRecord",
    "default_db_path",
    "usage_count",
]

# The usage keys every backend keeps as integer columns of job_steps (and summed on jobs) for analytics;
# the usage JSON stays the step's record of them.
USAGE_COLUMNS = ("prompt_tokens", "completion_tokens", "total_tokens", "llm_calls", "cache_hits")

Synchronous = Literal["NORMAL", "FULL"]
"""How hard a commit waits for the disk: ``FULL`` survives a power cut, ``NORMAL`` a process crash."""


@dataclass(frozen=True, slots=True)
class Recovered:
    """A running job whose owner died, and what recovery made of it."""

    job: JobRecord
    action: JobStatus  # PENDING (will resume), FAILED (attempts used up) or CANCELLED (cancel was asked)


@dataclass(frozen=True, slots=True)
class JobChanges:
    """The jobs whose state moved since a cursor, oldest change first, and the cursor to pass next time.

    ``cursor`` is opaque: each backend has its own; hand it back to the same store's ``changed_since`` as is.
    """

    jobs: list[JobRecord]
    cursor: object


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A process that dispatches jobs, as its heartbeat row in ``lpe_workers`` says.

    ``owner`` is its lease owner (the name on the jobs it runs); ``kind`` what it is (``worker`` for
    ``python -m lpe_nb worker``, ``jupyter-server``, ``engine`` for an embedded one); ``types`` the job
    types it claims (None: every type). ``last_seen`` moves at each of its lease heartbeats.
    """

    owner: str
    kind: str
    host: str
    pid: int
    version: str
    concurrency: int
    types: tuple[str, ...] | None
    started_at: str
    last_seen: str

    def is_stale(self, seen_before: str) -> bool:
        """Whether its last heartbeat is older than ``seen_before`` (a stored timestamp): probably dead."""
        return self.last_seen < seen_before


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What the result cache holds: entries, their stored size, the hits they answered, the oldest and
    newest entry's ``created_at`` (None when empty); the bounds in force are filled in by the manager."""

    entries: int = 0
    size_bytes: int = 0
    hits: int = 0
    oldest_at: str | None = None
    newest_at: str | None = None
    enabled: bool | None = None
    max_entries: int | None = None
    max_bytes: int | None = None
    max_age_days: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """A user catalog entry as stored: a persona, namespace or style a configuration job saved.

    ``fields`` is the entry's extra fields (JSON-ready); ``username`` is who made it (None: unknown, as for
    entries made before issue 13).
    """

    kind: str
    name: str
    description: str
    fields: dict[str, Any]
    created_at: str
    username: str | None = None


def usage_count(usage: dict[str, Any], key: str) -> int:
    """A step's usage figure as its integer column holds it: anything but an int counts 0."""
    value = usage.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def default_db_path() -> Path:
    """``$LPE_DB_PATH`` if set, else ``~/.lpe/jobs.db``."""
    return Path(os.environ.get("LPE_DB_PATH") or Path.home() / ".lpe" / "jobs.db").expanduser()
