"""A benchmark-only Jupyter server extension that sits next to ``lpe_nb.server_ext`` in the same server.

``bench/server.py`` enables it in the ``jupyter server`` subprocess it starts; nothing else should. It adds:

- ``POST {base_url}lpe-bench/ceiling``: an authenticated, authorized ``APIHandler`` that parses the JSON
  body like the real create handler and answers 202 with a small JSON body without creating a job: the
  ceiling of the HTTP stack (Tornado, jupyter_server's auth and logging) for the submission benchmark.
- ``POST {base_url}lpe-bench/setup``: registers the ``ticker`` job type into the running lpe engine's
  operation registry (on first use, after the lpe extension has loaded) and submits ``jobs`` tickers; each
  sleeps until ``start_at_ns`` (wall clock) and then reports progress ``hz`` times a second for
  ``duration_s`` seconds, the publish time (``time.time_ns()``) in ``details["t_ns"]``. With
  ``staggered`` (the default) job k starts k/jobs of a period after ``start_at_ns``, so the reports are
  spread evenly over each period instead of all landing at once. ``pad_bytes`` adds that much text to
  each report (as streamed LLM text would). Answers 202 with ``{"job_ids": [...]}``.
- ``POST {base_url}lpe-bench/stop``: every ticker finishes at its next tick, however long it was to run.
- ``GET {base_url}lpe-bench/sockets``: ``{"open": n}``, the lpe WebSocket connections the server holds.
- ``POST {base_url}lpe-bench/gc``: a full garbage collection, for diagnosis (the benches never call it).
- ``POST {base_url}lpe-bench/worker-thread``: starts (once) a job engine on an event loop of its own, in
  a thread of this server's process (``lpe_nb.worker.run_worker``, mock LLM, zero latency), on the
  database ``{"db_path": ...}``; with the lpe extension's ``dispatch = 'never'`` it runs the jobs the
  server takes: what an engine on its own loop thread would cost the server (the GIL is shared).
- ``GET {base_url}lpe-bench/reads-from-memory``: ``{"reads": n}``, the store's reads answered from memory
  since the server started (``SqliteJobStore.reads_from_memory``; null on another backend). ``POST`` it
  ``{"on": false}`` to send every read to the database from then on (``SqliteJobStore.repeat_reads``), as
  ``bench/history.py`` does to measure the reads themselves.
- ``GET {base_url}lpe-bench/gc-time``: the collections the garbage collector made since the server
  started and the seconds they took, per generation (``gc.callbacks``): ``{"collections": [n0, n1, n2],
  "seconds": [s0, s1, s2]}``; bench/server.py reports the share of each endpoint's samples.

With ``LPE_BENCH_LOOP_TRACE=<file>`` in its environment it also traces the server's event loop into that
file (``bench/_loop_trace.py``; ``bench/server.py --bad-readers N --loop-trace FILE``).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from lpe_nb.jobs import StepContext
from lpe_nb.server_ext.engine import ServerEngine
from lpe_nb.server_ext.handlers import AUTH_RESOURCE, ENGINE_SETTING
from lpe_nb.worker import WorkerOptions, run_worker

TICKER = "ticker"
_STOPPED: set[str] = set()  # "stop" once lpe-bench/stop was called (a set: no event loop needed to import)


async def ticker(ctx: StepContext, data: Any) -> dict[str, Any]:
    """Report progress at ``hz`` on a fixed wall-clock schedule, each report stamped with its publish time."""
    hz, duration_s, start_at_ns = float(data["hz"]), float(data["duration_s"]), int(data["start_at_ns"])
    ticks = max(1, round(hz * duration_s))
    pad = "x" * int(data.get("pad_bytes", 0))
    for i in range(ticks):
        if _STOPPED:
            break
        due_ns = start_at_ns + round(i * 1e9 / hz)
        delay_s = (due_ns - time.time_ns()) / 1e9
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        details: dict[str, Any] = {"i": i, "t_ns": time.time_ns()}
        if pad:
            details["partial_text"] = pad
        ctx.report("tick", completed_steps=i + 1, total_steps=ticks, details=details)
    # One more period before finishing: the manager's own 100% progress at completion would otherwise
    # replace (coalesce) the last tick in every queue that has not sent it yet.
    await asyncio.sleep(1 / hz)
    return {"ticks": ticks}


class _GcClock:
    """The collector's runs and time per generation, from ``gc.callbacks`` (installed at load)."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        self.collections[generation] += 1
        self.seconds[generation] += time.perf_counter() - self._started


GC_CLOCK = _GcClock()


