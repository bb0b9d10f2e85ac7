"""After a crowd of WebSocket connections closes, the memory glibc's malloc kept goes back to the system.

``malloc_trim`` is the real one (the test is skipped where there is none: not Linux, or not glibc); RSS is
read from ``/proc/self/statm``. The window logic is driven by real closes counted on the event loop, with a
trim function that records its calls.
"""

from __future__ import annotations

import os
import threading

import pytest

from lpe_nb.server_ext._memory import TrimAfterClosing, malloc_trim
from tests.waiting import eventually

DEADLINE_S = 10.0
CHUNK_BYTES = 2000  # over pymalloc's 512 B, under glibc's mmap threshold: from malloc's heap
CHUNKS = 20_000  # 40 MB


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(malloc_trim is None, reason="no glibc malloc_trim here")
def test_malloc_trim_gives_back_what_was_freed_below_the_top_of_the_heap() -> None:
    assert malloc_trim is not None
    chunks = [os.urandom(CHUNK_BYTES) for _ in range(CHUNKS)]  # random: the pages are really touched
    pin = chunks.pop()  # the last one stays, so free() alone cannot shrink the heap from its top
    grown = rss_bytes()
    del chunks
    malloc_trim(0)
    trimmed = rss_bytes()
    assert grown - trimmed > CHUNKS * CHUNK_BYTES // 2, (grown, trimmed)
    assert len(pin) == CHUNK_BYTES


class Recorder:
    """A trim function: records the pads it was called with, and on which thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []

    def __call__(self, pad: int) -> int:
        self.calls.append((pad, threading.current_thread() is threading.main_thread()))
        return 1


async def test_a_crowd_closing_within_the_window_trims_once_off_the_loop() -> None:
    trim = Recorder()
    trimmer = TrimAfterClosing(window_s=0.05, min_closed=3, trim=trim)
    for _ in range(5):
        trimmer.closed()
    await eventually(lambda: bool(trim.calls), "the trim")
    assert trim.calls == [(0, False)]  # malloc_trim(0), in a worker thread
    assert trimmer.trims == 1
    trimmer.close()


async def test_a_few_closes_do_not_trim() -> None:
    trim = Recorder()
    trimmer = TrimAfterClosing(window_s=0.05, min_closed=3, trim=trim)
    trimmer.closed()
    trimmer.closed()
    await eventually(lambda: trimmer._timer is None, "the window to end")
    trimmer.closed()  # a new window: the two before do not count
    await eventually(lambda: trimmer._timer is None, "the second window to end")
    assert trim.calls == [] and trimmer.trims == 0
    trimmer.close()


async def test_without_malloc_trim_nothing_is_scheduled() -> None:
    trimmer = TrimAfterClosing(window_s=0.05, min_closed=1, trim=None)
    trimmer.closed()
    assert trimmer._timer is None and trimmer.trims == 0
