"""A soak: N jobs through a real server while a dashboard watches and a few clients stream.

One ``jupyter server`` (``bench/server.py``'s, mock LLM without latency, default settings and quotas). In
this process, meanwhile:

- ``--submitters`` workers ``POST lpe/api/projection/create`` (five mock LLM steps each) until ``--jobs``
  are in, keeping at most ``--backlog`` jobs pending (as a well-behaved batch client would; a 429 is
  honoured with its ``Retry-After`` and counted);
- a dashboard polls once a second: ``GET lpe/api/status``, ``GET lpe/api/jobs`` and
  ``GET lpe/api/jobs?status=running``;
- ``--streams`` WebSocket clients watch every 100th job from its submission to its end, reading all.

Three points: *start* (the first 5 % of the submissions), *middle* (the 5 % around half) and *end* (the
last 5 %, then until every job has finished). At each: the server's RSS, the database's size (with its
WAL), and the p99 of ``GET lpe/api/jobs`` and of the submissions in that window.

    python bench/soak.py [--jobs 50000] [--submitters 8] [--backlog 500] [--streams 4]

Prints the figures and, last, ``rss_end_vs_middle=<x>`` (target <= 1.10); writes
``bench/results/soak.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tornado.httpclient import AsyncHTTPClient, HTTPRequest  # noqa: E402
from tornado.websocket import websocket_connect  # noqa: E402

from bench._bad_readers import percentile, rss_bytes  # noqa: E402
from bench._common import write_results  # noqa: E402
from bench.server import PROJECTION_BODY, Server, jupyter_server  # noqa: E402

REQUEST_TIMEOUT_S = 60.0
WINDOW = 0.05  # each point's share of the submissions
STREAM_EVERY = 100
TERMINAL = ("completed", "failed", "cancelled")


@dataclass
class Point:
    name: str
    submit_ms: list[float] = field(default_factory=list)
    get_jobs_ms: list[float] = field(default_factory=list)
    rss: int = 0
    db_bytes: int = 0
    at_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "at_s": round(self.at_s, 1),
            "rss_mib": round(self.rss / 2**20, 1),
            "db_mib": round(self.db_bytes / 2**20, 1),
            "submits": len(self.submit_ms),
            "submit_ms_p99": round(percentile(self.submit_ms, 0.99), 2) if self.submit_ms else None,
            "get_jobs": len(self.get_jobs_ms),
            "get_jobs_ms_p99": round(percentile(self.get_jobs_ms, 0.99), 2) if self.get_jobs_ms else None,
            "get_jobs_ms_p50": round(statistics.median(self.get_jobs_ms), 2) if self.get_jobs_ms else None,
        }


class Soak:
    def __init__(self, server: Server, db: Path, args: argparse.Namespace) -> None:
        self.server, self.db, self.args = server, db, args
        self.client = AsyncHTTPClient(max_clients=args.submitters + 4)
        self.submitted = 0
        self.claimed = 0  # submissions started (a worker took the next number)
        self.pending = 0  # from the dashboard's last look
        self.finished = 0
        self.quota_refusals = 0
        self.points = {name: Point(name) for name in ("start", "middle", "end")}
        self.to_stream: asyncio.Queue[str] = asyncio.Queue()
        self.streamed_frames = 0
        self.streamed_jobs_done = 0
        self.started = time.monotonic()

    def point_of(self, number: int) -> Point | None:
        """The point whose window submission ``number`` (0-based) falls in, if any."""
        jobs, window = self.args.jobs, max(1, round(self.args.jobs * WINDOW))
        if number < window:
            return self.points["start"]
        if abs(number - jobs // 2) < window // 2:
            return self.points["middle"]
        if number >= jobs - window:
            return self.points["end"]
        return None

    def mark(self, name: str) -> None:
        point = self.points[name]
        point.rss = rss_bytes(self.server.pid)
        point.db_bytes = sum(p.stat().st_size for p in self.db.parent.glob(self.db.name + "*") if p.is_file())
        point.at_s = time.monotonic() - self.started

    async def submit_worker(self) -> None:
        url = self.server.url + "lpe/api/projection/create"
        headers = {**self.server.headers, "Content-Type": "application/json"}
        while self.claimed < self.args.jobs:
            if self.pending >= self.args.backlog:
                await asyncio.sleep(0.02)
                continue
            number = self.claimed
            self.claimed += 1
            while True:
                request = HTTPRequest(
                    url,
                    method="POST",
                    headers=headers,
                    body=PROJECTION_BODY,
                    request_timeout=REQUEST_TIMEOUT_S,
                )
                started = time.perf_counter()
                response = await self.client.fetch(request, raise_error=False)
                elapsed_ms = (time.perf_counter() - started) * 1000
                if response.code != 429:
                    break
                self.quota_refusals += 1
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            assert response.code == 202, (response.code, response.body[:300])
            self.submitted += 1
            self.pending += 1  # until the dashboard looks again
            point = self.point_of(number)
            if point is not None:
                point.submit_ms.append(elapsed_ms)
            if number == round(self.args.jobs * WINDOW) - 1:
                self.mark("start")
            if number == self.args.jobs // 2:
                self.mark("middle")
            if number % STREAM_EVERY == 0:
                self.to_stream.put_nowait(json.loads(response.body)["job_id"])

    async def dashboard(self) -> None:
        """Once a second, as the dashboard does: status, the newest jobs, the running ones."""
        base, headers = self.server.url + "lpe/api/", self.server.headers
        while True:
            started = time.perf_counter()
            status = json.loads((await self.client.fetch(base + "status", headers=headers)).body)
            counts = status["counts"]
            self.pending = counts["pending"]
            self.finished = counts["completed"] + counts["failed"] + counts["cancelled"]
            jobs_started = time.perf_counter()
            await self.client.fetch(base + "jobs", headers=headers)
            get_jobs_ms = (time.perf_counter() - jobs_started) * 1000
            await self.client.fetch(base + "jobs?status=running", headers=headers)
            point = self.point_of(self.submitted) if self.submitted < self.args.jobs else self.points["end"]
            if point is not None:
                point.get_jobs_ms.append(get_jobs_ms)
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))

    async def stream(self) -> None:
        """A streaming client: watch each job handed to it until it ends, reading every frame."""
        url = self.server.url.replace("http://", "ws://") + "lpe/ws"
        conn = await websocket_connect(HTTPRequest(url, headers=self.server.headers))
        watching: set[str] = set()

        async def watch_new() -> None:
            while True:
                job_id = await self.to_stream.get()
                watching.add(job_id)
                await conn.write_message(json.dumps({"type": "watch", "job_id": job_id}))

        adding = asyncio.create_task(watch_new())
        try:
            while True:
                message = await conn.read_message()
                if message is None:
                    raise RuntimeError("the server closed a streaming client")
                self.streamed_frames += 1
                frame = json.loads(message)
                if frame["type"] == "status" and frame["status"] in TERMINAL and frame["job_id"] in watching:
                    watching.discard(frame["job_id"])
                    self.streamed_jobs_done += 1
                    await conn.write_message(json.dumps({"type": "unwatch", "job_id": frame["job_id"]}))
        finally:
            adding.cancel()
            conn.close()

    async def run(self) -> dict[str, Any]:
        background = [asyncio.create_task(self.dashboard())]
        background += [asyncio.create_task(self.stream()) for _ in range(self.args.streams)]
        try:
            await asyncio.sleep(3.0)  # the dashboard and the streams are up
            self.started = time.monotonic()
            await asyncio.gather(*(self.submit_worker() for _ in range(self.args.submitters)))
            submitted_s = time.monotonic() - self.started
            while self.finished < self.args.jobs:
                for task in background:
                    if task.done():
                        task.result()  # a failed client fails the soak
                await asyncio.sleep(0.5)
            finished_s = time.monotonic() - self.started
            await asyncio.sleep(2.0)  # the last dashboard look and the streams' last frames
            self.mark("end")
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        points = {name: point.summary() for name, point in self.points.items()}
        return {
            "jobs": self.args.jobs,
            "submitters": self.args.submitters,
            "backlog": self.args.backlog,
            "streams": self.args.streams,
            "submitted_in_s": round(submitted_s, 1),
            "finished_in_s": round(finished_s, 1),
            "jobs_per_s": round(self.args.jobs / finished_s, 1),
            "quota_refusals": self.quota_refusals,
            "streamed_frames": self.streamed_frames,
            "streamed_jobs_seen_to_the_end": self.streamed_jobs_done,
            "streamed_jobs": -(-self.args.jobs // STREAM_EVERY),
            "points": points,
            "rss_end_vs_middle": round(points["end"]["rss_mib"] / points["middle"]["rss_mib"], 3),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--submitters", type=int, default=8)
    parser.add_argument("--backlog", type=int, default=500)
    parser.add_argument("--streams", type=int, default=4)
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="lpe-bench-soak-") as tmp,
        jupyter_server(Path(tmp), "soak") as server,
    ):
        db = Path(tmp) / "soak" / "jobs.db"
        figures = asyncio.run(Soak(server, db, args).run())
    write_results("soak", figures)
    print(
        f"soak: {figures['jobs']:,} projection jobs (mock LLM) by {figures['submitters']} submitters "
        f"(at most {figures['backlog']} pending), a dashboard polling every second, {figures['streams']} "
        "streaming clients"
    )
    print(
        f"    submitted in {figures['submitted_in_s']} s, all finished in {figures['finished_in_s']} s "
        f"({figures['jobs_per_s']} jobs/s); 429s: {figures['quota_refusals']}; streamed "
        f"{figures['streamed_jobs_seen_to_the_end']}/{figures['streamed_jobs']} jobs to their end "
        f"({figures['streamed_frames']} frames)"
    )
    print("    point    at s   RSS MiB   DB MiB   submit p99 ms (n)   GET jobs p50 / p99 ms (n)")
    for name, p in figures["points"].items():
        print(
            f"    {name:7} {p['at_s']:6.1f}  {p['rss_mib']:8.1f}  {p['db_mib']:7.1f}   "
            f"{p['submit_ms_p99']:>8} ({p['submits']:>5})      "
            f"{p['get_jobs_ms_p50']} / {p['get_jobs_ms_p99']} ({p['get_jobs']})"
        )
    print(f"rss_end_vs_middle={figures['rss_end_vs_middle']:.3f}")


if __name__ == "__main__":
    main()
