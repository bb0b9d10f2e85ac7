"""What the command line prints: live progress (a tqdm bar on a terminal, plain lines when piped) and
results (readable text, or JSON with ``--json``)."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from lpe_nb.client import Job, JobEvent
from lpe_nb.jobs.store import CacheStats

__all__ = ["Progress", "print_cache_stats", "print_job", "print_jobs", "time_left"]

_HIDDEN_RESULT_KEYS = {"steps", "llm", "usage"}


class Progress:
    """Follows one job's events: a tqdm bar when ``stream`` is a terminal, else one line per change; both
    with the engine's time-left estimate when the job type gives one."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self._bar: Any = None
        self._last = ""
        if self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=100.0, file=self.stream, unit="%", bar_format="{l_bar}{bar}| {elapsed}{postfix}"
            )  # not tqdm's {remaining}: it extrapolates the bar's rate, which set-up and long calls distort

    def show(self, event: JobEvent) -> None:
        if event.progress is not None:
            percentage, step = event.progress.percentage, event.progress.current_step
            left = time_left(event.progress.details)
            if self._bar is not None:
                self._bar.n = percentage
                self._bar.set_description_str(step[:40], refresh=False)
                self._bar.set_postfix_str(left, refresh=False)
                self._bar.refresh()
            else:
                line = f"{percentage:5.1f} %  {step}"
                if line != self._last:  # streamed text repeats the step's line: show it once
                    print(f"{line}  ({left})" if left else line, file=self.stream, flush=True)
                    self._last = line

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def time_left(details: Any) -> str:
    """``about 12 s left`` from a progress report's ``eta_s``, ``estimating…`` when the engine has no data
    yet, or ``""`` for a job type that does not estimate."""
    if not isinstance(details, dict) or "eta_s" not in details:
        return ""
    eta_s = details["eta_s"]
    if not isinstance(eta_s, (int, float)):
        return "estimating…"
    return f"about {eta_s:.1f} s left" if eta_s < 10 else f"about {round(eta_s)} s left"


def print_job(job: Job, *, as_json: bool, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if as_json:
        body = job.data.to_dict() | {"steps": [step.to_dict() for step in job.steps]}
        print(json.dumps(body, indent=2, ensure_ascii=False), file=out)
        return
    print(f"{job.type} {job.id}: {job.status.value}  ({job.data.title})", file=out)
    if job.error_message:
        print(f"  {job.error_message}", file=out)
    result = job.data.result_data
    if isinstance(result, dict):
        for key, value in result.items():
            if key in _HIDDEN_RESULT_KEYS:
                continue
            if isinstance(value, str) and (len(value) > 60 or "\n" in value):
                print(f"\n== {key.replace('_', ' ').capitalize()} ==\n{value}", file=out)
            else:
                print(f"{key}: {json.dumps(value, ensure_ascii=False)}", file=out)
    elif result is not None:
        print(json.dumps(result, indent=2, ensure_ascii=False), file=out)


def print_jobs(jobs: list[Job], *, as_json: bool, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    for job in jobs:
        if as_json:
            print(json.dumps(job.data.to_dict(), ensure_ascii=False), file=out)
        else:
            data = job.data
            print(
                f"{data.id}  {data.status.value:<9}  {data.progress.percentage:5.1f} %  "
                f"{data.created_at[:19]}  {data.priority:>5}  {data.type:<17}  {data.title}"
                + (f"  (starts {data.scheduled_at[:19]} UTC)" if data.scheduled_at else ""),
                file=out,
            )


def print_cache_stats(stats: CacheStats, *, as_json: bool, out: IO[str] | None = None) -> None:
    """The LLM result cache's figures and bounds, as JSON or as a few lines."""
    if as_json:
        print(json.dumps(stats.to_dict()), file=out)
        return

    def bound(value: object, unit: str = "") -> str:
        return "no limit" if value is None else f"{value}{unit}"

    print(
        f"LLM result cache: {'on' if stats.enabled else 'off'}, {stats.entries} entries, "
        f"{stats.size_bytes / 1024 / 1024:.2f} MiB, {stats.hits} hits\n"
        f"oldest {stats.oldest_at or '-'}, newest {stats.newest_at or '-'}\n"
        f"bounds: {bound(stats.max_entries, ' entries')}, {bound(stats.max_bytes, ' bytes')}, "
        f"{bound(stats.max_age_days, ' days')}",
        file=out,
    )
