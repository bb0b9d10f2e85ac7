"""Give back to the system the memory a crowd of closed WebSocket connections leaves in the C allocator.

Frames, Tornado's stream buffers and the bigger dicts and sets of a connection (anything over 512 bytes)
come from the C allocator, not from Python's own. glibc's ``malloc`` keeps what is freed for reuse and
returns only the top of its heap, so after 300 clients that never read were dropped, ~7 MiB stayed
resident for good (``bench/server.py --bad-readers 300``, issue 15). ``malloc_trim(0)`` hands the free
pages back; it walks the heap, so it runs in a thread, at most once per :attr:`window_s`, and only after
a crowd (:attr:`min_closed` connections closed in one window), never for the odd client.

Linux with glibc only (musl and other systems have no ``malloc_trim``): elsewhere nothing is done.
Not thread-safe: :meth:`TrimAfterClosing.closed` is called on the event loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import sys
from collections.abc import Callable

__all__ = ["TrimAfterClosing", "malloc_trim"]

log = logging.getLogger(__name__)


def _load_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


malloc_trim: Callable[[int], int] | None = _load_malloc_trim()
"""glibc's ``malloc_trim(pad)`` (1 if memory was given back), None where there is none. ctypes releases
the GIL for the call."""


class TrimAfterClosing:
    """Calls :data:`malloc_trim` in a thread once :attr:`min_closed` connections closed within
    :attr:`window_s` of the first of them (counted by :meth:`closed`)."""

    def __init__(
        self,
        *,
        window_s: float = 1.0,
        min_closed: int = 16,
        trim: Callable[[int], int] | None = malloc_trim,
    ) -> None:
        self.window_s = window_s
        self.min_closed = min_closed
        self.trims = 0  # how many were started, for tests and diagnosis
        self._trim = trim
        self._closed = 0
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Task[None] | None = None  # the trim under way, owned here

    def closed(self) -> None:
        """A connection closed: count it, opening a window if none is open."""
        if self._trim is None:
            return
        self._closed += 1
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.window_s, self._window_ended)

    def _window_ended(self) -> None:
        self._timer = None
        crowd, self._closed = self._closed >= self.min_closed, 0
        if crowd and (self._running is None or self._running.done()):
            self.trims += 1
            self._running = asyncio.get_running_loop().create_task(self._run(), name="lpe-malloc-trim")

    async def _run(self) -> None:
        assert self._trim is not None
        trim = self._trim
        try:
            await asyncio.to_thread(trim, 0)
        except OSError:  # nothing a caller can do about it: the memory simply stays with the allocator
            log.debug("lpe_nb: malloc_trim failed", exc_info=True)

    def close(self) -> None:
        """Stop: no window stays open (a trim under way finishes in its thread)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running is not None:
            self._running.cancel()
