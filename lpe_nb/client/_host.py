""":class:`EngineHost`: the one embedded engine per database in this process, on its own loop thread.

A database has one dispatching engine per process, whatever mix of sync and async clients, notebook
cells and widgets use it. The host owns that engine and the private loop it runs on; every embedded
backend holds a reference (counted), hops its calls onto the host's loop, and the last one to let go
stops the engine. No client object is cloned or shared.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any, ClassVar

from lpe_nb._loop_thread import LoopThread
from lpe_nb.embedded import Engine, open_engine, resolve_db_path
from lpe_nb.jobs.store import open_store

__all__ = ["EngineHost"]

log = logging.getLogger("lpe_nb.client")


class EngineHost:
    """An engine on ``db_path`` running on a private loop thread; get one with :meth:`acquire`."""

    _hosts: ClassVar[dict[str, EngineHost]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self, key: str, engine: Engine, stack: contextlib.AsyncExitStack, thread: LoopThread
    ) -> None:
        self.key = key
        self.engine = engine
        self.thread = thread
        self._stack = stack
        self._users = 1

    @classmethod
    def acquire(cls, db_path: str | os.PathLike[str] | None = None, **options: Any) -> EngineHost:
        """The running host of this database (started on first use, with ``options`` for
        :func:`~lpe_nb.embedded.open_engine`). Blocks while it starts: call it off any event loop.

        With a ``db_url`` option the database is that URL's (a PostgreSQL database, say; keyed by the URL
        without its password), and ``db_path`` is unused: the user catalog is in that database too."""
        db_url = options.get("db_url")
        key = open_store(db_url).location if db_url else str(resolve_db_path(db_path))
        with cls._lock:
            host = cls._hosts.get(key)
            if host is not None:
                host._users += 1
                if options:
                    log.debug(
                        "lpe-nb: the engine on %s is running; options %s are ignored", key, sorted(options)
                    )
                return host
            thread = LoopThread(name="lpe-engine-loop")
            stack = contextlib.AsyncExitStack()

            async def start() -> Engine:
                return await stack.enter_async_context(open_engine(db_path if db_url else key, **options))

            try:
                engine = thread.run(start())
            except BaseException:
                with contextlib.suppress(Exception):
                    thread.run(stack.aclose())
                thread.stop()
                raise
            host = cls._hosts[key] = cls(key, engine, stack, thread)
            return host

    def release(self) -> None:
        """Let go of the host; the last user stops the engine and its thread (blocks while they stop)."""
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            self._hosts.pop(self.key, None)
        try:
            self.thread.run(self._stack.aclose())
        finally:
            self.thread.stop()
