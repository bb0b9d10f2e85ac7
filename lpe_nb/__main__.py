"""``python -m lpe_nb``: run LPE jobs on the embedded engine from a terminal.

    python -m lpe_nb demo                                  # a projection, with live progress
    python -m lpe_nb run projection --narrative "..." [--persona critic]
    python -m lpe_nb run translation --text "..." --intermediate-language french
    python -m lpe_nb run multi_translation --text "..." --intermediate-languages french,german,japanese
    python -m lpe_nb run maieutic --narrative "..." [--goal discover] [--max-turns 3]
    python -m lpe_nb run configuration --attribute persona --brief "a noir detective"
    python -m lpe_nb jobs                                  # recent jobs

The database is ``$LPE_DB_PATH`` or ``~/.lpe/jobs.db``; the LLM comes from ``LPE_LLM_*`` (the mock if unset).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from lpe_nb.embedded import open_engine
from lpe_nb.errors import LpeError
from lpe_nb.llm import LlmSettings

__all__ = ["main"]

_DEMO = (
    "Rosa Parks refused to give up her seat on a Montgomery bus in 1955. Her arrest sparked a boycott "
    "led by Martin Luther King, and the city's segregation law was struck down a year later."
)
_FIELDS = ("narrative", "persona", "namespace", "style", "text", "intermediate_language", "source_language",
           "intermediate_languages", "goal", "max_turns", "attribute", "brief", "context")  # fmt: skip
_PARSERS: dict[str, Callable[[str], Any]] = {
    "max_turns": int,
    "intermediate_languages": lambda value: [part.strip() for part in value.split(",")],  # french,german
}


# Unless told otherwise, the demo's mock takes a moment per call so the progress can be watched.
_DEMO_MOCK_LATENCY_S = 0.4


async def _run(
    job_type: str, data: dict[str, Any], timeout_s: float, *, llm: LlmSettings | None = None
) -> int:
    async with open_engine(llm_settings=llm) as engine:
        shown = ""
        # Subscribed before submitting, so even the first progress report is seen.
        with await engine.manager.subscribe(None) as sub:
            job_id = await engine.manager.submit(job_type, data)
            print(f"job {job_id} ({job_type}) submitted", flush=True)
            while True:
                event = await sub.get(timeout_s=timeout_s)
                if event.job_id != job_id:
                    continue
                if event.progress is not None:
                    line = f"  {event.progress.percentage:5.1f} %  {event.progress.current_step}"
                    if line != shown:  # streamed text repeats the step's line; show it once
                        print(line, flush=True)
                        shown = line
                if event.is_terminal:
                    break
        job = await engine.manager.get(job_id)
    if job.error_message:
        print(f"{job.status.value}: {job.error_message}", file=sys.stderr)
        return 1
    result = job.result_data or {}
    if job_type == "projection":
        print(
            "\n== Projection ==\n"
            + result["final_projection"]
            + "\n\n== Reflection ==\n"
            + result["reflection"]
        )
    else:
        summary = {k: v for k, v in result.items() if k != "steps"}
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


async def _jobs(limit: int) -> int:
    async with open_engine() as engine:
        page = await engine.manager.list_jobs(limit=limit)
    for job in page.jobs:
        print(f"{job.id}  {job.status.value:<9}  {job.created_at[:19]}  {job.title}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lpe_nb", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run a projection of a sample narrative")
    run = commands.add_parser("run", help="run one job and print its result")
    job_types = ["projection", "translation", "multi_translation", "maieutic", "configuration"]
    run.add_argument("job_type", choices=job_types)
    for name in _FIELDS:
        run.add_argument("--" + name.replace("_", "-"), dest=name, type=_PARSERS.get(name, str))
    run.add_argument("--timeout", type=float, default=600.0)
    jobs = commands.add_parser("jobs", help="list recent jobs")
    jobs.add_argument("--limit", type=int, default=20)
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            latency = None if "LPE_MOCK_LATENCY_S" in os.environ else _DEMO_MOCK_LATENCY_S
            llm = LlmSettings.from_env(mock_latency_s=latency)
            return asyncio.run(
                _run("projection", {"narrative": _DEMO, "persona": "storyteller"}, 600.0, llm=llm)
            )
        if args.command == "jobs":
            return asyncio.run(_jobs(args.limit))
        data = {name: getattr(args, name) for name in _FIELDS if getattr(args, name) is not None}
        return asyncio.run(_run(args.job_type, data, args.timeout))
    except LpeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
