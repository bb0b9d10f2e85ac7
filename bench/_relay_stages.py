"""Where a relayed progress event's time goes, stage by stage: ``bench/scaleout.py --stages``.

The workers run as ``bench/_traced_worker.py`` (each writes its events' ``queued``, ``sending`` and
``sent`` moments and its garbage collector's pauses to a file); this process traces its own relay
(``received``, ``delivered``) and the moment the bench's subscriber read each event (``got``). Events are
matched by (job id, seq); every moment is ``time.time()`` on one machine, as the report's timestamp is.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lpe_nb.jobs.events import JobEvent
from lpe_nb.jobs.postgres._relay import trace_stages

__all__ = ["StageTrace"]

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("report", "queued", "sending", "sent", "received", "delivered", "got")
LABELS = {
    "queued": "reported -> queued for the publisher",
    "sending": "queued -> its NOTIFY statement starts",
    "sent": "NOTIFY statement (round trip)",
    "received": "sent -> read by the listener here",
    "delivered": "decoded, on the bus here",
    "got": "bus -> read by the subscriber",
}
Key = tuple[str, int]


def time_loop_callbacks(threshold_ms: float = 5.0) -> list[tuple[float, float, str, float]]:
    """From now on, note each event loop callback of this process that runs ``threshold_ms`` or longer:
    ``(end time, ms, what)`` in the list returned (a diagnostic wrapper around asyncio's ``Handle._run``)."""
    slow: list[tuple[float, float, str, float]] = []
    run = asyncio.events.Handle._run

    def timed(handle: asyncio.events.Handle) -> None:
        started, cpu_started = time.perf_counter(), time.thread_time()
        run(handle)
        ms = (time.perf_counter() - started) * 1000
        if ms >= threshold_ms:
            cpu_ms = (time.thread_time() - cpu_started) * 1000
            callback = getattr(handle, "_callback", None)
            task = getattr(callback, "__self__", None)
            what = task.get_name() if isinstance(task, asyncio.Task) else repr(callback)[:80]
            if isinstance(task, asyncio.Task):
                what += " " + getattr(task.get_coro(), "__qualname__", "")
            slow.append((time.time(), ms, what, cpu_ms))

    asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]
    return slow


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, max(0, round(q / 100 * len(ranked) + 0.5) - 1))]


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass
class StageTrace:
    """The stages of this run's relayed progress events; :meth:`install` before the engine starts."""

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lpe-relay-stages-")))
    local: list[tuple[str, float, str]] = field(default_factory=list)  # this process's relay
    got: dict[Key, tuple[float, float]] = field(default_factory=dict)  # key -> (reported, read)
    steps: dict[Key, str] = field(default_factory=dict)  # key -> the progress's current step
    gc_pauses: list[tuple[float, float, int]] = field(default_factory=list)
    slow: list[tuple[float, float, str, float]] = field(default_factory=list)
    workers: int = 0
    _gc_started: float = 0.0

    def install(self) -> None:
        trace_stages(lambda stage, payload: self.local.append((stage, time.time(), payload)))
        gc.callbacks.append(self._on_gc)
        self.slow = time_loop_callbacks()

    def uninstall(self) -> None:
        trace_stages(None)
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            ms = (time.perf_counter() - self._gc_started) * 1000
            self.gc_pauses.append((time.time(), ms, info["generation"]))

    def worker_command(self) -> list[str]:
        """How to start one more traced worker: the CLI's arguments follow."""
        self.workers += 1
        trace_file = self.directory / f"worker-{self.workers}.json"
        return [sys.executable, str(ROOT / "bench" / "_traced_worker.py"), str(trace_file)]

    def read(self, event: JobEvent) -> None:
        """The subscriber read ``event`` (one the bench counts)."""
        assert event.progress is not None
        self.got[(event.job_id, event.seq)] = (_timestamp(event.progress.timestamp), time.time())
        self.steps[(event.job_id, event.seq)] = event.progress.current_step

    def report(self) -> list[str]:
        """Per-stage p50/p99/max, and where the slowest 1 % of the events spent their time."""
        moments: dict[Key, dict[str, float]] = {
            key: {"report": r, "got": g} for key, (r, g) in self.got.items()
        }
        origin: dict[Key, int] = {}
        worker_pauses: dict[int, list[tuple[float, float, int]]] = {}
        worker_gc_cpu: dict[int, list[tuple[float, float, int]]] = {}  # (wall ms, cpu ms, generation)
        frozen: dict[int, int] = {}
        worker_slow: dict[int, list[tuple[float, float, str, float]]] = {}
        for index in range(1, self.workers + 1):
            path = self.directory / f"worker-{index}.json"
            if not path.exists():
                continue
            data = json.loads(path.read_text())
            worker_pauses[index] = [(p[0], p[1], p[2]) for p in data["gc"]]
            worker_gc_cpu[index] = [(p[1], p[3], p[2]) for p in data["gc"]]
            frozen[index] = data["frozen"]
            worker_slow[index] = [tuple(p) for p in data["slow"]]
            for stage, moment, job_id, seq in data["stages"]:
                key = (job_id, seq)
                # A worker's listener receives (and delivers) the events too: only the bench's count here.
                if key in moments and stage in ("queued", "sending", "sent"):
                    moments[key].setdefault(stage, moment)
                    origin[key] = index
        for stage, moment, payload in self.local:
            message = json.loads(payload)
            if message.get("k") != "progress":
                continue
            key = (message["j"], int(message["s"]))
            if key in moments:
                moments[key].setdefault(stage, moment)
        complete = {k: m for k, m in moments.items() if all(s in m for s in STAGES)}
        early = sum(1 for m in complete.values() if m["got"] < m["delivered"])
        earlier = sum(1 for m in complete.values() if m["got"] < m["received"])
        lines = [
            f"relay stages of {len(complete)} of {len(moments)} progress events (ms; read by the subscriber "
            f"before this process's relay put them on its bus: {early}, before it received them: {earlier})"
        ]
        spans: dict[str, list[float]] = {}
        for m in complete.values():
            for before, after in itertools.pairwise(STAGES):
                spans.setdefault(after, []).append((m[after] - m[before]) * 1000)
            spans.setdefault("total", []).append((m["got"] - m["report"]) * 1000)
        for stage, label in [*LABELS.items(), ("total", "total (the bench's event latency)")]:
            values = spans.get(stage, [])
            lines.append(
                f"  {label:<40} p50 {_percentile(values, 50):7.2f}  p99 {_percentile(values, 99):7.2f}"
                f"  max {max(values, default=0):7.2f}"
            )
        totals = sorted(complete, key=lambda k: complete[k]["got"] - complete[k]["report"])
        slowest = totals[-max(1, len(totals) // 100) :]
        if slowest:
            mean = {
                stage: sum((complete[k][stage] - complete[k][prev]) * 1000 for k in slowest) / len(slowest)
                for prev, stage in itertools.pairwise(STAGES)
            }
            lines.append(
                f"  the slowest {len(slowest)} spent on average: "
                + ", ".join(f"{stage} {ms:.1f}" for stage, ms in mean.items())
            )
            for key in slowest[-8:]:
                m = complete[key]
                pauses = [
                    f"{ms:.0f}ms gen{gen}"
                    for at, ms, gen in worker_pauses.get(origin.get(key, 0), [])
                    if m["report"] <= at and at - ms / 1000 <= m["sent"] and ms >= 1
                ] + [
                    f"bench {ms:.0f}ms gen{gen}"
                    for at, ms, gen in self.gc_pauses
                    if m["sent"] <= at and at - ms / 1000 <= m["got"] and ms >= 1
                ]
                first = min(
                    (moments[k]["report"] for k, i in origin.items() if i == origin.get(key)),
                    default=m["report"],
                )
                lines.append(
                    f"    +{m['report'] - first:5.1f}s {self.steps.get(key, '?')[:12]:<12} "
                    + " ".join(
                        f"{stage} {(m[stage] - m[prev]) * 1000:.1f}"
                        for prev, stage in itertools.pairwise(STAGES)
                    )
                    + (f"  gc: {', '.join(pauses)}" if pauses else "")
                )
        for name, process_pauses in [
            ("bench", self.gc_pauses),
            *((f"worker {i}", p) for i, p in worker_pauses.items()),
        ]:
            long = [ms for _, ms, _ in process_pauses if ms >= 5]
            lines.append(
                f"  gc pauses in {name}: {len(process_pauses)}, {len(long)} of 5 ms or more (max {max(long, default=0):.1f} ms)"
            )
        for index, pauses_cpu in worker_gc_cpu.items():
            cpu = sorted(pauses_cpu, key=lambda p: -p[1])[:3]
            lines.append(
                f"  worker {index}: {frozen[index]} objects frozen; its gc pauses' most cpu (wall/cpu ms, gen): "
                + ", ".join(f"{w:.0f}/{c:.0f} gen{g}" for w, c, g in cpu)
            )
        for name, callbacks in [("bench", self.slow), *((f"worker {i}", c) for i, c in worker_slow.items())]:
            by_what: dict[str, list[tuple[float, float]]] = {}
            for _, ms, what, cpu_ms in callbacks:
                by_what.setdefault(what.split(":")[0], []).append((ms, cpu_ms))
            top = sorted(by_what.items(), key=lambda item: -max(item[1])[0])[:6]
            lines.append(
                f"  loop callbacks of 5 ms or more in {name}: {len(callbacks)}; longest (wall/cpu ms): "
                + "; ".join(f"{what} x{len(v)} max {max(v)[0]:.0f}/{max(v)[1]:.0f}" for what, v in top)
            )
        return lines