class _BenchHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    def body_object(self) -> dict[str, Any]:
        try:
            value = json.loads((self.request.body or b"").decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise web.HTTPError(400, "the body is not JSON") from None
        if not isinstance(value, dict):
            raise web.HTTPError(400, "the body must be a JSON object")
        return value


class CeilingHandler(_BenchHandler):
    """What a create endpoint costs without the job: auth, body parsing, a 202 JSON answer."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.body_object()
        self.set_status(202)
        self.finish(json.dumps({"job_id": uuid.uuid4().hex, "status": "pending"}))


class SetupHandler(_BenchHandler):
    """Register the ticker type (once) and submit ``jobs`` tickers; 202 with their ids."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body_object()
        engine: ServerEngine = self.settings[ENGINE_SETTING]
        manager = (await engine.ready()).manager
        if TICKER not in manager.registry.job_types:
            manager.registry.register(TICKER, ticker, description="benchmark: progress at a fixed rate")
        jobs, hz, start_at_ns = int(body["jobs"]), float(body["hz"]), int(body["start_at_ns"])
        job_ids = []
        for k in range(jobs):
            # staggered: job k's ticks are k/jobs of a period late, spreading the reports evenly in time
            offset_ns = round(k * 1e9 / hz / jobs) if body.get("staggered", True) else 0
            job_input = {
                "hz": hz,
                "duration_s": body["duration_s"],
                "start_at_ns": start_at_ns + offset_ns,
                "pad_bytes": int(body.get("pad_bytes", 0)),
            }
            job_ids.append(await manager.submit(TICKER, job_input))
        self.set_status(202)
        self.finish(json.dumps({"job_ids": job_ids}))


class StopHandler(_BenchHandler):
    """Have every ticker finish at its next tick."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        _STOPPED.add("stop")
        self.set_status(204)
        self.finish()


class SocketsHandler(_BenchHandler):
    """How many lpe WebSocket connections the server holds (opened and not yet closed)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        engine: ServerEngine = self.settings[ENGINE_SETTING]
        self.finish(json.dumps({"open": len(engine.sockets)}))


class ReadsFromMemoryHandler(_BenchHandler):
    """How many of the store's reads were answered from memory (no commit since the same read)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        engine: ServerEngine = self.settings[ENGINE_SETTING]
        store = (await engine.ready()).manager.store
        self.finish(json.dumps({"reads": getattr(store, "reads_from_memory", None)}))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        engine: ServerEngine = self.settings[ENGINE_SETTING]
        store = (await engine.ready()).manager.store
        if hasattr(store, "repeat_reads"):
            store.repeat_reads = bool(self.body_object()["on"])
        self.set_status(204)
        self.finish()


class GcHandler(_BenchHandler):
    """A full garbage collection now: how many objects it found unreachable, how many are left, by type."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        found = gc.collect()
        objects = gc.get_objects()
        types = collections.Counter(type(o).__qualname__ for o in objects).most_common(40)
        self.finish(json.dumps({"unreachable": found, "objects": len(objects), "types": types}))


_WORKER_THREADS: list[threading.Thread] = []


def _run_worker_thread(db_path: str, started: threading.Event) -> None:
    async def main() -> None:
        stop = asyncio.Event()  # never set: the thread lives as long as the server (a daemon)
        started.set()
        await run_worker(WorkerOptions(db_path=db_path), stop)

    asyncio.run(main())


class WorkerThreadHandler(_BenchHandler):
    """Start a job engine on a loop thread of its own in this process (once); 202."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body_object()
        if not _WORKER_THREADS:
            os.environ.update({"LPE_LLM_PROVIDER": "mock", "LPE_MOCK_LATENCY_S": "0"})  # the worker's LLM
            started = threading.Event()
            thread = threading.Thread(
                target=_run_worker_thread, args=(str(body["db_path"]), started), daemon=True
            )
            thread.start()
            _WORKER_THREADS.append(thread)
            await asyncio.get_running_loop().run_in_executor(None, started.wait, 30.0)
        self.set_status(202)
        self.finish(json.dumps({"threads": len(_WORKER_THREADS)}))


class GcTimeHandler(_BenchHandler):
    """The garbage collector's runs and seconds per generation since the server started."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps({"collections": GC_CLOCK.collections, "seconds": GC_CLOCK.seconds}))


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "bench._server_peer_ext"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    if GC_CLOCK not in gc.callbacks:
        gc.callbacks.append(GC_CLOCK)
    if trace := os.environ.get("LPE_BENCH_LOOP_TRACE"):  # bench/server.py --loop-trace
        from bench._loop_trace import install

        install(Path(trace))
    base_url = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, "lpe-bench/ceiling"), CeilingHandler),
            (url_path_join(base_url, "lpe-bench/setup"), SetupHandler),
            (url_path_join(base_url, "lpe-bench/stop"), StopHandler),
            (url_path_join(base_url, "lpe-bench/sockets"), SocketsHandler),
            (url_path_join(base_url, "lpe-bench/gc"), GcHandler),
            (url_path_join(base_url, "lpe-bench/gc-time"), GcTimeHandler),
            (url_path_join(base_url, "lpe-bench/reads-from-memory"), ReadsFromMemoryHandler),
            (url_path_join(base_url, "lpe-bench/worker-thread"), WorkerThreadHandler),
        ],
    )
