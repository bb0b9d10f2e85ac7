""":func:`connect` and :func:`aconnect`: a client of the right server, or of an engine in this process."""

from __future__ import annotations

import asyncio
import logging
import os
import threading

from lpe_nb.embedded import resolve_db_path

from ._async_client import AsyncClient
from ._bridge import BridgedBackend
from ._discovery import discover
from ._sync import Client

__all__ = ["aconnect", "connect"]

log = logging.getLogger("lpe_nb.client")
_told_embedded: set[str] = set()
_told_lock = threading.Lock()
_shared_embedded: dict[str, Client] = {}
_shared_lock = threading.Lock()


async def aconnect(
    url: str | None = None,
    token: str | None = None,
    *,
    embedded: bool | None = None,
    db_path: str | os.PathLike[str] | None = None,
) -> AsyncClient:
    """An :class:`AsyncClient`; the server is found as :func:`~lpe_nb.client.discover` says.

    Without one (or with ``embedded=True``) jobs run in this process on ``db_path`` (``~/.lpe/jobs.db``
    or ``$LPE_DB_PATH``); that is logged once at INFO. That engine is the one :func:`connect` shares, on
    its own thread, so sync and async clients of one database work side by side.
    """
    target = discover(url, token, embedded=embedded)
    if target is not None:
        log.debug("lpe-nb: using the server at %s (found by %s)", target.url, target.source)
        return AsyncClient.remote(target.url, target.token)
    # The engine that connect() shares, reached from this loop: one dispatcher per database and process.
    shared = await asyncio.to_thread(_shared_embedded_client, db_path)
    return AsyncClient(BridgedBackend(shared))


def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    embedded: bool | None = None,
    db_path: str | os.PathLike[str] | None = None,
) -> Client:
    """A sync :class:`Client`, found like :func:`aconnect`; safe to call inside a running event loop.

    Embedded clients of one database share one engine in this process (a database has one dispatcher),
    so running ``client = lpe_nb.connect()`` again in a notebook just works; the engine stops when the
    last of them is closed.
    """
    target = discover(url, token, embedded=embedded)
    if target is not None:
        return Client.remote(target.url, target.token)
    return _shared_embedded_client(db_path)


def _shared_embedded_client(db_path: str | os.PathLike[str] | None) -> Client:
    """A handle on this process's engine for the database, started by the first caller."""
    path = _embedded_path(db_path)
    with _shared_lock:
        client = _shared_embedded.get(path)
        if client is None or client.closed:
            client = _shared_embedded[path] = Client.embedded(path)
            return client
        return client.share()


def _embedded_path(db_path: str | os.PathLike[str] | None) -> str:
    """The embedded engine's database, said once per path in the log."""
    path = str(resolve_db_path(db_path))
    with _told_lock:
        first = path not in _told_embedded
        _told_embedded.add(path)
    if first:
        log.info("no lpe-nb server found; running jobs in this process on %s", path)
    return path
