"""JobProgress follows real jobs to each end: completed, failed, cancelled; and renders results safely."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lpe_nb.client import AsyncClient, Client, EmbeddedBackend, Job
from lpe_nb.errors import JobFailed
from lpe_nb.jobs import JobStatus, Progress, StepContext
from lpe_nb.llm.mock import MockLLM
from lpe_nb.widgets import JobProgress, render_result
from lpe_nb.widgets._view import ViewState, duration, step_html
from tests.widgets.helpers import (
    FAILURE,
    NARRATIVE,
    SETTINGS,
    WAIT_S,
    SendLog,
    start_failing,
    texts,
    wait_running,
)


def test_bar_follows_a_projection_to_success_and_shows_the_result(client: Client) -> None:
    progress = JobProgress(client.projection(NARRATIVE, persona="critic"))
    assert progress.wait_rendered(WAIT_S)
    assert progress.status is JobStatus.COMPLETED
    assert progress.bar.value == 100.0 and progress.bar.bar_style == "success"
    assert "completed" in progress.status_label.value
    assert progress.cancel_button.disabled
    assert progress.stream.layout.display == "none" and progress.error.layout.display == "none"
    result = progress.job.result
    shown = texts(progress.result_box)
    assert result["final_projection"][:40] in shown and result["reflection"][:40] in shown
    (box,) = progress.result_box.children
    accordion = box.children[-1]
    assert list(accordion.titles) == ["deconstruct", "map", "reconstruct", "stylize", "reflect"]
    assert accordion.selected_index is None  # the steps are folded


def test_a_failed_job_turns_the_bar_red_and_shows_the_message(client: Client) -> None:
    progress = JobProgress(start_failing(client))
    assert progress.wait_rendered(WAIT_S)
    assert progress.status is JobStatus.FAILED
    assert progress.bar.bar_style == "danger" and "failed" in progress.status_label.value
    assert progress.error.layout.display != "none"
    assert FAILURE in progress.error.value and "#b91c1c" in progress.error.value
    assert progress.result_box.children == ()


def test_the_cancel_button_cancels_the_job(slow_client: Client) -> None:
    job = slow_client.projection(NARRATIVE)
    progress = JobProgress(job)
    wait_running(job)
    assert not progress.cancel_button.disabled
    progress.cancel_button.click()
    assert progress.wait_rendered(WAIT_S)
    with pytest.raises(JobFailed):
        job.wait(WAIT_S)
    assert slow_client.job(job.id).status is JobStatus.CANCELLED
    assert progress.bar.bar_style == "warning" and progress.bar.value < 100
    assert "cancelled" in progress.status_label.value and "stopped at" in progress.step_label.value
    assert progress.cancel_button.disabled and progress.cancel_button.description == "Cancel"
    progress.cancel_button.click()  # a finished job is left alone
    progress.close()


def test_a_job_cancelled_elsewhere_is_shown_cancelled(slow_client: Client) -> None:
    job = slow_client.projection(NARRATIVE)
    progress = JobProgress(job)
    slow_client.cancel(job.id)
    assert progress.wait_rendered(WAIT_S)
    assert progress.status is JobStatus.CANCELLED and progress.bar.bar_style == "warning"


def test_streamed_text_shows_while_a_step_streams(slow_client: Client) -> None:
    job = slow_client.translation(NARRATIVE, "french")
    progress = JobProgress(job)  # a watched job streams its LLM text
    shown = threading.Event()
    progress.stream.layout.observe(lambda change: shown.set() if change["new"] is None else None, "display")
    assert shown.wait(WAIT_S)
    assert progress.stream.value  # set just before the box is shown, in the same render
    job.cancel()
    assert progress.wait_rendered(WAIT_S)
    assert progress.stream.layout.display == "none"  # hidden again once the job no longer runs


def test_the_step_label_says_which_step_and_for_how_long(slow_client: Client) -> None:
    job = slow_client.projection(NARRATIVE)
    progress = JobProgress(job)
    at_first_step = threading.Event()
    progress.step_label.observe(
        lambda change: at_first_step.set() if "step 1 of 5: deconstruct: running" in change["new"] else None,
        "value",
    )
    assert at_first_step.wait(WAIT_S)  # the operation's own step numbering (1 of 5), not its 30 units
    assert "elapsed" in progress.step_label.value
    job.cancel()
    assert progress.wait_rendered(WAIT_S)


def test_the_time_left_is_the_engines_estimate_counted_down_between_events() -> None:
    estimate = {"index": 2, "of": 5, "eta_s": 15.0, "eta_rest_s": 9.0, "estimated_total_s": 20.0}
    progress = Progress(
        current_step="map: running", total_steps=5, completed_steps=1, percentage=20.0, details=estimate
    )
    running = ViewState(status=JobStatus.RUNNING, progress=progress, started=100.0, progress_at=105.0)
    assert step_html(running, now=110.0) == (
        "<small>step 2 of 5: map: running · 10 s elapsed · about 10 s left</small>"
    )  # estimated 15 s left 5 s ago; the estimate's own numbers are not listed as details
    assert step_html(running, now=111.0).endswith("11 s elapsed · about 9.0 s left</small>")
    # the running step is overdue: what the steps after it need is still left
    assert step_html(running, now=140.0).endswith("about 9.0 s left</small>")
    last = replace(progress, details={**estimate, "eta_s": 3.0, "eta_rest_s": 0.0})
    assert step_html(replace(running, progress=last), now=108.5).endswith("almost done</small>")
    assert step_html(replace(running, progress=last), now=111.0).endswith("taking longer than usual</small>")

    no_data = replace(progress, details={**estimate, "eta_s": None, "eta_rest_s": None})
    assert step_html(replace(running, progress=no_data), now=110.0).endswith(
        "10 s elapsed · estimating…</small>"
    )  # the first job of its type on this model: nothing to go by yet
    unplanned = replace(progress, details=None)  # a job type that does not plan its steps
    assert step_html(replace(running, progress=unplanned), now=110.0).endswith("10 s elapsed</small>")
    done = ViewState(status=JobStatus.COMPLETED, progress=progress, started=100.0, ended=104.25)
    assert step_html(done, now=500.0) == "<small>done · 4.2 s elapsed</small>"
    assert duration(185) == "3 min 05 s" and duration(3720) == "1 h 02 min"


async def _wait_in_one_step(ctx: StepContext, data: Any) -> None:
    """A job type with one planned step that takes ``seconds`` and reports nothing while it runs."""
    await ctx.plan(["wait"])
    ctx.report("waiting")
    await ctx.run_step("wait", lambda: asyncio.sleep(float(data["seconds"])))


def _start_waiting(client: Client, seconds: float) -> Job:
    backend = client.async_client.backend
    assert isinstance(backend, EmbeddedBackend)
    backend.engine.manager.registry.register("waits", _wait_in_one_step, replace=True)
    return client.job(client.run_background(backend.submit("waits", {"seconds": seconds})).result(WAIT_S))


def test_elapsed_and_left_move_on_between_events_and_stop_at_the_end(client: Client) -> None:
    first = JobProgress(_start_waiting(client, 2.0), tick_s=0.2)
    estimating = threading.Event()
    first.step_label.observe(
        lambda change: estimating.set() if "estimating…" in change["new"] else None, "value"
    )
    assert first.wait_rendered(WAIT_S) and first.status is JobStatus.COMPLETED
    assert estimating.is_set()  # the first job of its type: nothing to estimate from

    job = _start_waiting(client, 30.0)
    progress = JobProgress(job, tick_s=0.2)
    labels: list[str] = []
    moved = threading.Event()

    def seen(change: dict[str, Any]) -> None:
        labels.append(change["new"])
        if sum("waiting" in label for label in labels) >= 4:
            moved.set()

    progress.step_label.observe(seen, "value")
    assert moved.wait(WAIT_S), labels
    events_while_ticking = progress.events_received
    waiting = [label for label in labels if "waiting" in label]
    assert len(set(waiting)) >= 3  # each tick shows a new elapsed time and time left, with no new event
    left = [float(m) for label in waiting for m in re.findall(r"about ([0-9.]+) s left", label)]
    assert len(set(left)) >= 3 and left == sorted(left, reverse=True) and left[0] <= 2.0, waiting
    assert progress.events_received == events_while_ticking
    job.cancel()
    assert progress.wait_rendered(WAIT_S)
    assert not progress._ticker.running and "stopped at" in progress.step_label.value
    progress.close()


def test_ticks_never_exceed_ten_updates_a_second(client: Client) -> None:
    job = _start_waiting(client, 30.0)
    progress = JobProgress(job, tick_s=0.001)  # a thousand ticks a second
    log = SendLog({"step": progress.step_label})
    ticked = threading.Event()
    progress.step_label.observe(lambda _: ticked.set() if len(log.times["step"]) >= 15 else None, "value")
    assert ticked.wait(WAIT_S)
    job.cancel()
    assert progress.wait_rendered(WAIT_S)
    assert log.busiest_second("step") <= 10
    progress.close()


def test_user_and_llm_text_is_escaped(client: Client) -> None:
    narrative = "The <script>alert('x')</script> & <b>bold</b> claim of Rosa Parks."
    progress = JobProgress(client.translation(narrative, "german"))
    assert progress.wait_rendered(WAIT_S)
    shown = texts(progress.result_box)
    assert "&lt;script&gt;" in shown and "<script>" not in shown and "<b>bold</b>" not in shown


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (
            lambda c: c.translation(NARRATIVE, "french"),
            ["drift", "similarity", "Back-translated", "Preserved"],
        ),
        (
            lambda c: c.multi_translation(NARRATIVE, ["french", "korean"]),
            ["most faithful", "Most stable elements", "Most volatile elements", "korean", "Back-translated"],
        ),
        (lambda c: c.maieutic(NARRATIVE, max_turns=3), ["depth 0", "depth 1", "depth 2"]),
        (lambda c: c.configure("persona", "a patient gardener"), ["New persona", "saved to the catalog"]),
    ],
)
def test_each_job_type_renders_its_result(
    client: Client, start: Callable[[Client], Job], expected: list[str]
) -> None:
    job = start(client)
    progress = JobProgress(job)
    assert progress.wait_rendered(WAIT_S)
    shown = texts(progress.result_box)
    for fragment in expected:
        assert fragment in shown
    if job.type == "translation":
        assert job.result["intermediate_text"].split()[0] in shown


def test_a_finished_job_renders_at_once_and_on_done_runs(client: Client) -> None:
    job = client.projection(NARRATIVE).wait(WAIT_S)
    progress = JobProgress(job)
    assert progress.wait_rendered(WAIT_S)
    seen: list[JobProgress] = []
    progress.on_done(seen.append)  # already done: called at once
    assert seen == [progress] and progress.result == job.result


async def test_an_async_job_is_watched_on_the_running_loop(tmp_path: Path) -> None:
    async with await AsyncClient.embedded(tmp_path / "a.db", llm=MockLLM(0.2), settings=SETTINGS) as client:
        done = JobProgress(await client.translation(NARRATIVE, "italian"))
        slow = JobProgress(await client.projection(NARRATIVE))
        assert done.title.value.startswith("<b>Translation")  # an async AsyncJob carries its record's title
        slow.cancel_button.click()  # schedules the cancel on this loop
        assert await asyncio.to_thread(slow.wait_rendered, WAIT_S)
        assert slow.status is JobStatus.CANCELLED and slow.bar.bar_style == "warning"
        assert await asyncio.to_thread(done.wait_rendered, WAIT_S)
        assert done.bar.bar_style == "success" and "elapsed" in done.step_label.value


def test_an_async_job_needs_a_running_loop(tmp_path: Path) -> None:
    async def make() -> object:
        async with await AsyncClient.embedded(tmp_path / "b.db", llm=MockLLM()) as client:
            return await client.projection(NARRATIVE)

    job = asyncio.run(make())
    with pytest.raises(RuntimeError, match="running event loop"):
        JobProgress(job)  # type: ignore[arg-type]


def test_a_result_of_an_unexpected_shape_still_renders() -> None:
    box = render_result("translation", {"drift": "n/a", "preserved_elements": "one string"})
    assert "n/a" in texts(box)
    odd = render_result("projection", {"steps": [{"name": "a", "output": {"value": object()}}]})
    assert "value" in texts(odd)
    assert "&lt;b&gt;" in texts(render_result("custom_type", ["<b>"]))  # no renderer: escaped JSON
