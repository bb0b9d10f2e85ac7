""":func:`connect` and :func:`aconnect`: a client of the right server, or of this process's engine."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any

from lpe_nb.embedded import resolve_db_path
from lpe_nb.errors import LpeError

from ._async_client import AsyncClient
from ._discovery import discover
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
    **engine_options: Any,
) -> AsyncClient:
    """An :class:`AsyncClient`; the server is found as :func:`~lpe_nb.client.discover` says.

    Without one (or with ``embedded=True``) jobs run in this process on ``db_path`` (``~/.lpe/jobs.db``
    or ``$LPE_DB_PATH``); that is logged once at INFO. Every embedded client of a database in this process,
    sync or async, uses the same engine.
    """
    target = discover(url, token, embedded=embedded, db_path=db_path)
    if target is not None:
        log.debug("lpe-nb: using the server at %s (found by %s)", target.url, target.source)
        client = AsyncClient.remote(target.url, target.token)
        with contextlib.suppress(LpeError):  # read now for the per-type methods; a failure shows on use
            await client.job_types()
        return client
    return await AsyncClient.embedded(_embedded_path(db_path), **engine_options)


def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    embedded: bool | None = None,
    db_path: str | os.PathLike[str] | None = None,
    **engine_options: Any,
) -> Client:
    """A sync :class:`Client`, found like :func:`aconnect`; safe to call inside a running event loop.

    Embedded clients of one database share this process's engine (a database has one dispatcher), so
    running ``client = lpe_nb.connect()`` again in a notebook just works; the engine stops when the last
    of them is closed.
    """
    target = discover(url, token, embedded=embedded, db_path=db_path)
    if target is not None:
        return Client.remote(target.url, target.token)
    return Client.embedded(_embedded_path(db_path), **engine_options)


def _embedded_path(db_path: str | os.PathLike[str] | None) -> str:
    """The embedded engine's database, said once per path in the log."""
    path = str(resolve_db_path(db_path))
    with _told_lock:
        first = path not in _told_embedded
        _told_embedded.add(path)
    if first:
        log.info("no lpe-nb server found; running jobs in this process on %s", path)
    return path
