"""``python -m lpe_nb``: run, follow, list and cancel lpe-nb jobs from a terminal, or run a worker.

It goes through :func:`lpe_nb.client.connect`, so it uses the Jupyter server already running jobs on the
database when there is one (with its live events), and an engine in this process otherwise. ``run`` has a
subcommand per declared job type, with the type's fields as options. A user's mistake is one line on
stderr and exit code 2; Ctrl-C while a job runs asks whether to cancel it or leave it running.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import logging
import os
import sys
from typing import Any

from lpe_nb.client import Client, Job, JobStatus, connect
from lpe_nb.errors import LpeError
from lpe_nb.llm import LlmSettings
from lpe_nb.operations import JOB_TYPES, load_job_modules
from lpe_nb.worker import WorkerOptions, serve

from ._analytics import print_analytics
from ._args import build_parser, chain_options, input_from_args
from ._db import run_db
from ._metrics import format_metrics, metrics_json
from ._output import Progress, print_cache_stats, print_job, print_jobs
from ._schedules import run_schedules

__all__ = ["main"]

DEMO_NARRATIVE = (
    "Rosa Parks refused to give up her seat on a Montgomery bus in 1955. Her arrest sparked a boycott "
    "led by Martin Luther King, and the city's segregation law was struck down a year later."
)
_DEMO_MOCK_LATENCY_S = 0.4  # unless told otherwise, the demo's mock takes a moment so progress is seen
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
_RUNS_JOBS = frozenset({"demo", "run", "answer", "watch"})  # an engine of their own may run the job


def main(argv: list[str] | None = None) -> int:
    try:
        load_job_modules()
        args = build_parser(JOB_TYPES.infos()).parse_args(argv)
        return _command(args)
    except LpeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`| head`): say nothing more, and keep Python from failing at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _connect(args: argparse.Namespace, **engine_options: Any) -> Client:
    return connect(
        args.url,
        args.token,
        embedded=True if args.embedded else None,
        db_path=args.db_path,
        db_url=args.db_url,
        **engine_options,
    )


def _command(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "worker":
        return _worker(args)
    if command == "db":
        return run_db(args)
    engine_options: dict[str, Any] = {}
    if command not in _RUNS_JOBS:
        # It only reads or changes rows: an engine here needs no dispatcher, which on a shared database
        # (PostgreSQL) would claim other processes' pending jobs and hand them back at its exit.
        engine_options["dispatch"] = False
    if command == "demo":
        latency = None if "LPE_MOCK_LATENCY_S" in os.environ else _DEMO_MOCK_LATENCY_S
        engine_options["llm_settings"] = LlmSettings.from_env(mock_latency_s=latency)
    with _connect(args, **engine_options) as client:
        if command == "demo":
            job = client.projection(DEMO_NARRATIVE, persona="storyteller")
            return _follow(client, job, as_json=args.json, timeout=None)
        if command == "run":
            info = JOB_TYPES.get(args.job_type).info()
            priority = getattr(args, "job_priority", None)
            job = client.submit(
                info.name,
                input_from_args(info, args),
                priority=priority,
                **chain_options(args),
                run_at=args.run_at,
                delay_s=args.delay_s,
                cache=args.use_cache,
            )
            return _after_submit(client, job, args)
        if command == "answer":
            job = client.submit(
                "maieutic_answer",
                {"session_id": args.session_id, "answers": args.answers, "project": args.project},
                priority=args.job_priority,
                run_at=args.run_at,
                delay_s=args.delay_s,
                cache=args.use_cache,
            )
            return _after_submit(client, job, args)
        if command == "schedules":
            return run_schedules(client, args)
        if command == "jobs":
            statuses = [s for s in (args.status or "").split(",") if s] or None
            print_jobs(client.jobs(status=statuses, type=args.type, limit=args.limit), as_json=args.json)
            return 0
        if command == "show":
            print_job(client.job(args.job_id), as_json=args.json)
            return 0
        if command == "watch":
            return _follow(client, client.job(args.job_id), as_json=args.json, timeout=None)
        if command == "cancel":
            job = client.cancel(args.job_id)
            print(f"job {job.id}: {'cancelled' if job.is_terminal else 'cancel requested, it stops at once'}")
            return 0
        if command == "priority":
            job = client.set_priority(args.job_id, args.priority)
            print(f"job {job.id}: priority {job.priority}")
            return 0
        if command == "analytics":
            report = client.analytics(since=args.since, until=args.until, group_by=args.group_by)
            print_analytics(report, as_json=args.json)
            return 0
        if command == "metrics":
            if args.prometheus:
                print(client.metrics_text(), end="")
            else:
                figures = client.metrics()
                print(metrics_json(figures) if args.json else format_metrics(figures))
            return 0
        if command == "cache":
            if args.action == "clear":
                deleted = client.clear_cache()
                print(
                    json.dumps({"deleted": deleted})
                    if args.json
                    else f"LLM result cache emptied: {deleted} entries"
                )
            else:
                print_cache_stats(client.cache_stats(), as_json=args.json)
            return 0
        if command == "types":
            for info in client.job_types():
                fields = " ".join(
                    f"--{f.name.replace('_', '-')}" + ("" if f.required else "?") for f in info.fields
                )
                print(f"{info.name:<18} {fields}\n{'':<18} {info.description}")
            return 0
        if command == "catalog":
            for kind, entries in client.catalog().items():
                if isinstance(entries, list):
                    names = ", ".join(
                        str(e.get("name", e)) if isinstance(e, dict) else str(e) for e in entries
                    )
                    print(f"{kind}: {names}")
            return 0
    raise LpeError(f"unknown command {command!r}")  # argparse refuses it first


def _worker(args: argparse.Namespace) -> int:
    """Run jobs here until SIGTERM or Ctrl-C (:mod:`lpe_nb.worker`); its log goes to stderr."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(
        WorkerOptions(
            db_path=args.db_path,
            db_url=args.db_url,
            concurrency=args.concurrency,
            types=args.types,
            shutdown_grace_s=args.shutdown_grace_s,
            lease_s=args.lease_s,
        )
    )
    return 0


