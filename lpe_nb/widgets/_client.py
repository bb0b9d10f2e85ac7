"""What the widgets share about the client: resolving ``client=None`` and reading the catalog."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lpe_nb.client import Client

__all__ = ["choices", "resolve_client"]

_default: Client | None = None
_default_lock = threading.Lock()


def resolve_client(client: Client | None) -> Client:
    """``client``, else one client per process from ``lpe_nb.connect()`` (made on first use).

    Shared, because each ``connect()`` starts a loop thread and its own connections: a notebook with a
    form, a session and a dashboard needs one client, not three.
    """
    global _default
    if client is not None:
        return client
    with _default_lock:
        if _default is None:
            from lpe_nb.client import connect

            _default = connect()
        return _default


def choices(catalog: Mapping[str, Any], key: str) -> list[tuple[str, str]]:
    """Dropdown options ``(label, name)`` for the catalog's ``key`` list (personas, namespaces, styles)."""
    options = []
    for entry in catalog.get(key) or []:
        if isinstance(entry, Mapping) and entry.get("name"):
            name = str(entry["name"])
            description = str(entry.get("description") or "")
            options.append((f"{name} — {description}" if description else name, name))
    return options
