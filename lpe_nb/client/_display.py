"""How a job handle shows itself: through the notebook renderer registered by :mod:`lpe_nb.widgets`
(a live progress widget), else as one line (a terminal IPython, a script's ``print``).

The client never imports the widgets; the widgets register themselves here when imported (as
``tqdm/auto.py`` picks ``tqdm/notebook.py``), and ``lpe_nb.connect()`` imports them inside a kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["in_a_kernel", "mimebundle", "set_notebook_renderer"]

_renderer: Callable[[Any], Any] | None = None


def set_notebook_renderer(renderer: Callable[[Any], Any] | None) -> None:
    """Make ``renderer(handle)`` the widget a job handle displays as inside a kernel (None: one line)."""
    global _renderer
    _renderer = renderer


def in_a_kernel() -> bool:
    """True inside an IPython kernel, where a front-end may render widgets."""
    try:
        from IPython.core.getipython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()  # type: ignore[no-untyped-call]
    return shell is not None and getattr(shell, "kernel", None) is not None


def mimebundle(handle: Any, text: str, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    """The handle's display data: its widget (made once per handle) plus ``text`` as plain text."""
    if _renderer is None or not in_a_kernel():
        return {"text/plain": text}
    widget = getattr(handle, "_progress_widget", None)
    if widget is None:
        widget = handle._progress_widget = _renderer(handle)
    bundle: dict[str, Any] = widget._repr_mimebundle_(include=include, exclude=exclude) or {}
    return {**bundle, "text/plain": text}
