"""A page of jobs read from SQLite as one row (``_sql_reads.jobs_in_one_row``): the same records as read row
by row, for every kind of listing; and one result row whatever the page's size (issue 15: each row of a
result is a wait for the GIL while the server's loop is busy)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lpe_nb.jobs import JobStatus, SqliteJobStore
from lpe_nb.jobs.model import Progress
from lpe_nb.jobs.sqlite._rows import row_to_job
from lpe_nb.jobs.sqlite._sql_reads import list_jobs, list_jobs_query
from tests.jobs.records import at, make_job

# What a column can hold that JSON could spell differently: floats that need 17 digits, tiny and huge
# ones, whole ones, NULL; text with quotes, escapes, control characters and non-ASCII; nested JSON.
COSTS = [0.1 + 0.2, 1e-300, 123456789.12345679, 5.0, None, 2.5e300, 0.0]
TEXTS = ["plain", 'quote " and \\ backslash', "tab\tnew\nline\x01", "ünïcødé ✓ 漢字", '{"looks": "json"}']


@pytest.fixture
async def database(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.db"
    async with SqliteJobStore(path) as store:
        for i in range(60):
            text = TEXTS[i % len(TEXTS)]
            await store.insert_job(
                make_job(
                    type=("projection", "translation")[i % 2],
                    status=list(JobStatus)[i % len(JobStatus)],
                    title=text,
                    description=None if i % 3 else text,
                    input_data={"text": text, "n": i, "nested": [1, {"x": None}]},
                    result_data=None if i % 4 else {"ok": text, "f": 0.1 + 0.2},
                    progress=Progress(
                        current_step=text, total_steps=3, completed_steps=i % 4, details={"t": text}
                    ),
                    created_at=at(i // 2),  # pairs share a moment: the id breaks the tie
                    updated_at=at(i),
                    priority=(i % 7) - 3,
                    username=("ana", "bo", None)[i % 3],
                    cost_usd=COSTS[i % len(COSTS)],
                    depends_on=(),
                )
            )
    return path


def row_by_row(conn: sqlite3.Connection, **query: Any) -> list[Any]:
    sql, params = list_jobs_query(**query)
    return [row_to_job(row) for row in conn.execute(sql, params)]


QUERIES: list[dict[str, Any]] = [
    {"statuses": [], "job_type": None, "limit": 50, "before": None},
    {"statuses": [], "job_type": None, "limit": 7, "before": (at(20), "f")},
    {"statuses": [JobStatus.COMPLETED], "job_type": None, "limit": 50, "before": None},
    {
        "statuses": [JobStatus.PENDING, JobStatus.FAILED],
        "job_type": "translation",
        "limit": 5,
        "before": None,
    },
    {"statuses": [], "job_type": None, "limit": 50, "before": None, "username": "ana"},
    {"statuses": [JobStatus.RUNNING], "job_type": None, "limit": 3, "before": None, "username": "bo"},
    {"statuses": [], "job_type": "nothing-of-this-type", "limit": 50, "before": None},
]


@pytest.mark.parametrize("query", QUERIES)
async def test_a_page_read_as_one_row_is_the_page_read_row_by_row(
    database: Path, query: dict[str, Any]
) -> None:
    conn = sqlite3.connect(database)
    conn.row_factory = sqlite3.Row
    try:
        expected = row_by_row(conn, **query)
        assert list_jobs(conn, **query) == expected
        assert [job.cost_usd for job in expected] == [job.cost_usd for job in list_jobs(conn, **query)]
    finally:
        conn.close()


class StoreLikeConnection(sqlite3.Connection):
    """A subclass, as the store's connections are: its columns are remembered (a plain one's are not)."""


async def test_a_page_is_one_statement_with_one_result_row_however_many_jobs_it_holds(database: Path) -> None:
    conn = sqlite3.connect(database, factory=StoreLikeConnection)
    conn.row_factory = sqlite3.Row
    statements: list[str] = []
    try:
        list_jobs(conn, statuses=[], job_type=None, limit=50, before=None)  # the columns, read once
        conn.set_trace_callback(statements.append)
        page = list_jobs(conn, statuses=[], job_type=None, limit=50, before=None)
    finally:
        conn.close()
    assert len(page) == 50
    assert len(statements) == 1 and statements[0].startswith("SELECT json_group_array("), statements
