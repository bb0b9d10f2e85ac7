"""Find the server to talk to: arguments, ``LPE_SERVER_*``, JupyterHub, the kernel's parent server, and
last the Jupyter server already running jobs on the database (the note it leaves beside it).

:func:`discover` returns a :class:`ServerTarget`, or None for "run jobs in this process"; its inputs
(environment, server list, ancestor pids) are parameters so it is tested without real servers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from lpe_nb._server_file import read_note
from lpe_nb.errors import LpeError
from lpe_nb.jobs.store import default_db_path

__all__ = ["ServerTarget", "ancestor_pids", "discover"]

log = logging.getLogger(__name__)

_MAX_ANCESTORS = 64
_HUB_DEFAULT_PORT = 8888


@dataclass(frozen=True, slots=True)
class ServerTarget:
    """A server URL (with its base_url), its token, and which discovery rule found it."""

    url: str
    token: str | None
    source: str


def discover(
    url: str | None = None,
    token: str | None = None,
    *,
    embedded: bool | None = None,
    environ: Mapping[str, str] | None = None,
    list_servers: Callable[[], Iterable[dict[str, Any]]] | None = None,
    ancestors: Iterable[int] | None = None,
    db_path: str | os.PathLike[str] | None = None,
) -> ServerTarget | None:
    """The server to use, or None for the embedded engine; see the module docstring for the order.

    ``embedded=True`` skips the search; ``embedded=False`` raises :class:`LpeError` if nothing is found.
    With ``db_path`` only a server running on that database counts.
    """
    if embedded:
        return None
    env = os.environ if environ is None else environ
    target = _from_arguments(url, token, env)
    if target is None and db_path is None:
        target = _from_lpe_env(token, env) or _from_hub(env)
        if target is None:
            servers = _running_servers() if list_servers is None else list(list_servers())
            target = _from_parent_server(servers, ancestor_pids() if ancestors is None else list(ancestors))
    if target is None:
        target = _from_database_note(db_path, env)
    if target is None and embedded is False:
        raise LpeError(
            "no lpe-nb server found: pass connect(url, token), set LPE_SERVER_URL and LPE_SERVER_TOKEN, "
            "or start the kernel from a Jupyter server with the lpe_nb extension"
        )
    return target


def _from_database_note(
    db_path: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> ServerTarget | None:
    """The Jupyter server already running jobs on the database, from the note it leaves beside it."""
    if db_path is not None:
        path = Path(db_path).expanduser()
    else:
        env_path = env.get("LPE_DB_PATH", "").strip()
        path = Path(env_path).expanduser() if env_path else default_db_path()
    note = read_note(path)
    if note is None:
        return None
    return ServerTarget(note.url, note.token, f"the server of {path} (pid {note.pid})")


def _from_arguments(url: str | None, token: str | None, env: Mapping[str, str]) -> ServerTarget | None:
    if not url:
        return None
    return ServerTarget(url, token if token is not None else env.get("LPE_SERVER_TOKEN"), "arguments")


def _from_lpe_env(token: str | None, env: Mapping[str, str]) -> ServerTarget | None:
    url = env.get("LPE_SERVER_URL", "").strip()
    if not url:
        return None
    return ServerTarget(url, token if token is not None else env.get("LPE_SERVER_TOKEN"), "LPE_SERVER_URL")


def _from_hub(env: Mapping[str, str]) -> ServerTarget | None:
    prefix, token = env.get("JUPYTERHUB_SERVICE_PREFIX", ""), env.get("JUPYTERHUB_API_TOKEN", "")
    if not prefix or not token:
        return None
    port = None
    for name in ("JUPYTER_SERVER_URL", "JUPYTERHUB_SERVICE_URL"):
        if env.get(name):
            try:
                port = urlsplit(env[name]).port
            except ValueError:
                port = None
            if port:
                break
    prefix = "/" + prefix.strip("/") + "/"
    return ServerTarget(f"http://127.0.0.1:{port or _HUB_DEFAULT_PORT}{prefix}", token, "JupyterHub")


def _from_parent_server(servers: list[dict[str, Any]], ancestors: list[int]) -> ServerTarget | None:
    """The running server nearest up this process's ancestry (the one that started this kernel)."""
    by_pid = {int(info["pid"]): info for info in servers if "pid" in info and "url" in info}
    for pid in ancestors:
        info = by_pid.get(pid)
        if info is not None:
            return ServerTarget(str(info["url"]), info.get("token") or None, f"jupyter server pid {pid}")
    return None


def _running_servers() -> list[dict[str, Any]]:
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:  # the client also works without jupyter_server installed
        return []
    try:
        return list(list_running_servers())
    except OSError as exc:
        log.debug("cannot list running Jupyter servers: %s", exc)
        return []


def ancestor_pids(pid: int | None = None) -> list[int]:
    """The parent, grandparent... of ``pid`` (this process), nearest first; empty if it cannot be read.

    Uses psutil, so it works on Linux, macOS and Windows alike; a process that vanished or that this
    user may not inspect ends the chain where it is.
    """
    try:
        parents = psutil.Process(pid).parents()
    except (psutil.Error, OSError) as exc:
        log.debug("cannot read the ancestors of pid %s: %s", pid, exc)
        return []
    return [parent.pid for parent in parents[:_MAX_ANCESTORS]]
