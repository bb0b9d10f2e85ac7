"""A dashboard's poll of ``GET lpe/api/jobs``, in a process of its own, for ``bench/server.py --bad-readers``.

    python bench/_poller.py URL TOKEN [INTERVAL_S]

Asks for the first page of jobs every ``INTERVAL_S`` (0.05) seconds, one request at a time on one kept-alive
connection, and prints ``<unix time it began> <milliseconds>`` per answer until its standard input closes.
Its own process, not a task of the benchmark's event loop: that loop also runs the 300 attacking clients,
the good readers and the drain of what the kernel held for the dropped clients, and a request answered
while it was busy was timed late by as much (up to 165 ms of the benchmark's own loop lag, issue 15).
A reply other than 200 is printed as ``error <status>`` and ends it.
"""

from __future__ import annotations

import http.client
import sys
import threading
import time
from urllib.parse import urlsplit


def main() -> None:
    url, token = urlsplit(sys.argv[1]), sys.argv[2]
    interval_s = float(sys.argv[3]) if len(sys.argv) > 3 else 0.05
    path = url.path.rstrip("/") + "/lpe/api/jobs"
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    headers = {"Authorization": f"token {token}"}
    while not stop.is_set():
        began_unix, started = time.time(), time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        took_ms = (time.perf_counter() - started) * 1000
        if response.status != 200:
            print(f"error {response.status}", flush=True)
            return
        print(f"{began_unix:.6f} {took_ms:.3f}", flush=True)
        stop.wait(max(0.0, interval_s - (time.perf_counter() - started)))


if __name__ == "__main__":
    main()
