"""The LLM transport: one thread per process whose event loop carries every OpenAI-compatible exchange.

The openai SDK spends ~0.4 ms of CPU on each reply (httpx/h11 parsing, JSON, pydantic models). On the
caller's loop, a batch whose replies arrive together spends it all in one loop iteration: 200 replies
hold a Jupyter server's loop for ~100 ms, and every kernel message, save and page load waits behind them.
Here that work runs on a loop of its own, and the caller's loop only resumes the call when the reply is
whole and checked. The thread still shares the GIL: it pauses after every few milliseconds of CPU
(:func:`give_way`), so that the caller's loop waits for the GIL about that long per turn, not a batch.

The thread starts on first use (daemon, named ``lpe-llm-transport``), a child made by ``os.fork`` starts
its own (the parent's thread does not exist there), and the loop is stopped at interpreter exit, its
requests still in flight cancelled. Only what the SDK needs runs there: rate limits, semaphores, retries
and metrics stay on the caller's loop, which is the only one that touches them.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from lpe_nb._loop_thread import LoopThread

__all__ = ["THREAD_NAME", "Relay", "on_transport", "stop_transport"]

T = TypeVar("T")
Item = TypeVar("Item")
THREAD_NAME = "lpe-llm-transport"
_STOP_WAIT_S = 2.0
_BUSY_S = 0.004  # the transport's CPU between two pauses (give_way)
_PAUSE_S = 0.0005
_cpu_at_pause = 0.0  # the transport thread's CPU time at its last pause; only that thread uses it

_lock = threading.Lock()
_transport: _Transport | None = None


class _Transport:
    """The thread, and the exchanges handed to it that its loop has not started yet."""

    def __init__(self) -> None:
        self.thread = LoopThread(name=THREAD_NAME)
        self._lock = threading.Lock()
        self._inbox: list[tuple[Coroutine[Any, Any, Any], concurrent.futures.Future[Any]]] = []
        self._closed = False

    def submit(self, coro: Coroutine[Any, Any, T], future: concurrent.futures.Future[T]) -> None:
        """Start ``coro`` on the loop, its outcome to ``future``. The loop is woken once for all the
        exchanges handed over meanwhile: a batch's 200 calls cost the caller one write to the loop's
        self-pipe, not 200 (each a release of the GIL, and a wait to take it back from a busy thread)."""
        with self._lock:
            if self._closed:
                coro.close()
                future.cancel()
                return
            self._inbox.append((coro, future))
            if len(self._inbox) > 1:
                return  # the loop has been woken already and will start this one too
        self.thread.loop.call_soon_threadsafe(self._start_inbox)

    def _start_inbox(self) -> None:
        with self._lock:
            inbox, self._inbox = self._inbox, []
        for coro, future in inbox:
            _chain(self.thread.loop.create_task(_giving_way(coro)), future)

    def stop(self) -> None:
        """Cancel every exchange (a request in flight is aborted) and stop the thread."""
        with self._lock:
            self._closed = True
            inbox, self._inbox = self._inbox, []
        for coro, future in inbox:
            coro.close()
            future.cancel()
        with contextlib.suppress(Exception):  # at exit, a request that will not end is not worth a hang
            asyncio.run_coroutine_threadsafe(_cancel_all(), self.thread.loop).result(timeout=_STOP_WAIT_S * 2)
            self.thread.stop()


async def _giving_way(coro: Coroutine[Any, Any, T]) -> T:
    give_way()
    try:
        return await coro
    finally:
        give_way()


def give_way() -> None:
    """On the transport thread, between two pieces of work: once it has spent ``_BUSY_S`` of CPU since it
    last did, sleep ``_PAUSE_S`` with the GIL released, so that a caller's loop waiting for the GIL gets it.

    The interpreter's own hand-over every 5 ms is not enough here: a thread that waits for the GIL asks for
    it only after 5 ms without the GIL changing hands, and the transport's socket calls each release and
    retake it far more often than that, so a waiting loop can be kept out for hundreds of milliseconds in a
    wave of replies (CPython's convoy effect, bpo-7946; measured: 300-800 ms).
    """
    global _cpu_at_pause
    now = time.thread_time()
    if now - _cpu_at_pause >= _BUSY_S:
        time.sleep(_PAUSE_S)
        _cpu_at_pause = time.thread_time()


def _chain(task: asyncio.Task[T], future: concurrent.futures.Future[T]) -> None:
    """``task``'s outcome to ``future``; ``future`` cancelled (by the caller) cancels ``task``."""
    loop = task.get_loop()

    def settle(done: asyncio.Task[T]) -> None:
        if done.cancelled():
            future.cancel()
        elif future.set_running_or_notify_cancel():  # False: the caller cancelled it meanwhile
            error = done.exception()
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(done.result())

    def cancel_task(done: concurrent.futures.Future[T]) -> None:
        if done.cancelled():
            with contextlib.suppress(RuntimeError):  # the loop is closed: the task ended with it
                loop.call_soon_threadsafe(task.cancel)

    task.add_done_callback(settle)
    future.add_done_callback(cancel_task)


def _current() -> _Transport:
    global _transport
    with _lock:
        if _transport is None:
            _transport = _Transport()
        return _transport


def on_transport(coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
    """Run ``coro`` on the transport loop; await the returned future on the caller's loop.

    Its result or exception (the very object raised there) arrives on the caller's loop, and cancelling
    the future cancels ``coro`` there too (an HTTP request in flight is aborted, a stream closed).
    """
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    _current().submit(coro, future)
    return asyncio.wrap_future(future)


class Relay(Generic[Item]):
    """Items sent from the transport (a stream's deltas) handed to ``receive`` on the caller's loop.

    In the order sent, all before the exchange's own result (both travel through the caller's loop's
    FIFO of thread-safe callbacks), several per loop turn: a reply's thousands of deltas wake the caller's
    loop once per turn, not once each. Nothing is handed over once :meth:`run` has returned or raised.
    An exception raised by ``receive`` ends the exchange (cancelled on the transport, its stream closed)
    and is raised by :meth:`run`, as it would be if ``receive`` ran inside the exchange.
    """

    def __init__(self, receive: Callable[[Item], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._receive = receive
        self._lock = threading.Lock()  # _pending is filled on the transport and emptied on the caller's loop
        self._pending: list[Item] = []
        self._open = True
        self._error: Exception | None = None
        self._exchange: asyncio.Future[Any] | None = None

    def send(self, item: Item) -> None:
        """From the transport loop: pass ``item`` on."""
        give_way()
        with self._lock:
            self._pending.append(item)
            if len(self._pending) > 1:
                return  # a flush is already on its way and will take this one too
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(self._flush)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """:func:`on_transport` for an exchange that sends to this relay."""
        exchange = on_transport(coro)
        self._exchange = exchange
        try:
            return await exchange
        except asyncio.CancelledError:
            if self._error is not None and not _cancelling(asyncio.current_task()):
                raise self._error from None  # the relay cancelled the exchange, not the caller
            raise
        finally:
            self._open = False

    def _flush(self) -> None:
        with self._lock:
            items, self._pending = self._pending, []
        for item in items:
            if not self._open:
                return
            try:
                self._receive(item)
            except Exception as exc:
                self._open, self._error = False, exc
                if self._exchange is not None:
                    self._exchange.cancel()


def _cancelling(task: asyncio.Task[Any] | None) -> bool:
    """Whether ``task`` was asked to cancel (Python 3.11+; before, a cancel that raced is not told apart)."""
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False


def _forget_after_fork() -> None:
    """In a child made by ``os.fork``: the parent's thread is not there; the next use starts a new one."""
    global _transport, _lock
    _transport = None
    _lock = threading.Lock()  # the parent's may have been held by another thread at the fork


async def _cancel_all() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=_STOP_WAIT_S)


def stop_transport() -> None:
    """Cancel what is in flight on the transport and stop its thread (at exit; the next use restarts it)."""
    global _transport
    with _lock:
        transport, _transport = _transport, None
    if transport is not None:
        transport.stop()


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(stop_transport)
