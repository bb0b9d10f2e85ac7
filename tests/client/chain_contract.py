"""Dependency chains through a client, on every backend: a test module imports these with a ``client``
fixture of its own (the embedded engine, a real server subprocess). The LLM is the offline mock."""

from __future__ import annotations

import contextlib

import pytest

from lpe_nb.client import AsyncClient, AsyncJob
from lpe_nb.errors import InvalidInput, JobFailed
from lpe_nb.jobs import JobStatus

NARRATIVE = "Mara left the harbour town of Velden at dawn, carrying her father's compass and a debt."
WAIT_S = 30.0
HELD_S = 2.0  # a first job held back this long: its dependents are surely submitted while it waits
LATER_S = 3600.0  # a parent that will not start during the test


async def finished(job: AsyncJob) -> AsyncJob:
    """``job`` once it has ended, however it ended."""
    with contextlib.suppress(JobFailed):
        await job.wait(timeout=WAIT_S)
    return job


async def test_a_chain_passes_each_result_to_the_next_job(client: AsyncClient) -> None:
    projection = await client.projection(NARRATIVE, delay_s=HELD_S)
    translation = await projection.then("translation", intermediate_language="french", priority=5)
    assert translation.depends_on == (projection.id,) and translation.priority == 5  # an option, not input
    assert translation.status is JobStatus.PENDING
    assert translation.progress.current_step == f"waiting for {projection.data.title}"
    await translation.wait(timeout=WAIT_S)
    await projection.refresh()
    # the declared mapping: a projection's final_projection is a translation's text
    assert translation.result["original_text"] == projection.result["final_projection"]
    assert translation.data.started_at is not None and projection.data.completed_at is not None
    assert translation.data.started_at >= projection.data.completed_at  # never before its parent ended


async def test_a_pipeline_chains_its_steps_each_on_the_one_before(client: AsyncClient) -> None:
    first, second, third = await client.pipeline(
        ("projection", {"narrative": NARRATIVE}),
        ("translation", {"intermediate_language": "german"}),
        ("projection", {"style": "poetic"}),
    )
    assert (second.depends_on, third.depends_on) == ((first.id,), (second.id,))
    await third.wait(timeout=WAIT_S)
    await second.refresh()
    assert second.result["original_text"] == (await first.refresh()).result["final_projection"]
    # a translation's back_translation is a narrative to project
    assert third.data.input_data["narrative"] == second.result["back_translation"]


async def test_inputs_from_names_a_field_of_a_parents_result(client: AsyncClient) -> None:
    projection = await (await client.projection(NARRATIVE))
    translation = await client.submit(
        "translation",
        {"intermediate_language": "spanish"},
        inputs_from={"text": f"{projection.id}.reflection"},
    )
    assert translation.depends_on == (projection.id,)  # named in inputs_from: a parent
    await translation.wait(timeout=WAIT_S)
    assert translation.result["original_text"] == projection.result["reflection"]


async def test_a_parent_that_fails_cancels_its_dependents_naming_it(client: AsyncClient) -> None:
    first = await client.projection(NARRATIVE, delay_s=HELD_S)
    # its result has no such field: the translation fails when it starts, naming the field
    middle = await first.then("translation", intermediate_language="french", inputs_from={"text": "no_such"})
    last = await middle.then("projection")
    after_last = await last.then("translation", intermediate_language="german")
    await finished(after_last)
    await finished(middle)
    assert (await first.refresh()).status is JobStatus.COMPLETED
    assert middle.status is JobStatus.FAILED
    assert "inputs_from.text" in (middle.error_message or "") and "no_such" in (middle.error_message or "")
    await last.refresh()
    assert last.status is JobStatus.CANCELLED and last.data.started_at is None
    assert middle.id in (last.error_message or "") and "failed" in (last.error_message or "")
    assert after_last.status is JobStatus.CANCELLED and last.id in (after_last.error_message or "")


async def test_cancelling_a_parent_cancels_the_jobs_waiting_for_it(client: AsyncClient) -> None:
    parent = await client.projection(NARRATIVE, delay_s=LATER_S)
    child = await parent.then("translation", intermediate_language="french")
    grandchild = await child.then("projection")
    await parent.cancel()
    with pytest.raises(JobFailed) as ended:
        await grandchild.wait(timeout=WAIT_S)
    assert ended.value.status == "cancelled" and child.id in (grandchild.error_message or "")
    await child.refresh()
    assert child.status is JobStatus.CANCELLED
    assert parent.id in (child.error_message or "") and "was cancelled" in (child.error_message or "")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"depends_on": ["no-such-job"]}, "depends_on"),
        ({"inputs_from": {"text": "no-such-job.final_projection"}}, "depends_on"),
        ({"inputs_from": {"no_such_field": "x.final_projection"}}, "inputs_from.no_such_field"),
    ],
    ids=["unknown-parent", "unknown-parent-in-inputs_from", "unknown-field"],
)
async def test_a_bad_chain_is_refused_naming_the_field(
    client: AsyncClient, options: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await client.submit("translation", {"intermediate_language": "french"}, **options)  # type: ignore[arg-type]
    assert field in refused.value.fields
    assert await client.jobs() == []  # nothing was written


async def test_naming_a_parent_twice_is_refused(client: AsyncClient) -> None:
    parent = await client.projection(NARRATIVE, delay_s=LATER_S)
    with pytest.raises(InvalidInput) as refused:
        await client.submit("projection", {"narrative": NARRATIVE}, depends_on=[parent.id, parent.id])
    assert "depends_on" in refused.value.fields and "twice" in refused.value.fields["depends_on"]
    await parent.cancel()


async def test_a_missing_field_that_no_parent_fills_is_refused(client: AsyncClient) -> None:
    parent = await client.configure("persona", "a patient gardener who notices small things", delay_s=LATER_S)
    with pytest.raises(InvalidInput) as refused:  # a configuration's result declares no translation text
        await parent.then("translation", intermediate_language="french")
    assert "text" in refused.value.fields
    await parent.cancel()


async def test_a_maieutic_session_its_answers_and_a_projection_of_the_enriched_narrative(
    client: AsyncClient,
) -> None:
    session = await client.maieutic(NARRATIVE, max_turns=2, delay_s=HELD_S)
    # the answers wait for their session: the check that it exists and has finished waits too
    answers = await client.submit(
        "maieutic_answer",
        {"session_id": session.id, "answers": ["She wants to be free of it.", "Her father."]},
        depends_on=[session],
    )
    projection = await answers.then("projection", style="poetic")
    await projection.wait(timeout=WAIT_S)
    await answers.refresh()
    # declared: a maieutic_answer's enriched_narrative is a projection's narrative
    assert projection.data.input_data["narrative"] == answers.result["enriched_narrative"]
    assert projection.data.title.startswith("Projection of Maieutic answers")
