"""What the CLI prints for progress when piped: one line per change, with the engine's time left."""

from __future__ import annotations

import io

from lpe_nb.cli._output import Progress, time_left
from lpe_nb.client import JobEvent
from lpe_nb.jobs import Progress as JobProgress


def _event(seq: int, step: str, percentage: float, details: object) -> JobEvent:
    progress = JobProgress(current_step=step, percentage=percentage, details=details, seq=seq)
    return JobEvent.progress_of("job", progress)


def test_a_piped_run_prints_each_step_once_with_the_time_left() -> None:
    out = io.StringIO()
    shown = Progress(out)
    shown.show(_event(1, "initializing", 0.0, {"eta_s": None}))
    shown.show(_event(2, "map: running", 20.0, {"eta_s": 12.4, "eta_rest_s": 9.0}))
    shown.show(_event(3, "map: running", 20.0, {"eta_s": 11.0, "partial_text": "The"}))  # streamed text
    shown.show(_event(4, "reflect: running", 80.0, {"eta_s": 2.46}))
    shown.show(_event(5, "completed", 100.0, None))
    assert out.getvalue().splitlines() == [
        "  0.0 %  initializing  (estimating…)",
        " 20.0 %  map: running  (about 12 s left)",
        " 80.0 %  reflect: running  (about 2.5 s left)",
        "100.0 %  completed",
    ]


def test_a_job_type_without_an_estimate_shows_none() -> None:
    assert time_left(None) == "" and time_left({"step": "x"}) == "" and time_left("text") == ""
