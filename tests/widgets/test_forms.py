"""The launch forms start the right job type with the options chosen, and show its progress below."""

from __future__ import annotations

import re

import pytest

from lpe_nb.client import Client
from lpe_nb.errors import InvalidInput
from lpe_nb.jobs import JobStatus
from lpe_nb.widgets import ConfigurationForm, JobForm, JobProgress, ProjectionForm, TranslationForm
from tests.widgets.helpers import NARRATIVE, WAIT_S, record, texts


def test_projection_form_offers_the_catalog_and_runs_the_chosen_options(client: Client) -> None:
    form = ProjectionForm(client)
    catalog = client.catalog()
    assert [value for _, value in form.persona.options] == [p["name"] for p in catalog["personas"]]
    assert form.style.value == catalog["defaults"]["style"]  # the defaults are preselected
    form.narrative.value = NARRATIVE
    form.persona.value, form.namespace.value, form.style.value = "critic", "medieval-realm", "poetic"
    form.run_button.click()
    assert form.job is not None and isinstance(form.progress, JobProgress)
    assert form.output.children == (form.progress,)
    data = record(client, form.job.id)
    assert data.type == "projection"
    assert data.input_data == {
        "narrative": NARRATIVE,
        "persona": "critic",
        "namespace": "medieval-realm",
        "style": "poetic",
    }
    assert form.progress.wait_rendered(WAIT_S) and form.progress.status is JobStatus.COMPLETED
    form.close()


def test_translation_form_runs_with_the_chosen_languages(client: Client) -> None:
    form = TranslationForm(client)
    assert "japanese" in form.intermediate_language.options
    form.text.value = NARRATIVE
    form.source_language.value, form.intermediate_language.value = "english", "japanese"
    progress = form.run()
    assert progress is not None and progress.wait_rendered(WAIT_S)
    data = record(client, progress.job.id)
    assert data.type == "translation"
    assert data.input_data == {
        "text": NARRATIVE,
        "source_language": "english",
        "intermediate_language": "japanese",
    }
    assert "drift" in texts(progress.result_box)


def test_translation_form_compares_languages_in_one_multi_language_job(client: Client) -> None:
    form = TranslationForm(client)
    form.text.value = NARRATIVE
    form.intermediate_language.value = "german"
    form.compare_with.value = ("german", "hindi", "dutch")  # the first is already the main language
    progress = form.run()
    assert progress is not None and progress.wait_rendered(WAIT_S)
    data = record(client, progress.job.id)
    assert data.type == "multi_translation"
    assert data.input_data["intermediate_languages"] == ["german", "hindi", "dutch"]
    assert "Most stable elements" in texts(progress.result_box)


def test_configuration_form_creates_an_entry_later_forms_offer(client: Client) -> None:
    form = ConfigurationForm(client)
    form.attribute.value = "style"
    form.brief.value = "terse, in the present tense"
    form.context.value = "for news items"
    form.run_button.click()
    assert form.progress is not None and form.progress.wait_rendered(WAIT_S)
    data = record(client, form.progress.job.id)
    assert data.type == "configuration"
    assert data.input_data == {
        "attribute": "style",
        "brief": "terse, in the present tense",
        "context": "for news items",
    }
    name = form.progress.result["entry"]["name"]
    assert name in texts(form.progress.result_box)
    assert name in [value for _, value in ProjectionForm(client).style.options]


def test_a_refused_input_shows_why_and_starts_nothing(client: Client) -> None:
    form = ProjectionForm(client)
    form.narrative.value = "   "
    form.run_button.click()
    assert form.job is None and form.output.children == ()
    assert "narrative" in form.message.value and "#b91c1c" in form.message.value
    assert client.jobs() == []
    form.narrative.value = NARRATIVE
    first = form.run()
    second = form.run()  # a second run replaces the first's progress below the form
    assert first is not None and second is not None and form.output.children == (second,)
    assert form.message.value == ""
    assert second.wait_rendered(WAIT_S)


