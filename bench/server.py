"""The server extension end to end, against a real ``jupyter server`` subprocess on loopback.

(a) Submissions per second through ``POST {base_url}lpe/api/projection/create`` (mock LLM, zero latency,
    so each job's five instant mock calls run in the server during the measurement: part of the cost),
    side by side with ``POST {base_url}lpe-bench/ceiling``, an authenticated, authorized ``APIHandler`` in
    the same server that parses the body and answers 202 without creating a job (the HTTP stack's ceiling,
    from ``bench/_server_peer_ext.py``). K requests at concurrency C per sample from Tornado's
    ``AsyncHTTPClient`` (one connection per request: that client does not keep connections alive, which
    costs both endpoints the same); the endpoints alternate in interleaved repeats and each sample starts
    with the job queue drained. ``submit_ratio`` = median projection rate / median ceiling rate. Every
    projection submission must get 202 with a distinct job id, and the jobs must be in the database.
    Beside it, end to end: a sample's projection jobs per second from its first POST until every job it
    posted has run to its end (the posting window plus the drain after it; not with ``--run-jobs never``).
    Also printed: the server process's CPU per request of each endpoint over the posting window (from
    ``/proc``; with ``--run-jobs here`` it includes the share of the jobs' own work done meanwhile).
    ``--run-jobs`` says where the submitted jobs run, to tell the submit path from the jobs' work:
    ``here`` (the default, the acceptance figure): the server's own engine, on its event loop;
    ``never``: nowhere (``dispatch = 'never'``; the jobs stay pending): the submit path alone;
    ``worker``: a headless ``python -m lpe_nb worker`` process on the same database, the server with
    ``dispatch = 'never'`` (docs/workers.md); ``thread``: the same worker on a loop thread of its own
    inside the server's process (the peer extension's ``lpe-bench/worker-thread``): what an engine on
    its own loop thread would cost the server, the GIL shared (events still reach the server through
    the database, as a peer's do, where an in-process engine would hand them over directly).

(b) WebSocket fan-out: a fresh server (its job ``concurrency`` raised so all tickers run at once) runs
    ``ticker`` jobs (registered into the lpe engine's operation registry by the peer extension) that
    report progress at ``hz`` on a fixed schedule, each report carrying its publish time; this process
    opens two ``{base_url}lpe/ws`` connections per job and ``watch``es. The latency of a progress frame
    is its receipt time (``time.time_ns()`` right after the frame is read) minus the publish time (same
    machine, same clock), over every frame of the ticking window; p50 and p99, the frame count and how
    many reports reached the clients (the rest were coalesced by the server's per-connection queues).

    python bench/server.py [--requests 1000] [--concurrency 32] [--repeats 5]
                           [--run-jobs here|never|worker|thread] [--submit-only]
                           [--ws-jobs 50] [--ws-per-job 2] [--hz 20] [--ws-seconds 5]

Prints the figures and, last, ``submit_ratio=<x> ws_p99_ms=<y>``; writes ``bench/results/server.json``.
With ``--py-spy DIR`` (py-spy installed) each sample of (a) is also recorded by ``py-spy record --gil`` at
250 Hz into DIR (raw collapsed stacks, one file per sample), and the functions that take most of each
endpoint's time while holding the GIL are printed, in µs per request (inclusive).

(c) With ``--bad-readers N`` (and only then, instead of (a) and (b)): N WebSocket clients that never read,
    against 50 jobs streaming to good clients (``bench/_bad_readers.py``): the server's RSS at baseline,
    during and after, and ``GET lpe/api/jobs`` p99 meanwhile (asked by a process of its own,
    ``bench/_poller.py``, as a dashboard would; beside it, this process's own loop lag, which the
    poller's requests escape); last ``rss_after_vs_baseline=<x>
    get_jobs_p99_during_ms=<y>``; writes ``bench/results/server_bad_readers.json``. Also printed: the five
    slowest ``GET lpe/api/jobs`` of the flood and when each began. ``--loop-trace FILE``: the server's event
    loop traced iteration by iteration (``bench/_loop_trace.py``) and the flood's first 4 s summarised;
    ``--py-spy FILE``: ``py-spy record --gil`` over its first 3 s, the functions that took most of it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tornado.httpclient import AsyncHTTPClient, HTTPRequest  # noqa: E402
from tornado.websocket import websocket_connect  # noqa: E402

from bench._bad_readers import PROFILE_S, bad_readers  # noqa: E402
from bench._common import median, write_results  # noqa: E402

NARRATIVE = "Mara left the harbour town of Velden at dawn, carrying her father's compass and a debt."
PROJECTION_BODY = json.dumps({"narrative": NARRATIVE, "persona": "critic"})
STARTUP_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 30.0
PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class Server:
    url: str  # http://127.0.0.1:port/ (base_url "/")
    token: str
    log: Path
    pid: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def jupyter_server(tmp: Path, name: str, **lpe: Any) -> Iterator[Server]:
    """A ``jupyter server`` subprocess with lpe_nb (mock LLM) and the peer extension; always terminated."""
    work = tmp / name
    (work / "root").mkdir(parents=True)
    settings = {"db_path": str(work / "jobs.db"), "llm_provider": "mock", "mock_latency_s": 0.0, **lpe}
    config = {
        "ServerApp": {
            "jpserver_extensions": {"lpe_nb.server_ext": True, "bench._server_peer_ext": True},
        },
        "LpeExtensionApp": settings,
    }
    (work / "bench_config.json").write_text(json.dumps(config))
    port, token = _free_port(), secrets.token_hex(24)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for var, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "rt"),
    ):
        env[var] = str(work / sub)
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        f"--config={work / 'bench_config.json'}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        "--ServerApp.allow_root=True",  # harmless off root; containers often run as root
        f"--ServerApp.root_dir={work / 'root'}",
        f"--IdentityProvider.token={token}",
    ]
    log = work / "server.log"
    for attempt in range(PORT_ATTEMPTS):  # the free port can be taken by another process before we bind it
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=work)
        server = Server(f"http://127.0.0.1:{port}/", token, log, process.pid)
        try:
            asyncio.run(_wait_ready(server, process))
            break
        except RuntimeError:  # it exited
            taken = "is not available" in log.read_text(errors="replace")
            if not taken or attempt == PORT_ATTEMPTS - 1:
                raise
            port = _free_port()
            command = [
                f"--ServerApp.port={port}" if arg.startswith("--ServerApp.port=") else arg for arg in command
            ]
        except BaseException:
            _stop(process)
            raise
    try:
        yield server
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


async def _wait_ready(server: Server, process: subprocess.Popen[bytes]) -> None:
    client = AsyncHTTPClient()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"jupyter server exited ({process.returncode}):\n{tail}")
        try:
            response = await client.fetch(
                server.url + "api/status", headers=server.headers, request_timeout=2, raise_error=False
            )
            if response.code == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    tail = server.log.read_text(errors="replace")[-3000:]
    raise TimeoutError(f"jupyter server not ready within {STARTUP_TIMEOUT_S:g} s:\n{tail}")


# -- (a) submissions ---------------------------------------------------------------------------------------

RUN_JOBS = ("here", "never", "worker", "thread")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a process (all its threads), from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@contextlib.contextmanager
def headless_worker(db_path: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m lpe_nb worker`` on ``db_path`` with the mock LLM (zero latency); always stopped."""
    env = {**os.environ, "LPE_LLM_PROVIDER": "mock", "LPE_MOCK_LATENCY_S": "0"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lpe_nb", "worker", f"--db-path={db_path}"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        _stop(process)


async def _drain(client: AsyncHTTPClient, server: Server, *, pending: bool = True) -> None:
    """Wait until no job is running (nor, with ``pending``, waiting), so each sample starts from an idle
    server. Running jobs are counted in the database: a headless worker's too."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        response = await client.fetch(server.url + "lpe/api/status", headers=server.headers)
        status = json.loads(response.body)
        counts = status["counts"]
        busy = status["running"] + counts.get("running", 0) + (counts.get("pending", 0) if pending else 0)
        if busy == 0:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"projection jobs did not drain within {DRAIN_TIMEOUT_S:g} s")


async def _post_json(server: Server, path: str, body: dict[str, Any]) -> Any:
    response = await AsyncHTTPClient().fetch(
        server.url + path,
        method="POST",
        headers={**server.headers, "Content-Type": "application/json"},
        body=json.dumps(body),
        request_timeout=REQUEST_TIMEOUT_S,
    )
    return json.loads(response.body)


async def _gc_seconds(client: AsyncHTTPClient, server: Server) -> list[float]:
    """Seconds the server's garbage collector has spent per generation (the peer extension's clock)."""
    response = await client.fetch(server.url + "lpe-bench/gc-time", headers=server.headers)
    seconds: list[float] = json.loads(response.body)["seconds"]
    return seconds


async def _stored_jobs(client: AsyncHTTPClient, server: Server) -> int:
    """How many jobs the database holds (every status), read through the server."""
    response = await client.fetch(server.url + "lpe/api/status", headers=server.headers)
    return sum(json.loads(response.body)["counts"].values())


async def _post_many(
    client: AsyncHTTPClient, server: Server, path: str, requests: int, concurrency: int
) -> tuple[float, list[tuple[int, bytes]]]:
    """``requests`` POSTs from ``concurrency`` workers; (requests per second, [(code, body)])."""
    url = server.url + path
    headers = {**server.headers, "Content-Type": "application/json"}
    left = requests
    answers: list[tuple[int, bytes]] = []

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            request = HTTPRequest(
                url, method="POST", headers=headers, body=PROJECTION_BODY, request_timeout=REQUEST_TIMEOUT_S
            )
            response = await client.fetch(request, raise_error=False)
            answers.append((response.code, response.body or b""))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return requests / elapsed, answers


PY_SPY_HZ = 250


@contextlib.contextmanager
def _py_spy(pid: int, out: Path | None) -> Iterator[None]:
    """``py-spy record`` of ``pid`` (GIL holder only, raw collapsed stacks) into ``out`` while inside."""
    if out is None:
        yield
        return
    command = ["py-spy", "record", "-p", str(pid), "-r", str(PY_SPY_HZ), "-f", "raw", "-o", str(out)]
    process = subprocess.Popen(
        [*command, "--gil", "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        process.wait(timeout=30)


# the frames every sample of the server's loop is under: they say nothing about where the time goes
_OUTER_FRAMES = {
    "_run_module_as_main (<frozen runpy>)",
    "_run_code (<frozen runpy>)",
    "<module> (jupyter_server/__main__.py)",
    "launch_instance (jupyter_core/application.py)",
    "launch_instance (traitlets/config/application.py)",
    "start (jupyter_server/serverapp.py)",
    "start_ioloop (jupyter_server/serverapp.py)",
    "start (tornado/platform/asyncio.py)",
    "run_forever (asyncio/base_events.py)",
    "_run_once (asyncio/base_events.py)",
    "_run (asyncio/events.py)",
}


def _top_frames(files: list[Path], requests: int, count: int = 25) -> list[tuple[str, float]]:
    """The functions (inclusive, once per stack) with the most samples, as µs per request."""
    per_function: collections.Counter[str] = collections.Counter()
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, samples = line.rpartition(" ")
            if not samples.isdigit():
                continue
            functions = {frame.rsplit(":", 1)[0] + ")" for frame in stack.split(";")} - _OUTER_FRAMES
            for function in functions:
                per_function[function] += int(samples)
    scale = 1e6 / PY_SPY_HZ / requests
    return [(name, round(n * scale, 1)) for name, n in per_function.most_common(count)]


async def submissions(
    server: Server,
    requests: int,
    concurrency: int,
    repeats: int,
    run_jobs: str = "here",
    py_spy: Path | None = None,
) -> dict[str, Any]:
    client = AsyncHTTPClient(max_clients=concurrency)
    paths = {"ceiling": "lpe-bench/ceiling", "projection": "lpe/api/projection/create"}
    samples: dict[str, list[float]] = {name: [] for name in paths}
    end_to_end: list[float] = []  # projection jobs per second, posted and run to their end
    cpu_us: dict[str, list[float]] = {name: [] for name in paths}
    gc_us: dict[str, list[float]] = {name: [] for name in paths}
    job_ids: list[str] = []
    drain_pending = run_jobs != "never"  # with no dispatcher the jobs stay pending
    for name in paths:  # warm-up: the engine's first use, imports, connections
        _, answers = await _post_many(client, server, paths[name], 2 * concurrency, concurrency)
        assert all(code == 202 for code, _ in answers), answers[:3]
    stored_before = await _stored_jobs(client, server)
    for repeat in range(repeats):
        order = list(paths) if repeat % 2 == 0 else list(reversed(paths))
        for name in order:
            await _drain(client, server, pending=drain_pending)
            profile = None if py_spy is None else py_spy / f"{name}-{repeat}.txt"
            with _py_spy(server.pid, profile):
                gc_before, cpu_before = await _gc_seconds(client, server), _process_cpu_s(server.pid)
                rate, answers = await _post_many(client, server, paths[name], requests, concurrency)
                cpu_us[name].append((_process_cpu_s(server.pid) - cpu_before) / requests * 1e6)
            gc_us[name].append((sum(await _gc_seconds(client, server)) - sum(gc_before)) / requests * 1e6)
            if name == "projection" and drain_pending:  # the jobs posted in the window, run to their end
                posted_s, drain_started = requests / rate, time.perf_counter()
                await _drain(client, server)
                end_to_end.append(requests / (posted_s + time.perf_counter() - drain_started))
            bad = [(code, body[:200]) for code, body in answers if code != 202]
            assert not bad, f"{name}: {len(bad)} answers were not 202, e.g. {bad[:3]}"
            if name == "projection":
                job_ids.extend(json.loads(body)["job_id"] for _, body in answers)
            samples[name].append(rate)
    await _drain(client, server, pending=drain_pending)
    assert len(set(job_ids)) == len(job_ids) == requests * repeats, "duplicate or missing job ids"
    stored = await _stored_jobs(client, server) - stored_before
    assert stored == len(job_ids), f"{len(job_ids)} jobs answered 202, {stored} in the database"
    rates = {name: median(values) for name, values in samples.items()}
    return {
        "requests": requests,
        "concurrency": concurrency,
        "repeats": repeats,
        "run_jobs": run_jobs,
        "per_s": {name: round(rate, 1) for name, rate in rates.items()},
        "samples": {name: [round(v, 1) for v in values] for name, values in samples.items()},
        "server_cpu_us_per_request": {name: round(median(values)) for name, values in cpu_us.items()},
        # a full collection comes every few thousand requests: the mean, not the median, shows it
        "server_gc_us_per_request": {
            name: round(sum(values) / len(values)) for name, values in gc_us.items()
        },
        # ceiling CPU / projection CPU: where the server is CPU-bound this is what the ratio tends to, and
        # other processes' load moves it far less than the rates
        "cpu_ratio": round(median(cpu_us["ceiling"]) / median(cpu_us["projection"]), 3),
        "projection_jobs_checked": len(job_ids),
        # posting a sample's jobs and running every one of them (None: --run-jobs never, they never run)
        "end_to_end_jobs_per_s": round(median(end_to_end), 1) if end_to_end else None,
        "submit_ratio": round(rates["projection"] / rates["ceiling"], 3),
    }


# -- (b) WebSocket fan-out -----------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _watch(server: Server, job_id: str, watching: asyncio.Event, deadline: float) -> dict[str, Any]:
    """One connection watching one job until its terminal status: latencies (ms) and progress seqs seen."""
    url = server.url.replace("http://", "ws://") + "lpe/ws"
    conn = await asyncio.wait_for(
        websocket_connect(HTTPRequest(url, headers=server.headers, request_timeout=REQUEST_TIMEOUT_S)),
        REQUEST_TIMEOUT_S,
    )
    latencies: list[tuple[int, float]] = []  # (publish t_ns, ms)
    ticks: set[int] = set()
    status = None
    try:
        await conn.write_message(json.dumps({"type": "watch", "job_id": job_id}))
        while status not in ("completed", "failed", "cancelled"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            message = await asyncio.wait_for(conn.read_message(), remaining)
            received_ns = time.time_ns()
            if message is None:
                break  # closed by the server
            frame = json.loads(message)
            if frame["type"] == "status":
                status = frame["status"]
                watching.set()  # the snapshot: the watch is in place
            elif frame["type"] == "progress":
                details = frame["data"].get("details") or {}
                if "t_ns" in details:
                    ticks.add(details["i"])
                    latencies.append((details["t_ns"], (received_ns - details["t_ns"]) / 1e6))
            elif frame["type"] == "error":
                raise RuntimeError(f"error frame for {job_id}: {frame}")
    except TimeoutError:
        pass
    finally:
        conn.close()
    return {"latencies": latencies, "ticks": ticks, "status": status}


async def fan_out(
    server: Server, jobs: int, per_job: int, hz: float, seconds: float, *, staggered: bool
) -> dict[str, Any]:
    client = AsyncHTTPClient()
    lead_s = 3.0  # time to open and watch every connection before the first tick
    start_at_ns = time.time_ns() + int(lead_s * 1e9)
    body = json.dumps(
        {"jobs": jobs, "hz": hz, "duration_s": seconds, "start_at_ns": start_at_ns, "staggered": staggered}
    )
    response = await client.fetch(
        server.url + "lpe-bench/setup",
        method="POST",
        headers={**server.headers, "Content-Type": "application/json"},
        body=body,
        request_timeout=REQUEST_TIMEOUT_S,
    )
    job_ids: list[str] = json.loads(response.body)["job_ids"]
    deadline = time.monotonic() + lead_s + seconds + 20.0
    events = [asyncio.Event() for _ in range(jobs * per_job)]
    tasks = [
        asyncio.create_task(_watch(server, job_ids[i % jobs], events[i], deadline))
        for i in range(jobs * per_job)
    ]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), lead_s)
    watched_before_start = time.time_ns() < start_at_ns
    results = await asyncio.gather(*tasks)
    latencies = [ms for r in results for t_ns, ms in r["latencies"] if t_ns >= start_at_ns]
    ticks_per_job = max(1, round(hz * seconds))
    expected = ticks_per_job * jobs * per_job
    completed = sum(1 for r in results if r["status"] == "completed")
    assert latencies, "no progress frame reached the clients"
    return {
        "jobs": jobs,
        "connections": jobs * per_job,
        "hz": hz,
        "seconds": seconds,
        "staggered": staggered,
        "all_watching_before_first_tick": watched_before_start,
        "connections_seeing_completed": completed,
        "frames": len(latencies),
        "reports_expected": expected,
        "reports_delivered": sum(len(r["ticks"]) for r in results),
        "latency_ms": {
            "p50": round(_percentile(latencies, 0.50), 3),
            "p90": round(_percentile(latencies, 0.90), 3),
            "p99": round(_percentile(latencies, 0.99), 3),
            "max": round(max(latencies), 3),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--run-jobs",
        choices=RUN_JOBS,
        default="here",
        help="where (a)'s jobs run: the server's engine (here), nowhere (never), a headless worker "
        "process (worker), an engine on a loop thread of its own in the server's process (thread)",
    )
    parser.add_argument("--submit-only", action="store_true", help="(a) only, no WebSocket fan-out")
    parser.add_argument(
        "--py-spy",
        type=Path,
        help="record (a)'s samples with py-spy into this directory; with --bad-readers, the flood's first "
        "seconds into this file",
    )
    parser.add_argument("--ws-jobs", type=int, default=50)
    parser.add_argument("--ws-per-job", type=int, default=2)
    parser.add_argument("--hz", type=float, default=20.0)
    parser.add_argument("--ws-seconds", type=float, default=5.0)
    parser.add_argument(
        "--aligned", action="store_true", help="all jobs tick at the same instants (worst-case bursts)"
    )
    parser.add_argument("--bad-readers", type=int, default=0, help="run (c) with this many bad clients")
    parser.add_argument("--bad-jobs", type=int, default=50)
    parser.add_argument("--bad-hz", type=float, default=20.0)
    parser.add_argument("--pad-bytes", type=int, default=512, help="streamed text per progress report")
    parser.add_argument("--good-clients", type=int, default=10)
    parser.add_argument("--phase-s", type=float, default=10.0)
    parser.add_argument("--control", action="store_true", help="(c) with clients that read everything")
    parser.add_argument(
        "--loop-trace",
        type=Path,
        help="(c): trace the server's event loop into this file (bench/_loop_trace.py) and summarise the "
        "flood's first seconds",
    )
    parser.add_argument(
        "--bad-watches",
        type=int,
        default=None,
        help="(c) jobs each bad client watches (default all; 0: "
        "the handshakes alone, the clients close themselves after the control's hold)",
    )
    args = parser.parse_args()
    if args.bad_readers:
        run_bad_readers(args)
        return

    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lpe-bench-server-") as tmp:
        dispatch = {} if args.run_jobs == "here" else {"dispatch": "never"}
        # the extension's default job concurrency (a worker's default is the same, 8)
        with jupyter_server(Path(tmp), "submit", **dispatch) as server, contextlib.ExitStack() as stack:
            work = Path(tmp) / "submit"
            if args.run_jobs == "worker":
                stack.enter_context(headless_worker(work / "jobs.db", work / "worker.log"))
            elif args.run_jobs == "thread":
                asyncio.run(_post_json(server, "lpe-bench/worker-thread", {"db_path": str(work / "jobs.db")}))
            submit = asyncio.run(
                submissions(server, args.requests, args.concurrency, args.repeats, args.run_jobs, args.py_spy)
            )
        if args.py_spy is not None:
            submit["py_spy_us_per_request"] = {
                name: _top_frames(sorted(args.py_spy.glob(f"{name}-*.txt")), args.requests * args.repeats)
                for name in ("ceiling", "projection")
            }
        if args.submit_only:
            write_results(f"server_submit_{args.run_jobs}", {"submissions": submit})
            _print_submissions(args, submit)
            print(f"submit_ratio={submit['submit_ratio']:.3f}")
            return
        with jupyter_server(Path(tmp), "ws", concurrency=args.ws_jobs + 8) as server:
            ws = asyncio.run(
                fan_out(
                    server,
                    args.ws_jobs,
                    args.ws_per_job,
                    args.hz,
                    args.ws_seconds,
                    staggered=not args.aligned,
                )
            )

    write_results("server", {"submissions": submit, "websocket": ws})
    lat = ws["latency_ms"]
    _print_submissions(args, submit)
    print(
        f"(b) WebSocket fan-out: {ws['connections']} connections on {ws['jobs']} jobs at {ws['hz']:g} Hz"
        f" for {ws['seconds']:g} s, {'staggered' if ws['staggered'] else 'aligned'} ticks"
    )
    print(
        f"    frames {ws['frames']}, reports delivered {ws['reports_delivered']}/{ws['reports_expected']}"
        f" (the rest coalesced), connections seeing 'completed' {ws['connections_seeing_completed']}"
    )
    print(
        f"    publish->receipt ms: p50 {lat['p50']:.3f}  p90 {lat['p90']:.3f}  p99 {lat['p99']:.3f}"
        f"  max {lat['max']:.3f} (target p99 <= 10)"
    )
    print(f"submit_ratio={submit['submit_ratio']:.3f} ws_p99_ms={lat['p99']:.3f}")


def _print_submissions(args: argparse.Namespace, submit: dict[str, Any]) -> None:
    rates, cpu = submit["per_s"], submit["server_cpu_us_per_request"]
    gc_us = submit["server_gc_us_per_request"]
    print(
        f"(a) submissions: requests={args.requests} concurrency={args.concurrency} repeats={args.repeats}"
        f" jobs run: {submit['run_jobs']} (medians: requests/s; server CPU per request, of which in"
        " garbage collection, mean)"
    )
    for name, top in submit.get("py_spy_us_per_request", {}).items():
        print(f"    py-spy, {name}: us per request holding the GIL (inclusive)")
        for function, us in top:
            print(f"      {us:8.1f}  {function}")
    for name, label in (
        ("ceiling", "ceiling (bare APIHandler, 202)  "),
        ("projection", "POST lpe/api/projection/create "),
    ):
        print(f"    {label} {rates[name]:8.1f}   {cpu[name]:5d} us  {gc_us[name]:5d} us")
    print(
        f"    ratio {submit['submit_ratio']:.3f} (target >= 0.7); server CPU ratio {submit['cpu_ratio']:.3f}"
    )
    if submit["end_to_end_jobs_per_s"] is not None:
        print(
            f"    end to end (a sample's jobs posted and run to their end): {submit['end_to_end_jobs_per_s']:.1f}"
            " jobs/s"
        )


def run_bad_readers(args: argparse.Namespace) -> None:
    if args.loop_trace is not None:
        args.loop_trace.unlink(missing_ok=True)
        os.environ["LPE_BENCH_LOOP_TRACE"] = str(args.loop_trace.resolve())  # the server inherits it
    with (
        tempfile.TemporaryDirectory(prefix="lpe-bench-server-") as tmp,
        jupyter_server(Path(tmp), "bad", concurrency=args.bad_jobs + 8) as server,
    ):
        figures = asyncio.run(
            bad_readers(
                server,
                readers=args.bad_readers,
                jobs=args.bad_jobs,
                hz=args.bad_hz,
                pad_bytes=args.pad_bytes,
                good=args.good_clients,
                phase_s=args.phase_s,
                reading=args.control,
                watches=args.bad_watches,
                profile=None if args.py_spy is None else lambda: _py_spy(server.pid, args.py_spy),
            )
        )
    name = "server_readers_control" if args.control else "server_bad_readers"
    write_results(name + ("_handshakes" if args.bad_watches == 0 else ""), figures)
    phases = figures["phases"]
    print(
        f"(c) {figures['readers']} WebSocket clients that {'read everything (control)' if args.control else 'never read'}"
        f", each watching {figures['watches']} of the {figures['jobs']} jobs"
        f" (progress at {figures['hz']:g} Hz, {figures['pad_bytes']} B of text each); "
        f"{figures['good_clients']} good clients read everything"
    )
    print(
        "    phase      RSS MiB (median/max)   GET jobs ms p50/p99/max   good clients' frames ms p50/p99"
        "   the benchmark's own loop lag ms p99/max"
    )
    for name, phase in phases.items():
        rss, get, ws = phase["rss_mib"], phase["get_jobs_ms"], phase["ws_latency_ms"]
        print(
            f"    {name:9}  {rss['median']:7.1f} / {rss['max']:7.1f}      "
            f"{get['p50']:6.2f} / {get['p99']:6.2f} / {get['max']:7.2f}    "
            f"{ws['p50']} / {ws['p99']} ({ws['frames']} frames)"
            f"   {phase['bench_loop_lag_ms']['p99']} / {phase['bench_loop_lag_ms']['max']}"
        )
    print(
        f"    bad clients connected in {figures['bad_connected_s']} s, all dropped {figures['bad_dropped_after_s']}"
        f" s after the first connected; the server's reasons: {figures['server_close_reasons']}; close frames"
        f" they got: {figures['bad_close_frames']}"
    )
    slowest = ", ".join(f"{ms:g} ms at +{at:g} s" for at, ms in phases["during"]["get_jobs_slowest"])
    print(f"    slowest GET jobs during (from the phase's start): {slowest}")
    if (from_memory := figures["get_jobs_during_from_memory"]) is not None:
        asked = phases["during"]["get_jobs_requests"]
        print(
            f"    GET jobs during answered without a read (nothing committed since): {from_memory} of {asked}"
        )
    print(f"    good clients saw every job completed: {figures['good_clients_saw_every_job_completed']}")
    if args.loop_trace is not None:
        _print_loop_trace(args.loop_trace, phases["during"]["started_unix"])
    if args.py_spy is not None:
        print(f"    py-spy, the flood's first {PROFILE_S:g} s: ms holding the GIL (inclusive)")
        for function, ms in _top_frames([args.py_spy], 1000, count=40):  # 1000: in ms
            print(f"      {ms:8.1f}  {function}")
    print(
        f"    RSS after / baseline {figures['rss_after_vs_baseline']:.3f} (target <= 1.10); GET jobs p99 during"
        f" {figures['get_jobs_p99_during_ms']:.1f} ms (target < 50), "
        f"{figures['get_jobs_p99_ratio_during_vs_baseline']:.2f}x baseline"
    )
    print(
        f"rss_after_vs_baseline={figures['rss_after_vs_baseline']:.3f}"
        f" get_jobs_p99_during_ms={figures['get_jobs_p99_during_ms']:.1f}"
    )


def _print_loop_trace(path: Path, started_unix: float, seconds: float = 4.0) -> None:
    from bench._loop_trace import summary

    trace = summary(path, started_unix, seconds)
    print(f"    the server's loop, the flood's first {seconds:g} s (bench/_loop_trace.py, {path}):")
    print(
        f"      ms in iterations of 5 ms or more, per {trace['bucket_s']:g} s: {trace['long_iterations_ms']}"
    )
    print(f"      the longest iteration of each, ms: {trace['longest_iteration_ms']}")
    print(f"      what took those iterations, ms: {trace['top_kinds_ms']}")
    print(f"      the longest GC pauses (s into the flood, ms, generation): {trace['gc_ms']}")
    print(
        f"      the slowest SQLite thread hops (s, ms, function, [queue, run, back, thread CPU] ms): {trace['slowest_hops']}"
    )


if __name__ == "__main__":
    main()
