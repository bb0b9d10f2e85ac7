""":func:`connect` and :func:`aconnect`: a client of the right server, or of this process's engine."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any

from lpe_nb.embedded import DB_URL_ENV, resolve_db_path
from lpe_nb.errors import LpeError
from lpe_nb.jobs.store import open_store

from ._async_client import AsyncClient
from ._discovery import ServerTarget, discover
from ._sync import Client

__all__ = ["aconnect", "connect"]

log = logging.getLogger("lpe_nb.client")
_told_embedded: set[str] = set()
_told_lock = threading.Lock()


async def aconnect(
    url: str | None = None,
    token: str | None = None,
    *,
    embedded: bool | None = None,
    db_path: str | os.PathLike[str] | None = None,
    db_url: str | None = None,
    **engine_options: Any,
) -> AsyncClient:
    """An :class:`AsyncClient`; the server is found as :func:`~lpe_nb.client.discover` says.

    Without one (or with ``embedded=True``) jobs run in this process on ``db_url`` (else ``$LPE_DB_URL``:
    ``postgresql://...`` or ``sqlite:///...``) or ``db_path`` (``~/.lpe/jobs.db`` or ``$LPE_DB_PATH``); that
    is logged once at INFO. An explicit ``db_url`` skips the search for a server unless ``url`` is given.
    Every embedded client of a database in this process, sync or async, uses the same engine.
    """
    target = _target(url, token, embedded, db_path, db_url)
    if target is not None:
        log.debug("lpe-nb: using the server at %s (found by %s)", target.url, target.source)
        client = AsyncClient.remote(target.url, target.token)
        with contextlib.suppress(LpeError):  # read now for the per-type methods; a failure shows on use
            await client.job_types()
        return client
    if _url_or_env(db_url):
        return await AsyncClient.embedded(db_path, db_url=_embedded_url(db_url), **engine_options)
    return await AsyncClient.embedded(_embedded_path(db_path), **engine_options)


def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    embedded: bool | None = None,
    db_path: str | os.PathLike[str] | None = None,
    db_url: str | None = None,
    **engine_options: Any,
) -> Client:
    """A sync :class:`Client`, found like :func:`aconnect`; safe to call inside a running event loop.

    Embedded clients of one database share this process's engine (a database has one dispatcher), so
    running ``client = lpe_nb.connect()`` again in a notebook just works; the engine stops when the last
    of them is closed.
    """
    target = _target(url, token, embedded, db_path, db_url)
    if target is not None:
        return Client.remote(target.url, target.token)
    if _url_or_env(db_url):
        return Client.embedded(db_path, db_url=_embedded_url(db_url), **engine_options)
    return Client.embedded(_embedded_path(db_path), **engine_options)


def _target(
    url: str | None,
    token: str | None,
    embedded: bool | None,
    db_path: str | os.PathLike[str] | None,
    db_url: str | None,
) -> ServerTarget | None:
    """The server to use: an explicit database URL means this process's engine on it, unless a server's
    ``url`` is given too (a URL names no note file to find a server by)."""
    if db_url is not None and not url:
        return None
    return discover(url, token, embedded=embedded, db_path=db_path)


def _url_or_env(db_url: str | None) -> str | None:
    return db_url or os.environ.get(DB_URL_ENV, "").strip() or None


def _embedded_url(db_url: str | None) -> str:
    """The embedded engine's database URL (given, or ``$LPE_DB_URL``), said once in the log."""
    url = _url_or_env(db_url)
    assert url is not None
    _say_embedded(open_store(url).location)  # without its password
    return url


def _embedded_path(db_path: str | os.PathLike[str] | None) -> str:
    """The embedded engine's database, said once per path in the log."""
    path = str(resolve_db_path(db_path))
    _say_embedded(path)
    return path


def _say_embedded(location: str) -> None:
    with _told_lock:
        first = location not in _told_embedded
        _told_embedded.add(location)
    if first:
        log.info("no lpe-nb server found; running jobs in this process on %s", location)
