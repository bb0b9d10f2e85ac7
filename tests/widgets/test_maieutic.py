"""MaieuticSession end to end on the mock: start, answer the questions, read the insights, project."""

from __future__ import annotations

from lpe_nb.client import Client
from lpe_nb.jobs import JobStatus
from lpe_nb.widgets import MaieuticSession
from tests.widgets.helpers import NARRATIVE, WAIT_S, record, texts


def test_a_session_from_questions_to_the_projection_of_the_enriched_narrative(client: Client) -> None:
    session = MaieuticSession(client, narrative=NARRATIVE)
    session.goal.value, session.max_turns.value = "clarify", 2
    assert session.submit_button.disabled and session.project_button.disabled
    session.start_button.click()
    assert session.session_progress is not None and session.session_progress.wait_rendered(WAIT_S)
    started = record(client, session.session_progress.job.id)
    assert started.type == "maieutic"
    assert started.input_data == {"narrative": NARRATIVE, "goal": "clarify", "max_turns": 2}
    # on_done ran before wait_rendered returned: one text box per question, labelled with it
    questions = session.session_progress.result["questions"]
    assert len(session.answer_fields) == 2 and not session.submit_button.disabled
    assert questions[1]["question"][:30] in texts(session.questions_box)
    shown = texts(session, visible_only=True)  # each question once: as a label above its answer box
    assert [shown.count(question["question"]) for question in questions] == [1, 1]
    assert not session.start_button.disabled

    session.answer_fields[0].value = "She was tired of giving in."
    session.answer_fields[1].value = "The whole community stood with her."
    session.submit_button.click()
    answer = session.answer_progress
    assert session.submit_button.disabled and session.project_button.disabled  # until the answer is in
    assert answer is not None and answer.wait_rendered(WAIT_S) and answer.status is JobStatus.COMPLETED
    answered = record(client, answer.job.id)
    assert answered.type == "maieutic_answer" and answered.input_data["session_id"] == started.id
    assert answered.input_data["answers"] == [
        "She was tired of giving in.",
        "The whole community stood with her.",
    ]
    shown = texts(answer.result_box)
    assert "Insights" in shown and "Suggested configuration" in shown
    assert all(insight[:20] in shown for insight in answer.result["insights"])
    suggested = answer.result["suggested_config"]
    assert not session.project_button.disabled and suggested["persona"] in session.project_button.tooltip

    session.project_button.click()
    projection = session.projection_progress
    assert session.project_button.disabled
    assert projection is not None and projection.wait_rendered(WAIT_S)
    assert not session.project_button.disabled and not session.submit_button.disabled
    projected = record(client, projection.job.id)
    assert projected.type == "projection"
    assert projected.input_data["narrative"] == answer.result["enriched_narrative"].strip()
    assert {k: projected.input_data[k] for k in ("persona", "namespace", "style")} == {
        k: suggested[k] for k in ("persona", "namespace", "style")
    }
    assert projection.result["final_projection"][:30] in texts(projection.result_box)
    session.close()


def test_a_refused_start_says_why(client: Client) -> None:
    session = MaieuticSession(client)
    assert session.start() is None
    assert "narrative" in session.message.value and session.session_progress is None
    assert session.submit() is None and session.project() is None


def test_start_is_disabled_while_the_questions_are_asked(slow_client: Client) -> None:
    session = MaieuticSession(slow_client, narrative=NARRATIVE, max_turns=1)
    progress = session.start()
    assert progress is not None and session.start_button.disabled
    assert progress.wait_rendered(WAIT_S) and not session.start_button.disabled
    session.close()


def test_every_button_is_as_wide_as_its_label(client: Client) -> None:
    # A button's default width is fixed: "Project the enriched narrative" was cut to "Project the enr..."
    session = MaieuticSession(client)
    buttons = (session.start_button, session.submit_button, session.project_button)
    assert [button.layout.width for button in buttons] == ["auto", "auto", "auto"]
    session.close()
