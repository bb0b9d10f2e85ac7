"""The Jupyter server extension: the job manager, REST API and WebSocket inside jupyter_server.

Enabled by the ``jupyter-config/jupyter_server_config.d/lpe_nb.json`` file a ``pip install`` puts in
``etc/jupyter``, which names this module; Jupyter then calls :func:`_jupyter_server_extension_points`.
"""

from __future__ import annotations

from typing import Any

# `jupyter server extension list` shows the module's __version__ beside its name
from lpe_nb._version import __version__ as __version__
from lpe_nb.server_ext.app import LpeExtensionApp

__all__ = ["LpeExtensionApp"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "lpe_nb.server_ext", "app": LpeExtensionApp}]
