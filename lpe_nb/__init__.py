"""lpe-nb: Jupyter-native asynchronous jobs for long-running LLM work.

``lpe_nb.connect()`` finds the Jupyter server this kernel belongs to (or runs the engine in-process) and
returns a client; see :mod:`lpe_nb.client`. Inside a kernel it also loads :mod:`lpe_nb.widgets`, so a
job handle displays as a live progress bar. ``lpe_nb.job_type`` declares a job type of your own.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from lpe_nb._version import __version__

if TYPE_CHECKING:
    from lpe_nb.client import AsyncClient, Client
    from lpe_nb.operations import job_type

__all__ = ["__version__", "aconnect", "connect", "job_type"]


def connect(*args: Any, **kwargs: Any) -> Client:
    """:func:`lpe_nb.client.connect`, with the notebook display of job handles in a kernel."""
    from lpe_nb.client import connect as connect_client

    _display_in_notebooks()
    return connect_client(*args, **kwargs)


async def aconnect(*args: Any, **kwargs: Any) -> AsyncClient:
    """:func:`lpe_nb.client.aconnect`, with the notebook display of job handles in a kernel."""
    from lpe_nb.client import aconnect as aconnect_client

    _display_in_notebooks()
    return await aconnect_client(*args, **kwargs)


def _display_in_notebooks() -> None:
    # Sits above both layers (as tqdm/auto.py does): the client never imports the widgets.
    from lpe_nb.client._display import in_a_kernel

    if in_a_kernel():
        with contextlib.suppress(ImportError):  # without ipywidgets, handles show as one line
            import lpe_nb.widgets  # noqa: F401  - registers the notebook renderer


def __getattr__(name: str) -> Any:
    # Lazy: ``import lpe_nb`` alone should not pay for the engine or the HTTP stack.
    if name == "job_type":
        from lpe_nb.operations import job_type

        return job_type
    raise AttributeError(f"module 'lpe_nb' has no attribute {name!r}")