def test_the_translation_form_never_offers_the_source_language_as_a_target(client: Client) -> None:
    form = TranslationForm(client)
    assert form.source_language.value == "english"
    assert "english" not in form.intermediate_language.options and "english" not in form.compare_with.options
    assert set(form.intermediate_language.options) == set(form.source_language.options) - {"english"}
    form.intermediate_language.value = "german"
    form.compare_with.value = ("french", "japanese")
    form.source_language.value = "french"  # the text is French now: French is no target any more
    assert "french" not in form.intermediate_language.options and "french" not in form.compare_with.options
    assert "english" in form.intermediate_language.options
    assert form.intermediate_language.value == "german"  # a choice still valid is kept
    assert form.compare_with.value == ("japanese",)
    form.source_language.value = "german"  # the chosen target becomes the source: another is chosen
    assert form.intermediate_language.value not in (None, "german")
    form.close()


def test_run_is_disabled_from_the_click_until_the_job_has_ended(slow_client: Client) -> None:
    form = ProjectionForm(slow_client)
    form.narrative.value = NARRATIVE
    assert not form.run_button.disabled
    form.run_button.click()
    assert form.progress is not None and form.run_button.disabled  # at once: no second job by a double click
    assert form.progress.status is not JobStatus.COMPLETED
    form.progress.cancel()
    assert form.progress.wait_rendered(WAIT_S) and form.progress.status is JobStatus.CANCELLED
    assert not form.run_button.disabled


def test_the_generic_form_disables_run_while_its_job_runs_too(client: Client) -> None:
    form = JobForm(client, "translation")
    form.inputs["text"].value, form.inputs["intermediate_language"].value = NARRATIVE, "german"
    progress = form.run()
    assert progress is not None and form.run_button.disabled
    assert progress.wait_rendered(WAIT_S) and progress.status is JobStatus.COMPLETED
    assert not form.run_button.disabled
    form.inputs["text"].value = ""
    assert form.run() is None and "text" in form.message.value
    assert not form.run_button.disabled  # a refused start changes nothing: correct it and run


def test_a_generated_entry_is_named_after_its_brief_and_can_be_deleted(client: Client) -> None:
    names = []
    for _ in range(2):
        form = ConfigurationForm(client)
        form.attribute.value, form.brief.value = "persona", "a patient gardener"
        progress = form.run()
        assert progress is not None and progress.wait_rendered(WAIT_S)
        names.append(progress.result["entry"]["name"])
        assert form.entries.value == ("persona", names[-1]) and not form.delete_button.disabled
    assert names[0] == names[1]  # the same brief, the same entry (replaced), not a new one with a number
    assert not re.search(r"\d", names[0]) and "gardener" in names[0]
    personas = [entry["name"] for entry in client.catalog()["personas"]]
    assert personas.count(names[0]) == 1

    fresh = ConfigurationForm(client)  # a new form lists the user's entries, and only those
    assert [value for _, value in fresh.entries.options] == [("persona", names[0])]
    fresh.delete_button.click()
    assert fresh.message.value == "" and fresh.entries.options == () and fresh.delete_button.disabled
    assert names[0] not in [entry["name"] for entry in client.catalog()["personas"]]
    assert names[0] not in [value for _, value in ProjectionForm(client).persona.options]
    assert not fresh.delete_entry()  # nothing chosen, nothing deleted


def test_a_built_in_entry_cannot_be_deleted(client: Client) -> None:
    with pytest.raises(InvalidInput) as refused:
        client.delete_catalog_entry("persona", "critic")
    assert "built-in" in refused.value.fields["name"]
    with pytest.raises(InvalidInput) as unknown:
        client.delete_catalog_entry("style", "no-such-style")
    assert "no-such-style" in unknown.value.fields["name"]
    assert "critic" in [entry["name"] for entry in client.catalog()["personas"]]


def test_the_streamed_text_box_takes_the_forms_width_not_more(client: Client) -> None:
    # "100%" plus the widget margins stuck out of the form by 2 px; the browser tests measure it.
    form = ProjectionForm(client)
    form.narrative.value = NARRATIVE
    progress = form.run()
    assert progress is not None and progress.stream.layout.width == "auto"
    assert progress.wait_rendered(WAIT_S)
