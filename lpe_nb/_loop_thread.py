""":class:`LoopThread`: one daemon thread running one private event loop, and hops onto it.

The sync client and the embedded engine's host each own one; the LLM transport
(:mod:`lpe_nb.llm._transport`) is one per process. The caller's loop (a Jupyter kernel's, say) is never
used, patched or re-entered: work is handed over with ``run_coroutine_threadsafe``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")
_JOIN_TIMEOUT_S = 10.0


class LoopThread:
    """One daemon thread running one event loop until :meth:`stop`."""

    def __init__(self, name: str = "lpe-client-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def is_current(self) -> bool:
        return threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the private loop and block for its result; an interrupt cancels it."""
        if self.is_current:
            coro.close()
            raise RuntimeError(
                "a blocking call from the loop thread it waits for would deadlock; use AsyncClient"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt in a notebook: stop the work too
            raise

    def spawn(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the private loop without waiting; cancel the returned future to stop it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def hop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the private loop from any loop (directly when already on it); cancelling the
        caller cancels it there too."""
        if self.is_current:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        if self._thread.is_alive():
            self.run(self.loop.shutdown_asyncgens())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(_JOIN_TIMEOUT_S)
        if not self._thread.is_alive():
            self.loop.close()
