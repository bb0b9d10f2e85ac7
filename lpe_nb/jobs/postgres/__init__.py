"""The PostgreSQL backend of the job store: one database shared by many processes and machines, over
psycopg 3 (``pip install "lpe-nb[postgres]"``).

Open it with :func:`lpe_nb.jobs.open_store` and a ``postgresql://`` URL. All of its SQL lives in this
package: the schema and migrations (``schema``), the writes (``_sql_jobs``, ``_sql_leases``), the reads
(``_sql_reads``), what other processes changed (``_sql_changes``), connections (``_connection``), rows
(``_rows``) and the dispatch lock (``_lock``).
"""

from lpe_nb.jobs.postgres._lock import AdvisoryDispatchLock
from lpe_nb.jobs.postgres._store import PgJobStore

__all__ = ["AdvisoryDispatchLock", "PgJobStore"]
