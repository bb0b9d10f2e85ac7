""":class:`MaieuticSession`: a Socratic dialogue in three clicks: start, answer, project.

Start asks the questions (a ``maieutic`` job); each question gets a text box; Submit sends the answers (a
``maieutic_answer`` job) and shows the insights and the suggested configuration; Project retells the
enriched narrative with that configuration (a ``projection`` job).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from lpe_nb.errors import LpeError

from ._client import resolve_client
from .progress import JobProgress
from .results import close_children, error_html, esc

if TYPE_CHECKING:
    from lpe_nb.client import Client, Job

__all__ = ["MaieuticSession"]

# The goals the maieutic job accepts; the catalog does not list them (yet), so they are spelled here.
GOALS = ("understand", "clarify", "discover", "question")


class MaieuticSession(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """Start a session on a narrative and a goal, answer its questions, then project the enriched story.

    ``session_progress``, ``answer_progress`` and ``projection_progress`` are the :class:`JobProgress` of
    each stage (None until started); wait on their ``wait_rendered()`` when running headlessly: the next
    stage's fields exist once the previous stage's terminal state is rendered.
    """

    def __init__(
        self,
        client: Client | None = None,
        *,
        narrative: str = "",
        goal: str = "understand",
        max_turns: int = 3,
    ) -> None:
        super().__init__()
        self.client = resolve_client(client)
        self.narrative = widgets.Textarea(
            value=narrative,
            placeholder="The narrative to explore…",
            rows=4,
            layout=widgets.Layout(width="95%"),
        )
        self.goal = widgets.Dropdown(description="goal", options=list(GOALS), value=goal)
        self.max_turns = widgets.BoundedIntText(description="questions", value=max_turns, min=1, max=10)
        # width auto: a button's default width is fixed and cuts a longer label off ("Project the enr...")
        self.start_button = widgets.Button(
            description="Start session", button_style="primary", icon="play", layout=_fit()
        )
        self.submit_button = widgets.Button(
            description="Submit answers", icon="check", disabled=True, layout=_fit()
        )
        self.project_button = widgets.Button(
            description="Project the enriched narrative", icon="magic", disabled=True, layout=_fit()
        )
        self.message = widgets.HTML()
        self.answer_fields: list[Any] = []
        self.questions_box = widgets.VBox()
        self.session_box = widgets.VBox()
        self.answer_box = widgets.VBox()
        self.projection_box = widgets.VBox()
        self.session: Job | None = None
        self.session_progress: JobProgress | None = None
        self.answer_progress: JobProgress | None = None
        self.projection_progress: JobProgress | None = None
        self._suggestion: Mapping[str, Any] = {}
        self.start_button.on_click(lambda _button: self.start())
        self.submit_button.on_click(lambda _button: self.submit())
        self.project_button.on_click(lambda _button: self.project())
        self.children = [
            self.narrative,
            widgets.HBox([self.goal, self.max_turns, self.start_button]),
            self.message,
            self.session_box,
            self.questions_box,
            self.submit_button,
            self.answer_box,
            self.project_button,
            self.projection_box,
        ]

    def start(self) -> JobProgress | None:
        """Ask the questions (what *Start session* does); a new start forgets the previous session."""
        job = self._submit(
            lambda: self.client.maieutic(
                self.narrative.value, goal=self.goal.value, max_turns=self.max_turns.value
            )
        )
        if job is None:
            return None
        self._close_progress()
        self.session, self.answer_fields, self._suggestion = job, [], {}
        self.questions_box.children = ()
        self.submit_button.disabled = self.project_button.disabled = True
        self.answer_box.children = self.projection_box.children = ()
        self.session_progress = JobProgress(job)
        # The questions are shown once, as the form below with a box per question, not again as the
        # session job's rendered result.
        self.session_progress.result_box.layout.display = "none"
        self.session_box.children = (self.session_progress,)
        self.start_button.disabled = True  # until the questions are in (or the job ended otherwise)
        self.session_progress.on_done(self._ask)
        return self.session_progress

    def submit(self) -> JobProgress | None:
        """Send the answers (what *Submit answers* does); an empty box skips its question."""
        if self.session is None:
            return None
        session_id, answers = self.session.id, [field.value for field in self.answer_fields]
        job = self._submit(lambda: self.client.maieutic_answer(session_id, answers))
        if job is None:
            return None
        self.submit_button.disabled = self.project_button.disabled = True
        self.answer_progress = JobProgress(job)
        self.answer_box.children = (self.answer_progress,)
        self.answer_progress.on_done(self._offer_projection)
        return self.answer_progress

    def project(self) -> JobProgress | None:
        """Project the enriched narrative with the suggested configuration (what *Project* does)."""
        result = self.answer_progress.result if self.answer_progress is not None else None
        if not isinstance(result, Mapping):
            return None
        config = {k: self._suggestion.get(k) for k in ("persona", "namespace", "style")}
        narrative = str(result.get("enriched_narrative") or self.narrative.value)
        job = self._submit(lambda: self.client.projection(narrative, **config))
        if job is None:
            return None
        self.project_button.disabled = True
        self.projection_progress = JobProgress(job)
        self.projection_box.children = (self.projection_progress,)
        self.projection_progress.on_done(self._projected)
        return self.projection_progress

    def close(self) -> None:
        """Close the session's widgets; jobs still running run on, unwatched."""
        close_children(self)
        super().close()

    def _submit(self, start: Any) -> Job | None:
        try:
            job: Job = start()
        except LpeError as exc:
            self.message.value = error_html(str(exc))
            return None
        self.message.value = ""
        return job

    def _close_progress(self) -> None:
        for progress in (self.session_progress, self.answer_progress, self.projection_progress):
            if progress is not None:
                progress.close()
        self.session_progress = self.answer_progress = self.projection_progress = None

    # on_done callbacks: they run on the rendering thread and only build widgets, never call the client.

    def _ask(self, progress: JobProgress) -> None:
        if progress is not self.session_progress:
            return
        self.start_button.disabled = False
        result = progress.result
        questions = result.get("questions") if isinstance(result, Mapping) else None
        if not isinstance(questions, list):
            return
        rows, fields = [], []
        for question in questions:
            if not isinstance(question, Mapping):
                continue
            field = widgets.Text(placeholder="your answer", layout=widgets.Layout(width="95%"))
            label = f"<b>depth {esc(question.get('depth', '?'))}</b> {esc(question.get('question', ''))}"
            rows += [widgets.HTML(label), field]
            fields.append(field)
        self.answer_fields = fields
        self.questions_box.children = tuple(rows)
        self.submit_button.disabled = not fields

    def _offer_projection(self, progress: JobProgress) -> None:
        if progress is not self.answer_progress:
            return
        self.submit_button.disabled = not self.answer_fields  # answer again, differently, if you like
        result = progress.result
        config = result.get("suggested_config") if isinstance(result, Mapping) else None
        if not isinstance(config, Mapping):
            return
        self._suggestion = config
        self.project_button.disabled = False
        described = ", ".join(f"{k} {config[k]}" for k in ("persona", "namespace", "style") if config.get(k))
        self.project_button.tooltip = f"Project with {described}"

    def _projected(self, progress: JobProgress) -> None:
        if progress is self.projection_progress and self._suggestion:
            self.project_button.disabled = False


def _fit() -> Any:
    return widgets.Layout(width="auto")
