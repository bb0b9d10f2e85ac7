"""``python bench/_traced_worker.py TRACE_FILE worker ...``: ``python -m lpe_nb worker ...`` that times its
relayed events' stages for ``bench/scaleout.py --stages``.

It calls :func:`lpe_nb.jobs.postgres._relay.trace_stages` (each event payload's
``queued``, ``sending`` and ``sent`` moments, wall clock) and records the garbage collector's pauses, then
times the event loop's callbacks that hold it 5 ms or more, then runs the CLI with the remaining arguments;
at exit it writes ``{"stages": [[stage, time, job, seq], ...], "gc": [[time, ms, generation, cpu ms, collected], ...],
"slow": [[time, ms, callback, cpu ms], ...]}`` to TRACE_FILE.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._relay_stages import time_loop_callbacks
from lpe_nb.cli import main
from lpe_nb.jobs.postgres._relay import trace_stages

Stage = tuple[str, float, str]


def event_key(payload: str) -> tuple[str, int] | None:
    """The (job id, seq) of a relayed progress event's payload; None for another kind."""
    message = json.loads(payload)
    return (message["j"], int(message["s"])) if message.get("k") == "progress" else None


def main_traced(trace_file: str, argv: list[str]) -> int:
    stages: list[Stage] = []
    pauses: list[tuple[float, float, int, float, int]] = []
    gc_started = [0.0, 0.0]

    def trace(stage: str, payload: str) -> None:
        stages.append((stage, time.time(), payload))

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[:] = time.perf_counter(), time.thread_time()
        else:
            ms, cpu_ms = (
                (time.perf_counter() - gc_started[0]) * 1000,
                (time.thread_time() - gc_started[1]) * 1000,
            )
            pauses.append((time.time(), ms, info["generation"], cpu_ms, info["collected"]))

    trace_stages(trace)
    gc.callbacks.append(on_gc)
    slow = time_loop_callbacks()
    try:
        return main(argv)
    finally:
        rows = []
        for stage, moment, payload in stages:  # decoded now, not while timing
            key = event_key(payload)
            if key is not None:
                rows.append([stage, moment, *key])
        Path(trace_file).write_text(
            json.dumps({"stages": rows, "gc": pauses, "slow": slow, "frozen": gc.get_freeze_count()})
        )


if __name__ == "__main__":
    sys.exit(main_traced(sys.argv[1], sys.argv[2:]))
