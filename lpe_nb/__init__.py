"""lpe-nb: Jupyter-native asynchronous jobs for long-running LLM work.

``lpe_nb.connect()`` finds the Jupyter server this kernel belongs to (or runs the engine in-process) and
returns a client; see :mod:`lpe_nb.client`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lpe_nb._version import __version__

if TYPE_CHECKING:
    from lpe_nb.client import aconnect, connect

__all__ = ["__version__", "aconnect", "connect"]


def __getattr__(name: str) -> Any:
    # Lazy: the client pulls in tornado and the HTTP stack, which `import lpe_nb.jobs` should not pay for.
    if name in ("connect", "aconnect"):
        from lpe_nb import client

        return getattr(client, name)
    raise AttributeError(f"module 'lpe_nb' has no attribute {name!r}")
