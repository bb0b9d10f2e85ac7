"""Coalesce state changes arriving on any thread into at most one widget render per interval, and tick
between them so that time-based text (elapsed, time left) moves while nothing else happens."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["DEFAULT_INTERVAL_S", "TICK_INTERVAL_S", "Throttle", "Ticker"]

log = logging.getLogger("lpe_nb.widgets")

DEFAULT_INTERVAL_S = 0.1  # at most 10 renders a second: faster is invisible and floods the kernel's iopub
TICK_INTERVAL_S = 1.0  # elapsed and time left are shown to the second (or to the tenth, under 10 s)


class Throttle:
    """Calls ``render()`` at most once per ``interval_s``, and always once after the last :meth:`poke`.

    Events arrive on whichever thread delivers them (the sync client's loop thread, a kernel's loop) and
    only mark the state dirty here. The first poke after a quiet interval renders at once on the poking
    thread; later pokes arm one daemon timer for the rest of the interval. The interval runs from the
    *end* of a render to the start of the next, so a widget's front-end messages are at least
    ``interval_s`` apart however long a render takes, and two renders never overlap.
    """

    def __init__(self, render: Callable[[], None], interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._render = render
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._dirty = False
        self._busy = False  # a render is running or a timer is armed: pokes only mark dirty
        self._closed = False
        self._last_end = float("-inf")
        self._timer: threading.Timer | None = None

    def poke(self) -> None:
        """Note that the state changed; render now or when the interval allows."""
        with self._lock:
            if self._closed:
                return
            self._dirty = True
            if self._busy:
                return
            self._busy = True
            delay = self._last_end + self.interval_s - time.monotonic()
        if delay > 0:
            self._arm(delay)
        else:
            self._fire()

    def close(self) -> None:
        """Render no more; an armed timer is cancelled."""
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _arm(self, delay: float) -> None:
        timer = threading.Timer(delay, self._on_timer)
        timer.daemon = True  # a pending render must never keep the interpreter alive
        with self._lock:
            if self._closed:
                return
            self._timer = timer
        timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            early = self._last_end + self.interval_s - time.monotonic()
        if early > 0:  # timers may wake a hair early; the guarantee is about the clock, not the timer
            self._arm(early)
            return
        self._fire()

    def _fire(self) -> None:
        with self._lock:
            self._dirty = False
            closed = self._closed
        try:
            if not closed:
                self._render()
        except Exception:
            # A broken render must not kill the thread delivering events (the client's loop) nor stop
            # later renders: log it and carry on with the next state.
            log.exception("rendering a widget failed")
        finally:
            with self._lock:
                self._last_end = time.monotonic()
                again = self._dirty and not self._closed
                self._busy = again
            if again:
                self._arm(self.interval_s)


class Ticker:
    """Calls ``tick()`` every ``interval_s`` on a daemon thread until :meth:`stop`.

    A widget's ticker pokes its :class:`Throttle`, so a tick is one more poke: it never makes renders
    more frequent than the throttle allows, and costs nothing when an event already rendered. An LLM call
    can take a minute with no event at all; without ticks, "elapsed" and "left" would stand still.
    """

    def __init__(self, tick: Callable[[], None], interval_s: float = TICK_INTERVAL_S) -> None:
        self._tick = tick
        self.interval_s = interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lpe-widget-tick", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No tick after this returns, but one already under way may finish."""
        self._stopped.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stopped.is_set()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            try:
                self._tick()
            except Exception:
                log.exception("a widget tick failed")
