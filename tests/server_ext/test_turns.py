"""Turnstile: at most ``per_iteration`` callers pass in one event-loop iteration, in order of arrival.

Iterations are counted by a callback that schedules itself again each time it runs (``call_soon`` from a
callback runs in the next iteration), so the tests count work per iteration without timing anything.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest

from lpe_nb.server_ext._turns import Turnstile


class IterationClock:
    """The number of the loop iteration running now: a callback that re-schedules itself counts them."""

    def __init__(self) -> None:
        self.now = 0
        self._handle: asyncio.Handle | None = None

    def start(self) -> None:
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self) -> None:
        self.now += 1
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


@pytest.fixture
def clock() -> Iterator[IterationClock]:
    clock = IterationClock()
    yield clock
    clock.stop()


async def test_a_caller_alone_passes_at_once(clock: IterationClock) -> None:
    turns = Turnstile(2)
    clock.start()
    before = clock.now
    await turns.turn()
    assert clock.now == before  # no iteration went by
    assert (turns.passed, turns.delayed) == (1, 0)


async def test_a_crowd_passes_at_most_per_iteration_each_iteration_in_order_of_arrival(
    clock: IterationClock,
) -> None:
    turns = Turnstile(3)
    passed_at: list[tuple[int, int]] = []  # (caller, iteration)

    async def caller(number: int) -> None:
        await turns.turn()
        passed_at.append((number, clock.now))

    clock.start()
    await asyncio.gather(*(caller(number) for number in range(20)))
    per_iteration = Counter(iteration for _, iteration in passed_at)
    assert max(per_iteration.values()) == 3
    assert len(per_iteration) == 7  # 20 callers, 3 at a time
    assert [number for number, _ in passed_at] == list(range(20))
    assert (turns.passed, turns.delayed, turns.waiting) == (20, 17, 0)


async def test_a_cancelled_caller_gives_its_place_to_the_next() -> None:
    turns = Turnstile(1)
    callers = [asyncio.ensure_future(turns.turn()) for _ in range(3)]
    await asyncio.sleep(0)  # each ran up to its turn: the first passed, two wait
    assert turns.waiting == 2
    callers[1].cancel()
    await asyncio.gather(callers[0], callers[2])
    assert callers[1].cancelled()
    assert (turns.passed, turns.waiting) == (2, 0)


def test_per_iteration_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Turnstile(0)
