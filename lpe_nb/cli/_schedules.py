"""``python -m lpe_nb schedules list|add|show|pause|resume|delete``: recurring schedules from a terminal."""

from __future__ import annotations

import argparse
import json
from typing import Any

from lpe_nb.client import Client, Schedule
from lpe_nb.errors import InvalidInput
from lpe_nb.jobs.model import MAX_PRIORITY, MIN_PRIORITY

__all__ = ["add_schedule_commands", "run_schedules"]


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object of the job type's fields")
    return value


def add_schedule_commands(commands: Any) -> None:
    """The ``schedules`` command and its subcommands, on the top-level parser's ``commands``."""
    parser = commands.add_parser(
        "schedules", help="recurring schedules: list, add, show, pause, resume, delete"
    )
    actions = parser.add_subparsers(dest="schedules_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the schedules, with their next fire time")
    listing.add_argument("--json", action="store_true", help="print each schedule as a JSON line")
    add = actions.add_parser(
        "add",
        help="run a job at each slot of a cron expression or every N seconds",
        description="Each slot submits one job (once, even across restarts); its description names the "
        "schedule. Example: schedules add projection --input '{\"narrative\": \"...\"}' --cron '0 9 * * 1-5' "
        "--timezone Europe/Paris",
    )
    add.add_argument("job_type", help="the job type (python -m lpe_nb types)")
    add.add_argument(
        "--input", type=_json_object, default={}, metavar="JSON", help="the job's input, a JSON object"
    )
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument(
        "--cron", help="5 fields (minute hour day month weekday), or 6 with the seconds first; quote it"
    )
    when.add_argument("--every", dest="interval_s", type=float, metavar="S", help="every S seconds from now")
    add.add_argument("--timezone", default="UTC", help="the IANA timezone of --cron (default UTC)")
    add.add_argument(
        "--catch-up",
        choices=("skip", "once"),
        default="skip",
        help="after downtime: skip the missed slots (default), or run once for them",
    )
    add.add_argument("--title", help="the jobs' title (default: the job type's)")
    add.add_argument(
        "--priority",
        type=int,
        default=None,
        metavar="N",
        help=f"the jobs' priority, {MIN_PRIORITY}..{MAX_PRIORITY}",
    )
    add.add_argument("--json", action="store_true", help="print the schedule as JSON")
    for name, text in (
        ("show", "a schedule and its latest fires (the jobs it created)"),
        ("pause", "stop firing it until resumed"),
        ("resume", "fire it again from the next slot (missed ones are not caught up)"),
        ("delete", "delete it (the jobs it created stay)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("schedule_id")
        if name == "show":
            action.add_argument("--json", action="store_true", help="print the schedule as JSON")


def run_schedules(client: Client, args: argparse.Namespace) -> int:
    action: str = args.schedules_action
    if action == "list":
        schedules = client.schedules()
        if args.json:
            for schedule in schedules:
                print(json.dumps(schedule.data.to_dict()))
        elif not schedules:
            print("no schedules (add one: python -m lpe_nb schedules add --help)")
        for schedule in [] if args.json else schedules:
            print(_line(schedule))
        return 0
    if action == "add":
        if args.cron is not None and not args.cron.strip():
            raise InvalidInput.field("cron", "is empty; give 5 fields, or 6 with the seconds first")
        schedule = client.schedule(
            args.job_type,
            args.input,
            cron=args.cron,
            interval_s=args.interval_s,
            timezone=args.timezone,
            catch_up=args.catch_up,
            title=args.title,
            priority=args.priority,
        )
        print(json.dumps(schedule.data.to_dict()) if args.json else _line(schedule))
        return 0
    if action == "show":
        schedule = client.get_schedule(args.schedule_id)
        if args.json:
            print(
                json.dumps({**schedule.data.to_dict(), "recent_fires": [f.to_dict() for f in schedule.fires]})
            )
            return 0
        print(_line(schedule))
        for fire in schedule.fires:
            print(f"  slot {fire.slot}  job {fire.job_id}  fired {fire.fired_at}")
        return 0
    if action in ("pause", "resume"):
        schedule = client.get_schedule(args.schedule_id)
        print(_line(schedule.pause() if action == "pause" else schedule.resume()))
        return 0
    client.get_schedule(args.schedule_id).delete()
    print(f"schedule {args.schedule_id} deleted (the jobs it created stay)")
    return 0


def _line(schedule: Schedule) -> str:
    """``sch_... projection  every 60 s  next 2026-...  (3 fired)``."""
    when = "paused" if schedule.paused else f"next {schedule.data.next_fire_at or '(none)'}"
    return (
        f"{schedule.id}  {schedule.job_type:<16} {schedule.describe()}  catch-up {schedule.data.catch_up.value}  "
        f"{when}  ({schedule.fire_count} fired)"
    )
