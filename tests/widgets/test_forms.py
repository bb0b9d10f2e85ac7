"""The launch forms start the right job type with the options chosen, and show its progress below."""

from __future__ import annotations

from lpe_nb.client import Client
from lpe_nb.jobs import JobStatus
from lpe_nb.widgets import ConfigurationForm, JobProgress, ProjectionForm, TranslationForm
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
