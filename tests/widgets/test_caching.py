"""The result cache in the widgets: the generic form opts a job out, and the progress line says how many
of the job's LLM calls the cache answered (docs/caching.md)."""

from __future__ import annotations

from lpe_nb.client import Client
from lpe_nb.jobs import JobStatus, Progress
from lpe_nb.widgets import JobForm
from lpe_nb.widgets._view import ViewState, step_html
from tests.widgets.helpers import NARRATIVE, WAIT_S, record


def _run(form: JobForm) -> str:
    progress = form.run()
    assert progress is not None and form.job is not None
    assert progress.wait_rendered(WAIT_S)
    return form.job.id


def test_the_generic_form_uses_the_cache_unless_unticked(client: Client) -> None:
    form = JobForm(client, "translation")
    form.inputs["text"].value, form.inputs["intermediate_language"].value = NARRATIVE, "german"
    assert form.use_cache.value is True
    first = client.job(_run(form))
    second = client.job(_run(form))
    assert record(client, second.id).cache is True
    assert all(step.usage.get("cache_hits") == 1 for step in second.steps)
    form.use_cache.value = False
    third = _run(form)
    assert record(client, third).cache is False
    assert all(step.usage.get("llm_calls") == 1 for step in client.job(third).steps)
    assert first.id != second.id
    form.close()


def test_the_progress_line_counts_the_calls_the_cache_answered() -> None:
    details = {"index": 3, "of": 5, "cache_hits": 2}
    progress = Progress(current_step="reconstruct", total_steps=5, completed_steps=2, details=details)
    running = ViewState(status=JobStatus.RUNNING, progress=progress, started=100.0)
    assert step_html(running, now=104.0) == (
        "<small>step 3 of 5: reconstruct (2 from the cache) · 4.0 s elapsed</small>"
    )
    without = ViewState(
        status=JobStatus.RUNNING, progress=Progress(current_step="map", details={"index": 1, "of": 5})
    )
    assert "cache" not in step_html(without, now=1.0)
