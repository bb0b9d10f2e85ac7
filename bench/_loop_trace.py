"""A trace of a server's event loop, for ``bench/server.py --bad-readers N --loop-trace FILE``.

Installed in the ``jupyter server`` subprocess by the peer extension (``bench/_server_peer_ext.py``) when
``LPE_BENCH_LOOP_TRACE`` names a file, it writes JSON lines once a second from a thread of its own:

- ``["it", unix_start, ms, callbacks, [[kind, count, ms], ...]]``: each loop iteration that took 5 ms or
  more (its ``select`` included, which waits only while nothing is ready), with the kinds of callback that
  took most of it (a task by its coroutine's name, else the callback's);
- ``["gc", unix_start, ms, generation]``: each garbage collection of 1 ms or more;
- ``["hop", unix_start, ms, function, [queue_ms, run_ms, back_ms, cpu_ms]]``: each call to an SQLite connection's
  thread (aiosqlite) of 5 ms or more, split into the wait for the thread, the call itself (the GIL's waits
  included), the way back until the awaiting task runs again, and the thread's CPU time during the call.

Diagnosis only: a callback costs about a microsecond more. :func:`summary` reads the file back.
"""

from __future__ import annotations

import asyncio.base_events
import asyncio.events
import functools
import gc
import json
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ITERATION_MS = 5.0
GC_MS = 1.0
HOP_MS = 5.0


def _kind(callback: Any) -> str:
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return "task " + getattr(owner.get_coro(), "__qualname__", "?")
    return str(getattr(callback, "__qualname__", type(callback).__name__))


def install(path: Path) -> None:
    """Trace this process's event loops into ``path`` from now on."""
    records: list[list[Any]] = []
    iteration: list[tuple[Any, float]] | None = None  # (callback, seconds) of the iteration under way
    run = asyncio.events.Handle._run
    run_once = asyncio.base_events.BaseEventLoop._run_once  # type: ignore[attr-defined]

    def timed_run(handle: asyncio.events.Handle) -> None:
        callback, started = handle._callback, time.perf_counter()  # type: ignore[attr-defined]
        try:
            run(handle)
        finally:
            if iteration is not None:  # the callback as it was: running may cancel the handle
                iteration.append((callback, time.perf_counter() - started))

    def timed_run_once(loop: asyncio.base_events.BaseEventLoop) -> None:
        nonlocal iteration
        iteration, started = [], time.perf_counter()
        run_once(loop)
        took_ms = (time.perf_counter() - started) * 1000
        if took_ms >= ITERATION_MS:
            kinds: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
            for callback, seconds in iteration:
                entry = kinds[_kind(callback)]
                entry[0] += 1
                entry[1] += seconds * 1000
            top = sorted(kinds.items(), key=lambda item: -item[1][1])[:6]
            records.append(
                [
                    "it",
                    time.time() - took_ms / 1000,
                    round(took_ms, 2),
                    len(iteration),
                    [[k, int(n), round(ms, 2)] for k, (n, ms) in top],
                ]
            )
        iteration = None

    gc_started = [0.0]

    def gc_clock(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            took_ms = (time.perf_counter() - gc_started[0]) * 1000
            if took_ms >= GC_MS:
                records.append(["gc", time.time() - took_ms / 1000, round(took_ms, 2), info["generation"]])

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign,assignment]
    asyncio.base_events.BaseEventLoop._run_once = timed_run_once  # type: ignore[attr-defined]
    gc.callbacks.append(gc_clock)
    _trace_hops(records)

    def flush() -> None:
        while True:
            time.sleep(1.0)
            taken = records[:]
            del records[: len(taken)]
            if taken:
                with path.open("a") as out:
                    out.writelines(json.dumps(record) + "\n" for record in taken)

    threading.Thread(target=flush, name="lpe-bench-loop-trace", daemon=True).start()


def _trace_hops(records: list[list[Any]]) -> None:
    import aiosqlite.core

    execute = aiosqlite.core.Connection._execute

    async def timed_execute(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        marks: dict[str, float] = {}
        call = functools.partial(fn, *args, **kwargs)

        def timed() -> Any:
            marks["start"], cpu = time.perf_counter(), time.thread_time()
            try:
                return call()
            finally:
                marks["end"], marks["cpu"] = time.perf_counter(), time.thread_time() - cpu

        started = time.perf_counter()
        try:
            return await execute(conn, timed)  # type: ignore[no-untyped-call]
        finally:
            back = time.perf_counter()
            if (back - started) * 1000 >= HOP_MS:
                start, end = marks.get("start", back), marks.get("end", back)
                name = getattr(fn, "__qualname__", "?")  # the store's function (a lambda in its method)
                stages = [
                    round((start - started) * 1000, 2),
                    round((end - start) * 1000, 2),
                    round((back - end) * 1000, 2),
                    round(marks.get("cpu", 0.0) * 1000, 2),
                ]
                records.append(
                    ["hop", time.time() - (back - started), round((back - started) * 1000, 2), name, stages]
                )

    aiosqlite.core.Connection._execute = timed_execute  # type: ignore[method-assign,assignment]


def summary(path: Path, start_unix: float, seconds: float, bucket_s: float = 0.25) -> dict[str, Any]:
    """What the trace says about ``seconds`` from ``start_unix``: per bucket the ms of iterations of 5 ms or
    more and the longest one; the callback kinds that took most of those iterations; GC pauses; and the
    slow thread hops by stage."""
    buckets: dict[int, list[float]] = defaultdict(list)
    kinds: Counter[str] = Counter()
    gcs: list[tuple[float, float, int]] = []
    hops: list[tuple[float, float, str, list[float]]] = []
    for line in path.read_text().splitlines() if path.exists() else []:
        record = json.loads(line)
        at = record[1] - start_unix
        if not 0 <= at < seconds:
            continue
        if record[0] == "it":
            buckets[int(at / bucket_s)].append(record[2])
            for kind, _count, ms in record[4]:
                kinds[kind] += ms
        elif record[0] == "gc":
            gcs.append((round(at, 2), record[2], record[3]))
        elif record[0] == "hop":
            hops.append((round(at, 2), record[2], record[3], record[4]))
    return {
        "bucket_s": bucket_s,
        "long_iterations_ms": [round(sum(buckets.get(i, [])), 1) for i in range(int(seconds / bucket_s))],
        "longest_iteration_ms": [
            round(max(buckets.get(i, [0.0])), 1) for i in range(int(seconds / bucket_s))
        ],
        "top_kinds_ms": [(kind, round(ms, 1)) for kind, ms in kinds.most_common(8)],
        "gc_ms": sorted(gcs, key=lambda g: -g[1])[:5],
        "slowest_hops": sorted(hops, key=lambda h: -h[1])[:6],
    }
