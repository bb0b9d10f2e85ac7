"""The SQLite backend of the job store: one file on one machine, over aiosqlite.

Open it with :func:`lpe_nb.jobs.open_store` (a path or ``sqlite:///...``). All of its SQL lives in this
package: the schema and migrations (``schema``), the writes (``_sql_jobs``, ``_sql_leases``), the reads
(``_sql_reads``), group commit (``_group_commit``), connections (``_connection``), rows (``_rows``) and
the dispatch lock file (``_lock``).
"""

from lpe_nb.jobs.sqlite._lock import FileDispatchLock
from lpe_nb.jobs.sqlite._store import SqliteJobStore

__all__ = ["FileDispatchLock", "SqliteJobStore"]
