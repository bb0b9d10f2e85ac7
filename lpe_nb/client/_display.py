"""How a job handle shows itself: a live :class:`~lpe_nb.widgets.JobProgress` in a notebook, one line
elsewhere (a terminal IPython, a script's ``print``)."""

from __future__ import annotations

from typing import Any

__all__ = ["mimebundle"]


def _in_a_kernel() -> bool:
    """True inside an IPython kernel, where a front-end may render widgets."""
    try:
        from IPython.core.getipython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()  # type: ignore[no-untyped-call]
    return shell is not None and getattr(shell, "kernel", None) is not None


def mimebundle(handle: Any, text: str, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    """The handle's display data: its progress widget (made once per handle) plus ``text`` as plain text."""
    if not _in_a_kernel():
        return {"text/plain": text}
    widget = getattr(handle, "_progress_widget", None)
    if widget is None:
        from lpe_nb.widgets import JobProgress

        widget = handle._progress_widget = JobProgress(handle)
    bundle: dict[str, Any] = widget._repr_mimebundle_(include=include, exclude=exclude) or {}
    return {**bundle, "text/plain": text}
