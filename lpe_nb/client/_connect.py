""":func:`connect` and :func:`aconnect`: a client of the right server, or of an engine in this process."""

from __future__ import annotations

import logging
import os
import threading

from lpe_nb.embedded import resolve_db_path

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
) -> AsyncClient:
    """An :class:`AsyncClient`; the server is found as :func:`~lpe_nb.client.discover` says.

    Without one (or with ``embedded=True``) jobs run in this process on ``db_path`` (``~/.lpe/jobs.db``
    or ``$LPE_DB_PATH``); that is logged once at INFO.
    """
    target = discover(url, token, embedded=embedded)
    if target is not None:
        log.debug("lpe-nb: using the server at %s (found by %s)", target.url, target.source)
        return AsyncClient.remote(target.url, target.token)
    path = str(resolve_db_path(db_path))
    with _told_lock:
        first = path not in _told_embedded
        _told_embedded.add(path)
    if first:
        log.info("no lpe-nb server found; running jobs in this process on %s", path)
    return await AsyncClient.embedded(path)


def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    embedded: bool | None = None,
    db_path: str | os.PathLike[str] | None = None,
) -> Client:
    """A sync :class:`Client`, found like :func:`aconnect`; safe to call inside a running event loop."""
    return Client(lambda: aconnect(url, token, embedded=embedded, db_path=db_path))
