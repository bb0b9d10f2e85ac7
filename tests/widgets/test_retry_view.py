"""A job waiting to retry shows the wait, not the step it failed in; a form sets a job's own attempts."""

from __future__ import annotations

from lpe_nb.client import Client
from lpe_nb.jobs import JobStatus, Progress
from lpe_nb.widgets import JobForm
from lpe_nb.widgets._view import ViewState, step_html
from tests.widgets.helpers import NARRATIVE, WAIT_S, record

MESSAGE = "retrying step 3 of 5 (attempt 2 of 5) in 8.0 s: HTTP 503 from http://llm/v1"


def waiting(status: JobStatus) -> ViewState:
    details = {"index": 3, "of": 5, "retry": {"message": MESSAGE, "attempt": 2, "max_attempts": 5}}
    progress = Progress(
        current_step=MESSAGE, completed_steps=2, total_steps=5, percentage=40.0, details=details
    )
    return ViewState(status=status, progress=progress, started=100.0)


def test_a_job_waiting_to_retry_shows_the_retry_message() -> None:
    html = step_html(waiting(JobStatus.RUNNING), now=110.0)
    assert html.startswith(f"<small>{MESSAGE} · ")
    assert "attempt 2" in html and "{" not in html  # the retry details are not dumped as a dict


def test_a_job_that_failed_while_waiting_says_where_it_stopped() -> None:
    assert "stopped at step 3 of 5" in step_html(waiting(JobStatus.FAILED), now=110.0)


def test_the_generic_form_sets_the_jobs_own_max_attempts(client: Client) -> None:
    form = JobForm(client, "translation")
    form.inputs["text"].value, form.inputs["intermediate_language"].value = NARRATIVE, "german"
    assert form.max_attempts.value == 0  # the type's default unless changed
    form.max_attempts.value = 2
    progress = form.run()
    assert progress is not None and form.job is not None
    assert record(client, form.job.id).max_attempts == 2
    assert progress.wait_rendered(WAIT_S)
