"""Connections to the PostgreSQL job database: the store's pool, and dedicated connections.

Every connection is in autocommit mode with dict rows; a store method that writes opens its own
transaction (``async with conn.transaction()``), so a connection goes back to the pool idle. A dedicated
connection (:func:`connect`) is for what must not share a pooled one: a session advisory lock (the dispatch
lock), and LISTEN (it must be read continuously and never run a transaction, or it holds back PostgreSQL's
notification queue for the whole cluster).

The URL is libpq's, so ``PG*`` environment variables, ``.pgpass``, service files and ``sslmode`` work as
admins know them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

__all__ = ["Connection", "connect", "describe_error", "make_pool", "redact"]

Connection = psycopg.AsyncConnection[DictRow]


def redact(url: str) -> str:
    """``url`` without its password, fit for a message."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<a PostgreSQL URL that does not parse>"
    if password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{password}@", ":***@", 1)).geturl()


def describe_error(exc: BaseException) -> str:
    """``exc``'s message on one line (libpq's span several: the error, then a hint)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def libpq_url(url: str) -> str:
    """``url`` as libpq takes it: SQLAlchemy's ``postgresql+psycopg://`` loses its driver suffix."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.lower() == "postgresql+psycopg" else url


async def connect(url: str, **kwargs: Any) -> Connection:
    """A dedicated autocommit connection with dict rows (close it yourself)."""
    return await psycopg.AsyncConnection.connect(
        libpq_url(url), autocommit=True, row_factory=dict_row, **kwargs
    )


def make_pool(url: str, *, min_size: int, max_size: int, name: str) -> AsyncConnectionPool[Connection]:
    """An unopened pool of autocommit connections with dict rows (``await pool.open(wait=True)``)."""
    return AsyncConnectionPool(
        libpq_url(url),
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "row_factory": dict_row},
        connection_class=psycopg.AsyncConnection[DictRow],
        open=False,
        name=name,
    )  # no check per checkout (a round trip each): a broken connection fails one call and is replaced
