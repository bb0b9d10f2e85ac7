"""``python -m lpe_nb worker``: a process that runs jobs, with no Jupyter server.

It opens an engine (:func:`lpe_nb.embedded.open_engine`: the store, the declared job types, the LLM from
``LPE_LLM_*``) that claims jobs of the given types, ``concurrency`` at a time, until SIGTERM or SIGINT.
Then it claims no more, gives its running jobs ``shutdown_grace_s`` to finish, and hands the others back
to the queue with their finished steps kept and the attempt they used refunded: the next worker resumes
them from their last finished step. While it dispatches, its heartbeat row (host, pid, version, types...)
is listed by ``GET lpe/api/status``.

On PostgreSQL (``--db-url`` or ``$LPE_DB_URL``) every worker dispatches: any number share the queue, on
any number of machines. On a SQLite file one process dispatches at a time (the file's dispatch lock, :mod:`lpe_nb.jobs._role`).
A worker takes the role if it is free; otherwise it waits as a standby (it says so once) and takes over
within a second of the dispatching process exiting. So with workers on a SQLite file, run the Jupyter
server with ``dispatch = 'never'``: it submits and watches, and the worker runs the jobs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from lpe_nb._heap import freeze_start_up_heap
from lpe_nb.embedded import open_engine
from lpe_nb.errors import InvalidInput
from lpe_nb.jobs import ManagerSettings
from lpe_nb.operations import JOB_TYPES, load_job_modules

__all__ = ["WorkerOptions", "claim_types", "run_worker", "serve"]

log = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker runs; durations in seconds. ``types`` None: every declared job type."""

    db_path: str | os.PathLike[str] | None = None
    db_url: str | None = None  # over db_path; default $LPE_DB_URL
    concurrency: int = 8
    types: tuple[str, ...] | None = None
    shutdown_grace_s: float = 10.0
    lease_s: float = 30.0

    def settings(self, declared: Collection[str]) -> ManagerSettings:
        """The manager's settings; :class:`InvalidInput` naming the option for a bad value."""
        problems: dict[str, str] = {}
        if self.concurrency < 1:
            problems["concurrency"] = "must be at least 1"
        if self.shutdown_grace_s < 0:
            problems["shutdown_grace_s"] = "must be 0 or more seconds"
        if self.lease_s <= 0:
            problems["lease_s"] = "must be a positive number of seconds"
        if problems:
            raise InvalidInput(problems)
        return ManagerSettings(
            concurrency=self.concurrency,
            lease_s=self.lease_s,
            shutdown_grace_s=self.shutdown_grace_s,
            claim_types=claim_types(self.types, declared),
        )


def claim_types(requested: Sequence[str] | None, declared: Collection[str]) -> tuple[str, ...]:
    """The job types a worker claims: ``requested`` (each one declared here), else every declared type.

    A worker never claims a type it cannot run: a job of a type declared only in another process (a user's
    module this worker did not import) waits for a process that runs it. Raises :class:`InvalidInput`
    naming ``types``.
    """
    if requested is None:
        return tuple(sorted(declared))
    wanted = tuple(dict.fromkeys(name.strip() for name in requested if name.strip()))
    if not wanted:
        raise InvalidInput.field("types", "names no job type; leave it out to run every type")
    unknown = [name for name in wanted if name not in declared]
    if unknown:
        raise InvalidInput.field(
            "types",
            f"unknown job type {', '.join(map(repr, unknown))}; choose from {', '.join(sorted(declared))} "
            "(a user's type needs its module: LPE_JOB_MODULES)",
        )
    return wanted


async def run_worker(options: WorkerOptions, stop: asyncio.Event) -> None:
    """Run jobs until ``stop`` is set, then stop gracefully (running jobs get ``shutdown_grace_s``, the
    rest go back to the queue without using an attempt)."""
    load_job_modules()  # $LPE_JOB_MODULES and entry points: their types can be claimed too
    settings = options.settings({spec.name for spec in JOB_TYPES})
    async with open_engine(
        options.db_path, db_url=options.db_url, settings=settings, dispatch="auto", kind="worker"
    ) as engine:
        manager = engine.manager
        frozen = freeze_start_up_heap()
        log.info("%d start-up objects out of the garbage collector's full passes", frozen)
        types = ", ".join(settings.claim_types or ())
        log.info(
            "lpe-nb worker %s: %s jobs of %s (types: %s; %d at a time) with the %s LLM %s",
            manager.owner,
            "running" if manager.is_dispatching else "standing by (another process dispatches) for the",
            manager.store.location,
            types,
            settings.concurrency,
            engine.llm.provider,
            engine.llm.model,
        )
        await stop.wait()
        running = len(manager.running_job_ids)
        log.info(
            "stopping: %d running job(s) get %g s to finish, then go back to the queue",
            running,
            settings.shutdown_grace_s,
        )
    log.info("lpe-nb worker %s stopped", manager.owner)


def serve(options: WorkerOptions) -> None:
    """Run a worker in this thread until SIGTERM or SIGINT (the process's main thread only)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in _STOP_SIGNALS:
            loop.add_signal_handler(number, stop.set)
        try:
            await run_worker(options, stop)
        finally:
            for number in _STOP_SIGNALS:
                loop.remove_signal_handler(number)

    asyncio.run(main())
