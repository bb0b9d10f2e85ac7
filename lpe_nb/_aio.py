"""Small asyncio helpers that behave the same on every supported Python.

``asyncio.wait_for`` before Python 3.12 can swallow a cancellation that arrives just as the awaited thing
completes (CPython gh-86296): a task cancelled at shutdown then carries on, and whoever awaits it hangs.
These helpers time out with a timer instead, so a cancellation of the caller always propagates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["wake_or_timeout", "with_timeout"]

T = TypeVar("T")


async def wake_or_timeout(event: asyncio.Event, timeout_s: float | None) -> None:
    """Wait until ``event`` is set, setting it ourselves after ``timeout_s``.

    Only for events whose waiters re-check their condition after waking: a timeout is a wake-up.
    """
    if timeout_s is None:
        await event.wait()
        return
    timer = asyncio.get_running_loop().call_later(max(0.0, timeout_s), event.set)
    try:
        await event.wait()
    finally:
        timer.cancel()


async def with_timeout(awaitable: Awaitable[T], timeout_s: float | None) -> T:
    """Await ``awaitable``; ``TimeoutError`` after ``timeout_s`` (it is cancelled then)."""
    task = asyncio.ensure_future(awaitable)
    if timeout_s is None:
        return await task
    timed_out = False

    def expire() -> None:
        nonlocal timed_out
        timed_out = True
        task.cancel()

    timer = asyncio.get_running_loop().call_later(max(0.0, timeout_s), expire)
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        cancelling = getattr(current, "cancelling", None)  # Python 3.11+
        if timed_out and not (cancelling is not None and cancelling()):
            raise TimeoutError(f"timed out after {timeout_s} s") from None
        raise
    finally:
        timer.cancel()
        task.cancel()
