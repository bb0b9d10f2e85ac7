"""A real ``jupyter server`` (or ``jupyter lab``) subprocess with the lpe_nb extension, for tests.

Each one gets a free port, a random token, its own root, runtime directory and jobs database, and the
extension from the installed package (``pip install -e .`` enables it, as CI does). Readiness is the
server answering ``GET /api/status`` with the token; a server that exits early fails the test with
its log.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

_START_TIMEOUT_S = 90.0
_STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class JupyterProcess:
    """``jupyter <app>`` on loopback; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        workdir: Path,
        *,
        app: str = "server",
        base_url: str = "/",
        env: Mapping[str, str] | None = None,
        args: list[str] | None = None,
        runtime_dir: Path | None = None,
        root_dir: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.app = app
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base_url = base_url
        self.url = f"http://127.0.0.1:{self.port}{base_url}"
        self.root_dir = root_dir or workdir  # what the server's file browser shows
        self.db_path = workdir / "jobs.db"
        self.runtime_dir = runtime_dir or workdir / "runtime"  # shared, servers see each other
        self.log_path = workdir / f"jupyter-{app}.log"
        self._env = dict(env or {})
        self._args = list(args or [])
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or shutil.which("jupyter")
        if jupyter is None:
            pytest.skip("no `jupyter` command on PATH")
        return [
            jupyter,
            self.app,
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.base_url={self.base_url}",
            f"--ServerApp.root_dir={self.root_dir}",
            f"--LpeExtensionApp.db_path={self.db_path}",
            *(["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root
            *self._args,
        ]

    def start(self) -> JupyterProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            **self._env,
        }
        # The server must not find the test process's own server (or this one) through LPE_SERVER_*.
        for name in ("LPE_SERVER_URL", "LPE_SERVER_TOKEN"):
            env.pop(name, None)
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            self.command(), cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"jupyter {self.app} exited with {self._process.returncode}:\n{self.log()}"
                )
            try:
                self.request("GET", "api/status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)  # polling a real readiness condition, not a guess at a duration
        self.stop()
        raise RuntimeError(f"jupyter {self.app} did not answer within {_START_TIMEOUT_S} s:\n{self.log()}")

    def request(self, method: str, path: str, body: Any = None, *, timeout: float = 10.0) -> Any:
        """``method`` on ``url + path`` with the token; the decoded JSON reply (None if empty)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            raw = reply.read()
        return json.loads(raw) if raw else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def stop(self) -> None:
        """SIGTERM (Jupyter's graceful shutdown, kernels included), then SIGKILL if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(_STOP_TIMEOUT_S)

    def __enter__(self) -> JupyterProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
