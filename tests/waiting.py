"""Waiting in async tests for something another task, thread or process makes true."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Wait until ``condition()`` holds, checking every 10 ms (for state nothing signals); fail after
    ``timeout_s`` naming ``what`` was waited for."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"timed out after {timeout_s:g} s waiting for {what}"
        await asyncio.sleep(0.01)
