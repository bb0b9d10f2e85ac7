"""Keeping a long-lived process's start-up heap out of the garbage collector's full passes."""

from __future__ import annotations

import gc

__all__ = ["freeze_start_up_heap"]

_frozen = False


def freeze_start_up_heap() -> int:
    """Collect the start-up's garbage, then ``gc.freeze()`` what remains, the first time in this process;
    how many objects it froze (0 after that).

    What a server or a worker made at start (modules, the LLM client, the store and its connections)
    lives as long as the process, and each full collection walked all of it: 50-60 ms of CPU for a
    worker's ~120,000 objects, a 0.1-0.3 s pause every few thousand submissions in a Jupyter server,
    holding the event loop each time (``docs/benchmarks.md``). Frozen, a full pass walks what came after.
    Once per process: a second server in the same process (a test suite) adds nothing by freezing again.
    """
    global _frozen
    if _frozen:
        return 0
    _frozen = True
    gc.collect()  # the start-up's garbage goes now, not frozen with the rest
    gc.freeze()
    return gc.get_freeze_count()