def _after_submit(client: Client, job: Job, args: argparse.Namespace) -> int:
    if args.no_wait:
        print(job.id)
        return 0
    print(f"job {job.id} ({job.type}) submitted to {client.location}", file=sys.stderr)
    return _follow(client, job, as_json=args.json, timeout=args.timeout)


def _follow(client: Client, job: Job, *, as_json: bool, timeout: float | None) -> int:
    """Show the job's progress until it ends; Ctrl-C asks whether to cancel it."""
    progress = Progress()
    watching = job.watch(progress.show)
    try:
        watching.result(timeout)
    except concurrent.futures.TimeoutError:
        watching.cancel()
        progress.close()
        print(f"job {job.id} is still {job.refresh().status.value} after {timeout:g} s; "
              f"follow it with: python -m lpe_nb watch {job.id}", file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    except KeyboardInterrupt:
        watching.cancel()
        progress.close()
        return _interrupted(client, job)
    finally:
        progress.close()
    job.refresh()
    print_job(job, as_json=as_json)
    return 0 if job.status is JobStatus.COMPLETED else EXIT_FAILED


def _interrupted(client: Client, job: Job) -> int:
    where = client.location
    embedded = not where.startswith(("http://", "https://"))
    answer = ""
    if sys.stdin.isatty():
        try:
            answer = input(f"\nCancel job {job.id}? [y/N] ").strip().lower()
        except (EOFError, KeyboardInterrupt):
            answer = ""
    if answer in ("y", "yes"):
        client.cancel(job.id)
        print(f"job {job.id} cancelled", file=sys.stderr)
    elif embedded:
        print(f"\njob {job.id} left in the queue: it resumes from its last finished step the next time an "
              f"engine runs on {where} (python -m lpe_nb watch {job.id})", file=sys.stderr)  # fmt: skip
    else:
        print(f"\njob {job.id} is still running on {where}; follow it with: python -m lpe_nb watch {job.id}",
              file=sys.stderr)  # fmt: skip
    return EXIT_INTERRUPTED
