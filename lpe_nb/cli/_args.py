"""The command line's parser; ``run``'s subcommands are derived from the job-type declarations."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from lpe_nb._version import __version__
from lpe_nb.jobs.model import MAX_PRIORITY, MIN_PRIORITY
from lpe_nb.operations import FieldInfo, JobTypeInfo

from ._db import add_db_command
from ._schedules import add_schedule_commands

__all__ = ["build_parser", "input_from_args"]

_EPILOG = """\
The client finds its server as lpe_nb.connect() does: --url/--token, LPE_SERVER_URL/LPE_SERVER_TOKEN,
then the Jupyter server running jobs on the same database; without one, jobs run in this process on
--db-path ($LPE_DB_PATH or ~/.lpe/jobs.db), with the LLM from LPE_LLM_* (the offline mock when unset).
"""


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def _aware_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset; add one, e.g. {text}+00:00 or {text}Z")
    return moment


def _input_from(text: str) -> tuple[str, str]:
    field, sep, reference = text.partition("=")
    if not sep or not field.strip() or not reference.strip():
        raise argparse.ArgumentTypeError(f"expected FIELD=JOB_ID.PATH, not {text!r}")
    return field.strip(), reference.strip()


def chain_options(args: argparse.Namespace) -> dict[str, Any]:
    """``depends_on`` and ``inputs_from`` for ``submit`` from ``--depends-on`` and ``--input-from``."""
    ids = [part.strip() for value in args.depends_on or () for part in value.split(",") if part.strip()]
    pairs = dict(args.inputs_from or ())
    return {"depends_on": ids or None, "inputs_from": pairs or None}


def _json_object(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "integer": int,
    "number": float,
    "boolean": _boolean,
    "object": _json_object,
}


def _field_help(field: FieldInfo) -> str:
    parts = [field.description] if field.description else []
    if field.type == "array":
        parts.append("one or more values")
    if field.catalog:
        parts.append(f"a {field.catalog} from the catalog (python -m lpe_nb catalog)")
    if not field.required and field.default not in (None, ""):
        parts.append(f"default: {field.default}")
    if field.required:
        parts.append("required, unless a parent's result fills it (--depends-on)")
    return "; ".join(parts) or field.type


def _add_job_type(commands: Any, info: JobTypeInfo) -> None:
    parser = commands.add_parser(
        info.name,
        help=info.description,
        description=info.description,
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    for field in info.fields:
        option = "--" + field.name.replace("_", "-")
        if field.type == "boolean":
            parser.add_argument(
                option, dest=field.name, action=argparse.BooleanOptionalAction, help=_field_help(field)
            )
            continue
        parser.add_argument(
            option,
            dest=field.name,
            required=False,  # a required field may come from a parent's result (--depends-on)
            nargs="+" if field.type == "array" else None,
            type=_CONVERTERS.get(field.type, str),
            choices=field.choices,
            metavar=field.name.upper() if field.choices is None else None,
            help=_field_help(field),
        )
    _add_run_options(parser, with_priority=all(f.name != "priority" for f in info.fields))


def _add_run_options(parser: argparse.ArgumentParser, *, with_priority: bool = True) -> None:
    if with_priority:  # unless the type has an input field of that name, which keeps the option
        parser.add_argument(
            "--priority",
            dest="job_priority",
            type=int,
            default=None,
            metavar="N",
            help=f"{MIN_PRIORITY}..{MAX_PRIORITY}, default 0: a higher one starts first, equal ones oldest first",
        )
    when = parser.add_mutually_exclusive_group()
    when.add_argument(
        "--delay", dest="delay_s", type=float, default=None, metavar="S", help="start it in S seconds"
    )
    when.add_argument(
        "--at",
        dest="run_at",
        type=_aware_time,
        default=None,
        metavar="TIME",
        help="start it at TIME, ISO 8601 with its offset (2026-11-29T15:00:00+01:00, or ...Z)",
    )
    parser.add_argument(
        "--depends-on",
        dest="depends_on",
        action="append",
        default=None,
        metavar="JOB_ID",
        help="wait for JOB_ID to complete first (repeat it, or comma-separate ids, for several); the job "
        "takes what its type declares from that job's result, and is cancelled if it fails",
    )
    parser.add_argument(
        "--input-from",
        dest="inputs_from",
        action="append",
        type=_input_from,
        default=None,
        metavar="FIELD=JOB_ID.PATH",
        help="take input FIELD from JOB_ID's result at PATH (e.g. text=<id>.reflection); it waits for JOB_ID",
    )
    parser.add_argument(
        "--no-cache",
        dest="use_cache",
        action="store_false",
        help="make every LLM call anew: none is answered from the result cache (docs/caching.md)",
    )
    parser.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    parser.add_argument(
        "--timeout", type=float, default=None, metavar="S", help="give up waiting after S seconds"
    )
    parser.add_argument("--json", action="store_true", help="print the finished job as JSON")


def input_from_args(info: JobTypeInfo, args: argparse.Namespace) -> dict[str, Any]:
    return {f.name: getattr(args, f.name) for f in info.fields if getattr(args, f.name, None) is not None}


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def build_parser(job_types: Iterable[JobTypeInfo]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lpe_nb",
        description="Run and watch lpe-nb jobs from a terminal.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"lpe-nb {__version__}")
    where = parser.add_argument_group("where jobs run")
    where.add_argument("--url", help="an lpe-nb Jupyter server's URL, with its base_url")
    where.add_argument("--token", help="that server's token (default $LPE_SERVER_TOKEN)")
    where.add_argument(
        "--db-path", help="the database when no server runs (default $LPE_DB_PATH or ~/.lpe/jobs.db)"
    )
    where.add_argument(
        "--db-url",
        metavar="URL",
        help="the database as a URL, over --db-path: postgresql://user@host/db or sqlite:///path "
        "(default $LPE_DB_URL); jobs then run in this process on it",
    )
    where.add_argument(
        "--embedded", action="store_true", help="run jobs in this process even if a server runs"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run a projection of a sample narrative, with live progress")
    demo.add_argument("--json", action="store_true", help="print the finished job as JSON")

    run = commands.add_parser("run", help="run one job, show its progress, print its result")
    types = run.add_subparsers(dest="job_type", required=True, metavar="JOB_TYPE")
    for info in job_types:
        _add_job_type(types, info)

    answer = commands.add_parser("answer", help="answer a maieutic session's questions, in order")
    answer.add_argument("session_id", help="the maieutic job's id")
    answer.add_argument("answers", nargs="+", help="one answer per question ('' skips one)")
    answer.add_argument("--project", action="store_true", help="also project the enriched narrative")
    _add_run_options(answer)

    jobs = commands.add_parser("jobs", help="list jobs, newest first")
    jobs.add_argument("--status", help="only these statuses (comma-separated)")
    jobs.add_argument("--type", help="only this job type")
    jobs.add_argument("--limit", type=int, default=20, help="how many (1..500, default 20)")
    jobs.add_argument("--json", action="store_true", help="print the jobs as JSON lines")

    for name, text in (
        ("show", "show a job, its steps and its result"),
        ("watch", "follow a job's progress"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("job_id")
        command.add_argument("--json", action="store_true", help="print the job as JSON")
    cancel = commands.add_parser("cancel", help="cancel a pending or running job")
    cancel.add_argument("job_id")
    priority = commands.add_parser("priority", help="change a pending job's priority")
    priority.add_argument("job_id")
    priority.add_argument("priority", type=int, help=f"{MIN_PRIORITY}..{MAX_PRIORITY}; higher starts first")
    analytics = commands.add_parser(
        "analytics", help="counts, success rate, durations, tokens, cost and cache hits over a time range"
    )
    analytics.add_argument(
        "--since", type=_aware_time, help="from this ISO 8601 time with its offset (default: 30 days ago)"
    )
    analytics.add_argument("--until", type=_aware_time, help="up to this time (default: now)")
    analytics.add_argument(
        "--group-by", default="", help="any of day, type, model, status, comma-separated (default: totals)"
    )
    analytics.add_argument("--json", action="store_true", help="print the report as JSON")
    metrics = commands.add_parser(
        "metrics",
        help="the engine's figures: jobs and LLM calls since it started, the queue now",
        description="The figures of the engine that runs the jobs (the Jupyter server's, when one serves the "
        "database; else an engine started here, whose counters start at zero): per job type and per LLM "
        "model, and the database's pending and running jobs. See docs/metrics.md.",
        formatter_class=_Formatter,
    )
    shown = metrics.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print them as JSON")
    shown.add_argument("--prometheus", action="store_true", help="print them in Prometheus's text format")
    cache = commands.add_parser("cache", help="the LLM result cache: what it holds, or empty it")
    cache.add_argument(
        "action", choices=("stats", "clear"), help="stats: entries, size, hits; clear: empty it"
    )
    cache.add_argument("--json", action="store_true", help="print the figures as JSON")
    commands.add_parser("types", help="the job types and their fields")
    commands.add_parser("catalog", help="the personas, namespaces and styles")
    _add_worker(commands)
    add_db_command(commands)
    add_schedule_commands(commands)
    return parser


def _add_worker(commands: Any) -> None:
    worker = commands.add_parser(
        "worker",
        help="run jobs in this process, with no Jupyter server, until SIGTERM or Ctrl-C",
        description="Run jobs with no Jupyter server: claim jobs of the given types, CONCURRENCY at a time, "
        "with the LLM from LPE_LLM_*. SIGTERM or Ctrl-C stops it: running jobs get --shutdown-grace "
        "seconds to finish, the others go back to the queue without using an attempt and resume from "
        "their last finished step. On a SQLite file one process runs the jobs at a time: a worker waits "
        "while another does (run the Jupyter server with --LpeExtensionApp.dispatch=never); on PostgreSQL "
        "every worker runs jobs. See docs/workers.md.",
        formatter_class=_Formatter,
    )
    worker.add_argument(
        "--db-path",
        default=argparse.SUPPRESS,  # given before `worker` or after it, either works
        help="the database (default $LPE_DB_PATH or ~/.lpe/jobs.db)",
    )
    worker.add_argument(
        "--db-url",
        default=argparse.SUPPRESS,  # given before `worker` or after it, either works
        metavar="URL",
        help="the database as a URL, over --db-path: postgresql://user@host/db or sqlite:///path "
        "(default $LPE_DB_URL)",
    )
    worker.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="jobs running at once (default 8)"
    )
    worker.add_argument(
        "--types",
        type=lambda text: tuple(name.strip() for name in text.split(",")),
        default=None,
        metavar="T1,T2",
        help="claim only these job types (default: every type declared here)",
    )
    worker.add_argument(
        "--shutdown-grace",
        dest="shutdown_grace_s",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds running jobs get to finish at a stop before going back to the queue (default 10)",
    )
    worker.add_argument(
        "--lease",
        dest="lease_s",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds a job stays this worker's without a heartbeat (default 30): if the worker dies, "
        "another takes its jobs within about that long",
    )
