"""Turns per event-loop iteration: a crowd's work spread over iterations, so other requests are not
queued behind all of it at once.

asyncio runs every callback that is ready when an iteration starts before it polls the sockets again, and
a request needs several iterations (accept, read, the database's thread, the reply). When 300 WebSocket
clients connect at once, each of their upgrades, watch commands and writes is ready together: iterations of
40-100 ms, and a ``GET lpe/api/jobs`` arriving meanwhile waits for several of them (``bench/server.py
--bad-readers 300``, issue 15). A :class:`Turnstile` lets at most ``per_iteration`` of its callers through
in one iteration, the others in their order of arrival in the following ones, so one iteration holds at
most that much of the crowd's work. Alone, a caller passes at once (no extra iteration, nothing allocated).

Not thread-safe: one event loop.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Turnstile", "WebSocketTurns"]


class Turnstile:
    """At most :attr:`per_iteration` callers of :meth:`turn` pass in one loop iteration, first come first
    served; :attr:`passed` and :attr:`delayed` count them (for tests and diagnosis)."""

    def __init__(self, per_iteration: int) -> None:
        if per_iteration < 1:
            raise ValueError(f"per_iteration must be at least 1, not {per_iteration}")
        self.per_iteration = per_iteration
        self.passed = 0  # callers let through, in all
        self.delayed = 0  # of those, how many waited for a later iteration
        self._this_iteration = 0  # turns given since the last admission round
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._round_scheduled = False

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def turn(self) -> None:
        """Return once it is this caller's turn: at once while this iteration has turns left and nobody
        waits, else in a later iteration, in order of arrival."""
        if not self._waiting and self._this_iteration < self.per_iteration:
            self._this_iteration += 1
            self.passed += 1
            self._schedule_round()  # the count starts again next iteration
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        self._schedule_round()
        await waiter  # cancelled: the round skips it (a turn given but not taken is simply lost)

    def _schedule_round(self) -> None:
        if not self._round_scheduled:
            self._round_scheduled = True
            asyncio.get_running_loop().call_soon(self._next_round)

    def _next_round(self) -> None:
        """Once per iteration while anyone passed or waits: the next ``per_iteration`` waiters go (they run
        in the next iteration; meanwhile nobody passes ahead of them)."""
        self._round_scheduled = False
        self._this_iteration = 0
        while self._waiting and self._this_iteration < self.per_iteration:
            waiter = self._waiting.popleft()
            if waiter.done():  # its caller was cancelled
                continue
            waiter.set_result(None)
            self._this_iteration += 1
            self.passed += 1
            self.delayed += 1
        if self._waiting or self._this_iteration:
            self._schedule_round()


class WebSocketTurns:
    """The turnstiles of one server's WebSocket clients (``lpe_nb.server_ext.ws``): how many upgrades
    (Jupyter's authentication, the handshake, the subscription), watch commands (a snapshot each) and
    writes of frames to sockets one loop iteration does at most, however large the crowd. Measured in the
    flood of ``bench/server.py --bad-readers 300``: an upgrade is about 0.5 ms, a watch command with its
    frame 50 us, a write 25 us, so the defaults hold an iteration to about 4 ms of the crowd's work (twice
    these let ``GET lpe/api/jobs`` p99 during the flood at 70-126 ms where these gave 53-87, on the same
    loaded machine); Tornado's accepting and parsing of the new connections come on top, not bounded here.
    """

    def __init__(self, *, upgrades: int = 4, watches: int = 32, writes: int = 32) -> None:
        self.upgrades = Turnstile(upgrades)
        self.watches = Turnstile(watches)
        self.writes = Turnstile(writes)
