"""One rate limit per endpoint and model, shared by every job (every call) of this process.

Two things, both in :class:`RateLimiter`:

- **Limits** (off unless configured: ``LPE_LLM_RPM``, ``LPE_LLM_TPM``): at most ``requests_per_minute``
  requests and ``tokens_per_minute`` tokens in any window of ``window_s`` seconds. A request counts from
  when it is let through until ``window_s`` after it *ended*, so however long each request takes to reach
  the server, the server never sees more than the limit in any window. A request reserves the tokens the
  caller estimates (the provider: the prompt's, plus ``max_tokens`` when set) until it ends, then counts
  what it really used; without ``max_tokens`` a reply's length is unknown ahead, and the token limit is
  kept only approximately.
- **Pauses** (always on): when the endpoint answers 429 with ``Retry-After``, every call's next request
  waits until then, instead of each job hammering the endpoint on its own.

:func:`limiter_for` gives the process's limiter of an endpoint and model (made on first use, limits updated
when given); :func:`rate_limit_states` is what ``lpe/api/status`` shows. Thread-safe: the state is guarded
by a lock, and waiting is an ``asyncio.sleep`` on the caller's own loop, so calls on several event loops
(the server's, an embedded engine's) share one limit.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = ["RateLimiter", "Ticket", "limiter_for", "rate_limit_states"]


@dataclass(eq=False)
class Ticket:
    """One request let through: counted in the window until ``ended_at + window_s``."""

    tokens: int
    ended_at: float = math.inf  # in flight until it ends


class RateLimiter:
    """The shared limit of one endpoint and model (see the module docstring); ``None`` limits are off."""

    def __init__(
        self,
        endpoint: str,
        model: str,
        *,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self.model = model
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        # The tickets in the window: those in flight, and those ended, in the order they ended (the
        # order they leave the window in), so that expiring and counting cost O(1) per ticket, not a
        # walk of the whole window on every request (a batch of 200 calls has ~1000 in a minute).
        self._in_flight: set[Ticket] = set()
        self._ended: deque[Ticket] = deque()
        self._tokens = 0  # of every ticket in the window
        self._paused_until = 0.0
        self._pause_reason: str | None = None
        self._waiting = 0
        self._pauses = 0
        self._waited_s = 0.0

    def configure(
        self, *, requests_per_minute: int | None, tokens_per_minute: int | None, window_s: float
    ) -> None:
        """Change the limits (the latest configuration of this endpoint and model wins)."""
        with self._lock:
            self.requests_per_minute = requests_per_minute
            self.tokens_per_minute = tokens_per_minute
            self.window_s = window_s

    async def acquire(self, tokens: int = 0) -> Ticket:
        """Wait until a request of about ``tokens`` tokens may be sent; :meth:`release` its ticket after.

        Returns at once when no limit is set and no pause is on. Cancellable while waiting.
        """
        waited = False
        while True:
            with self._lock:
                wait_s = self._wait_s(tokens)
                if wait_s <= 0:
                    ticket = Ticket(tokens)
                    self._in_flight.add(ticket)
                    self._tokens += tokens
                    if waited:
                        self._waiting -= 1
                    return ticket
                if not waited:
                    self._waiting += 1
                    waited = True
                self._waited_s += wait_s
            try:
                await asyncio.sleep(wait_s)  # a timer: the limit is a matter of time
            except BaseException:
                with self._lock:
                    self._waiting -= 1
                raise

    def release(self, ticket: Ticket, *, tokens: int | None = None) -> None:
        """The request ended (answered or not); ``tokens`` is what it really used, when known."""
        with self._lock:
            if ticket not in self._in_flight:
                return  # released already
            self._in_flight.remove(ticket)
            ticket.ended_at = self._clock()
            if tokens is not None:
                self._tokens += tokens - ticket.tokens
                ticket.tokens = tokens
            self._ended.append(ticket)

    def pause(self, seconds: float, reason: str) -> None:
        """Hold every call's next request for ``seconds`` (a 429's ``Retry-After``); never shortens one."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            if until > self._paused_until:
                self._paused_until = until
                self._pause_reason = reason
                self._pauses += 1

    def state(self) -> dict[str, Any]:
        """The limit's configuration and current use, JSON-ready (for ``lpe/api/status``)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            paused_s = max(0.0, self._paused_until - now)
            return {
                "endpoint": self.endpoint,
                "model": self.model,
                "requests_per_minute": self.requests_per_minute,
                "tokens_per_minute": self.tokens_per_minute,
                "window_s": self.window_s,
                "requests_in_window": self._count(),
                "tokens_in_window": self._tokens,
                "waiting": self._waiting,
                "paused_for_s": round(paused_s, 3),
                "paused_until": _wall_clock_iso(paused_s) if paused_s > 0 else None,
                "pause_reason": self._pause_reason if paused_s > 0 else None,
                "pauses": self._pauses,
                "waited_s": round(self._waited_s, 3),
            }

    def _wait_s(self, tokens: int) -> float:
        """How long before a request of ``tokens`` may go (0: now); call with the lock held."""
        now = self._clock()
        self._expire(now)
        waits = [self._paused_until - now]
        rpm, tpm = self.requests_per_minute, self.tokens_per_minute
        if rpm is not None and self._count() >= rpm:
            waits.append(self._free_at(self._count() - rpm + 1) - now)
        if tpm is not None and self._count():
            used = self._tokens
            if used + tokens > tpm:
                # wait for the oldest tickets to leave until what remains leaves room (a request bigger
                # than the whole limit goes alone, once the window is empty)
                freed, count = 0, 0
                for ticket in itertools.chain(self._ended, self._in_flight):  # in the order they leave
                    freed += ticket.tokens
                    count += 1
                    if used - freed + tokens <= tpm:
                        break
                waits.append(self._free_at(count) - now)
        return max(waits)

    def _count(self) -> int:
        return len(self._in_flight) + len(self._ended)

    def _free_at(self, count: int) -> float:
        """When ``count`` tickets will have left the window (the soonest ones first)."""
        if count <= 0:
            return 0.0
        if count <= len(self._ended):
            return self._ended[count - 1].ended_at + self.window_s
        # A ticket still in flight frees nothing yet: look again shortly.
        return self._clock() + min(0.1, self.window_s)

    def _expire(self, now: float) -> None:
        ended = self._ended
        while ended and ended[0].ended_at + self.window_s <= now:
            self._tokens -= ended.popleft().tokens


def _wall_clock_iso(seconds_from_now: float) -> str:
    moment = datetime.fromtimestamp(time.time() + seconds_from_now, timezone.utc)
    return moment.isoformat(timespec="milliseconds")


_LIMITERS: dict[tuple[str, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(
    endpoint: str,
    model: str,
    *,
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    window_s: float = 60.0,
) -> RateLimiter:
    """This process's limiter of ``endpoint`` and ``model``, with these limits from now on."""
    key = (endpoint.rstrip("/"), model)
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = RateLimiter(key[0], model)
    limiter.configure(
        requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute, window_s=window_s
    )
    return limiter


def rate_limit_states() -> list[dict[str, Any]]:
    """The state of every endpoint and model this process has called (see :meth:`RateLimiter.state`)."""
    with _LIMITERS_LOCK:
        limiters = list(_LIMITERS.values())
    return [limiter.state() for limiter in limiters]
