"""Fixtures every test directory may use: a real PostgreSQL server, and a fresh place on it per test.

``$LPE_TEST_PG_URL`` (a server URL; ``.ci/run`` starts one) is used if set; otherwise one throwaway server
(:class:`lpe_nb.testing.postgres.ThrowawayPostgres`) starts the first time a test asks for it and stops at
the end of the session. The session creates one database of its own on that server (and drops it at the
end); each test gets a new schema in it (:func:`postgres_url`), or a whole new database
(:func:`postgres_database_url`) when it needs one. Where no server can be had, PostgreSQL tests skip with
the reason, except when ``$CI`` is set: there they fail, so CI never passes by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from lpe_nb.testing.postgres import (
    PostgresUnavailable,
    ThrowawayPostgres,
    create_database,
    create_schema,
    drop_database,
    drop_schema,
)


def _unavailable(reason: str) -> None:
    message = f"no PostgreSQL for this test: {reason}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so PostgreSQL tests must run, not skip)", pytrace=False)
    pytest.skip(message)


def _new_name() -> str:
    return f"lpe_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server's ``postgres`` database, where tests may create databases."""
    try:
        import psycopg  # noqa: F401  # the postgres extra
    except ImportError:
        _unavailable("psycopg is not installed: pip install -e '.[test]'")
    given = os.environ.get("LPE_TEST_PG_URL")
    if given:
        yield given
        return
    server = ThrowawayPostgres()
    try:
        server.start()
    except PostgresUnavailable as exc:
        server.stop()
        _unavailable(str(exc))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_session_database(postgres_server: str) -> Iterator[str]:
    """This session's own database on the server, dropped at the end."""
    name = _new_name()
    url = create_database(postgres_server, name)
    yield url
    drop_database(postgres_server, name)


@pytest.fixture
def postgres_url(postgres_session_database: str) -> Iterator[str]:
    """A URL whose connections see only a new, empty schema (dropped afterwards)."""
    name = _new_name()
    url = create_schema(postgres_session_database, name)
    yield url
    drop_schema(postgres_session_database, name)


@pytest.fixture
def postgres_database_url(postgres_server: str) -> Iterator[str]:
    """A new, empty database of its own (dropped afterwards, its connections ended)."""
    name = _new_name()
    url = create_database(postgres_server, name)
    yield url
    drop_database(postgres_server, name)
