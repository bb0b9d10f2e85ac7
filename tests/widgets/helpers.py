"""Shared by the widget tests: constants, reading a job's record, and counting widget messages."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from lpe_nb.client import Client, EmbeddedBackend, Job
from lpe_nb.jobs import JobRecord, JobStatus, ManagerSettings, StepContext

NARRATIVE = "Rosa Parks refused to give up her seat on a Montgomery bus in 1955, and a boycott followed."
WAIT_S = 20.0
SLOW_S = 1.0  # per mock LLM call: a projection (five calls) is still running when a test cancels it
SETTINGS = ManagerSettings(shutdown_grace_s=0.5, poll_interval_s=0.2)


def record(client: Client, job_id: str) -> JobRecord:
    """The job's stored record (type, input) through the public async client, on the client's loop."""
    return client.run_background(client.async_client.job(job_id)).result(WAIT_S).data


FAILURE = "the model refused to answer"


async def _fail(ctx: StepContext, data: Any) -> None:
    """A custom job type whose work raises, as an operation does when its LLM gives up."""
    ctx.report("asking", completed_steps=1, total_steps=2)
    raise RuntimeError(FAILURE)


def start_failing(client: Client) -> Job:
    """Submit a job that fails while running, on the client's embedded engine."""
    backend = client.async_client.backend
    assert isinstance(backend, EmbeddedBackend)
    backend.engine.manager.registry.register("fails", _fail, replace=True)
    return client.job(client.run_background(backend.submit("fails", {})).result(WAIT_S))


def wait_running(job: Job) -> None:
    """Block until the job reports progress (it is running), reading its events."""
    for event in job.events():
        if event.kind == "progress" or event.status is JobStatus.RUNNING or event.is_terminal:
            return


class SendLog:
    """When each widget sent a message to the front-end: wraps the instances' ``_send`` (the one method
    every state update goes through), which with ipywidgets' dummy comm is the whole transport."""

    def __init__(self, named: dict[str, Any]) -> None:
        self.times: dict[str, list[float]] = {name: [] for name in named}
        for name, widget in named.items():
            widget._send = self._recorder(name, widget._send)

    def _recorder(self, name: str, send: Any) -> Any:
        def recorded(msg: dict[str, Any], buffers: Any = None) -> None:
            if msg.get("method") == "update":
                self.times[name].append(time.monotonic())
            send(msg, buffers=buffers)

        return recorded

    def busiest_second(self, name: str) -> int:
        """The most messages ``name`` sent within any half-open one-second window."""
        return busiest_second(self.times[name])


def busiest_second(times: list[float]) -> int:
    """The most of these sorted instants within any half-open one-second window ``[t, t + 1)``."""
    return max((sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times)), default=0)


def texts(widget: Any, *, visible_only: bool = False) -> str:
    """Every HTML/text value under ``widget``, joined: what a reader of the output would see (with
    ``visible_only``, without what a ``display: none`` layout hides)."""
    found: list[str] = []
    _collect(widget, found, visible_only)
    return "\n".join(found)


def _collect(widget: Any, found: list[str], visible_only: bool) -> None:
    layout = getattr(widget, "layout", None)
    if visible_only and getattr(layout, "display", None) == "none":
        return
    value = getattr(widget, "value", None)
    if isinstance(value, str):
        found.append(value)
    children: Iterable[Any] = getattr(widget, "children", ())
    for child in children:
        _collect(child, found, visible_only)
