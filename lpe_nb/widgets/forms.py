"""Launch forms: pick the options (from the client's catalog), click Run, watch the job below.

A form's widget changes happen on the kernel's thread in response to a click, so they need no throttle;
the :class:`JobProgress` each run shows is throttled on its own. Run is disabled from the click until the
job it started has ended (its terminal state rendered), so one click is one job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from lpe_nb.client import MAX_DELAY_S, MAX_PRIORITY, MIN_PRIORITY, FieldInfo
from lpe_nb.errors import InvalidInput, LpeError

from ._client import choices, resolve_client
from .progress import JobProgress
from .results import close_children, error_html

if TYPE_CHECKING:
    from lpe_nb.client import Client, Job

__all__ = ["ConfigurationForm", "JobForm", "ProjectionForm", "TranslationForm"]

_KINDS = ("persona", "namespace", "style")
_RUN_TOOLTIP = "Start a job with these options"
_RUNNING_TOOLTIP = "A job started here is running; Run is available again once it has ended"


def _wide() -> Any:
    return widgets.Layout(width="95%")  # one Layout per widget: a shared one would tie their sizes


def _textarea(placeholder: str, rows: int = 4) -> Any:
    return widgets.Textarea(placeholder=placeholder, rows=rows, layout=_wide())


def _dropdown(description: str, options: list[Any], value: Any) -> Any:
    names = [option[1] if isinstance(option, tuple) else option for option in options]
    return widgets.Dropdown(
        description=description,
        options=options,
        value=value if value in names else (names[0] if names else None),
        layout=_wide(),
        style={"description_width": "10em"},
    )


class _LaunchForm(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """The fields of one job type, a Run button, an error line and the progress of the last job started."""

    def __init__(self, client: Client | None = None) -> None:
        super().__init__()
        self.client = resolve_client(client)
        self.run_button = widgets.Button(
            description="Run", button_style="primary", icon="play", tooltip=_RUN_TOOLTIP
        )
        self.message = widgets.HTML()
        self.output = widgets.VBox()
        self.job: Job | None = None
        self.progress: JobProgress | None = None
        self.run_button.on_click(lambda _button: self.run())
        fields = self._build(self.client.catalog())
        self.children = [*fields, self.run_button, self.message, self.output]

    def _build(self, catalog: dict[str, Any]) -> list[Any]:
        """Create the fields from the catalog; returns them in display order."""
        raise NotImplementedError

    def _start(self) -> Job:
        """Submit the job from the fields' values."""
        raise NotImplementedError

    def run(self) -> JobProgress | None:
        """Start a job with the chosen options and show its progress (what Run does); None if refused.

        A refused input (an empty text, say) shows its message in red and starts nothing.
        """
        try:
            job = self._start()
        except LpeError as exc:
            self.message.value = error_html(str(exc))
            return None
        self.message.value = ""
        previous, self.job, self.progress = self.progress, job, JobProgress(job)
        self.run_button.disabled, self.run_button.tooltip = True, _RUNNING_TOOLTIP
        self.output.children = (self.progress,)
        if previous is not None:
            previous.close()  # stops watching the earlier job; the job itself runs on
        self.progress.on_done(self._job_ended)  # after the swap: an earlier job's end must not count
        return self.progress

    def _job_ended(self, progress: JobProgress) -> None:
        # on the rendering thread, once the terminal state is on screen
        if progress is self.progress:
            self.run_button.disabled, self.run_button.tooltip = False, _RUN_TOOLTIP

    def close(self) -> None:
        """Close the form and everything in it; a job still running runs on, unwatched."""
        close_children(self)
        super().close()


class ProjectionForm(_LaunchForm):
    """A narrative, a persona, a namespace and a style; Run starts a projection."""

    def _build(self, catalog: dict[str, Any]) -> list[Any]:
        defaults = catalog.get("defaults") or {}
        self.narrative = _textarea("The narrative to project, e.g. a historical event…")
        self.persona = _dropdown("persona", choices(catalog, "personas"), defaults.get("persona"))
        self.namespace = _dropdown("namespace", choices(catalog, "namespaces"), defaults.get("namespace"))
        self.style = _dropdown("style", choices(catalog, "styles"), defaults.get("style"))
        return [self.narrative, self.persona, self.namespace, self.style]

    def _start(self) -> Job:
        return self.client.projection(
            self.narrative.value,
            persona=self.persona.value,
            namespace=self.namespace.value,
            style=self.style.value,
        )


class TranslationForm(_LaunchForm):
    """A text, its language and the language of the round trip; Run starts a translation analysis.

    Languages picked in *compare with* turn it into one multi-language job that compares the round trips.
    """

    def _build(self, catalog: dict[str, Any]) -> list[Any]:
        self.languages = [str(language) for language in catalog.get("languages") or []]
        self.text = _textarea("The text to send on a round trip…")
        self.source_language = _dropdown("from", self.languages, "english")
        targets = self._targets()
        self.intermediate_language = _dropdown("through", targets, "french")
        self.compare_with = widgets.SelectMultiple(
            description="compare with",
            options=targets,
            rows=4,
            layout=_wide(),
            style={"description_width": "10em"},
        )
        self.source_language.observe(lambda _change: self._offer_targets(), names="value")
        return [self.text, self.source_language, self.intermediate_language, self.compare_with]

    def _targets(self) -> list[str]:
        """Every language but the source: a round trip through the text's own language measures nothing."""
        return [language for language in self.languages if language != self.source_language.value]

    def _offer_targets(self) -> None:
        targets = self._targets()
        through, compared = self.intermediate_language.value, self.compare_with.value
        self.intermediate_language.options = targets  # resets the value: set it again just after
        self.intermediate_language.value = through if through in targets else next(iter(targets), None)
        self.compare_with.options = targets
        self.compare_with.value = tuple(language for language in compared if language in targets)

    def _start(self) -> Job:
        source, through = self.source_language.value, self.intermediate_language.value
        others = [language for language in self.compare_with.value if language != through]
        if others:
            return self.client.multi_translation(self.text.value, [through, *others], source_language=source)
        return self.client.translation(self.text.value, through, source_language=source)


class ConfigurationForm(_LaunchForm):
    """What to create (persona, namespace or style), a brief and some context; Run generates the entry.

    The new entry is saved in the catalog; forms made afterwards offer it. Below, ``entries`` lists the
    entries you added (built-in ones cannot be deleted) and ``delete_button`` deletes the one chosen.
    """

    def __init__(self, client: Client | None = None) -> None:
        super().__init__(client)
        self.children = [*self.children, widgets.HBox([self.entries, self.delete_button])]

    def _build(self, catalog: dict[str, Any]) -> list[Any]:
        self.attribute = _dropdown("create a", list(_KINDS), "persona")
        self.brief = widgets.Text(placeholder="a short brief, e.g. 'a patient gardener'", layout=_wide())
        self.context = _textarea("Optional context for the generator", rows=3)
        self.entries = widgets.Dropdown(
            description="your entries",
            options=_user_entries(catalog),
            layout=widgets.Layout(width="70%"),
            style={"description_width": "10em"},
        )
        self.delete_button = widgets.Button(
            description="Delete", icon="trash", tooltip="Delete the chosen entry from the catalog"
        )
        self.delete_button.on_click(lambda _button: self.delete_entry())
        self._offer_delete()
        return [self.attribute, self.brief, self.context]

    def _start(self) -> Job:
        return self.client.configure(self.attribute.value, self.brief.value, self.context.value or None)

    def delete_entry(self) -> bool:
        """Delete the entry chosen in ``entries`` (what Delete does); False if nothing was deleted."""
        chosen = self.entries.value
        if chosen is None:
            return False
        try:
            self.client.delete_catalog_entry(*chosen)
        except LpeError as exc:
            self.message.value = error_html(str(exc))
            return False
        self.message.value = ""
        self.entries.options = [option for option in self.entries.options if option[1] != chosen]
        self._offer_delete()
        return True

    def _job_ended(self, progress: JobProgress) -> None:
        super()._job_ended(progress)
        result = progress.result  # on the rendering thread: from the result, never from the client
        entry = result.get("entry") if isinstance(result, dict) else None
        if isinstance(entry, dict) and entry.get("kind") and entry.get("name"):
            key = (str(entry["kind"]), str(entry["name"]))
            kept = [option for option in self.entries.options if option[1] != key]
            self.entries.options = [*kept, (_entry_label(entry), key)]
            self.entries.value = key
            self._offer_delete()

    def _offer_delete(self) -> None:
        self.delete_button.disabled = not self.entries.options


def _user_entries(catalog: dict[str, Any]) -> list[tuple[str, tuple[str, str]]]:
    """Dropdown options for the entries a user added: ``(label, (kind, name))``."""
    options = []
    for kind in _KINDS:
        for entry in catalog.get(kind + "s") or []:
            if isinstance(entry, dict) and not entry.get("builtin", True) and entry.get("name"):
                options.append((_entry_label({**entry, "kind": kind}), (kind, str(entry["name"]))))
    return options


def _entry_label(entry: dict[str, Any]) -> str:
    description = str(entry.get("description") or "")
    return f"{entry['kind']}: {entry['name']}" + (f" — {description}" if description else "")


class JobForm(_LaunchForm):
    """A form for any job type, built from its declared fields (``client.job_types()``): a text box per
    text field, a dropdown per fixed set of values or catalog kind, a checkbox per yes/no. Without
    ``job_type`` it starts with the first type and offers the others in a dropdown. ``max_attempts`` is the
    job's own (0: its type's default; see docs/fault-tolerance.md); ``priority`` its place in the queue
    (higher starts first, equal ones oldest first; see docs/priority.md); ``delay_s`` how long it waits
    before it may start (docs/scheduling.md); ``use_cache`` unticked makes every LLM call anew, none answered
    from the result cache (docs/caching.md).
    """

    def __init__(self, client: Client | None = None, job_type: str | None = None) -> None:
        self._initial_type = job_type
        self.inputs: dict[str, Any] = {}
        super().__init__(client)

    def _build(self, catalog: dict[str, Any]) -> list[Any]:
        self._catalog = catalog
        self._infos = {info.name: info for info in self.client.job_types()}
        options = [
            (f"{info.name} — {info.description}" if info.description else info.name, info.name)
            for info in self._infos.values()
        ]
        self.job_type = _dropdown("job type", options, self._initial_type)
        self.fields_box = widgets.VBox()
        self.job_type.observe(lambda _change: self._show_fields(), names="value")
        self._show_fields()
        self.max_attempts = widgets.BoundedIntText(
            value=0, min=0, max=100, description="max attempts", style={"description_width": "10em"},
            tooltip="tries in a row without progress before the job fails; 0: the job type's default",
        )  # fmt: skip
        self.priority = widgets.BoundedIntText(
            value=0, min=MIN_PRIORITY, max=MAX_PRIORITY, description="priority",
            style={"description_width": "10em"},
            tooltip="higher starts first among waiting jobs, equal ones oldest first; 0 is the default",
        )  # fmt: skip
        self.delay_s = widgets.BoundedFloatText(
            value=0.0, min=0.0, max=MAX_DELAY_S, description="start in (s)",
            style={"description_width": "10em"},
            tooltip="seconds to wait before the job may start (it waits pending, and can be cancelled); 0: now",
        )  # fmt: skip
        self.use_cache = widgets.Checkbox(
            value=True, description="answer identical LLM calls from the cache", indent=False,
            tooltip="unticked: every LLM call is made anew (a new sample at temperature > 0), and none is kept",
        )  # fmt: skip
        return [
            self.job_type,
            self.fields_box,
            self.max_attempts,
            self.priority,
            self.delay_s,
            self.use_cache,
        ]

    def _show_fields(self) -> None:
        old = list(self.inputs.values())
        info = self._infos[self.job_type.value]
        self.inputs = {field.name: _field_widget(field, self._catalog) for field in info.fields}
        self.fields_box.children = tuple(self.inputs.values())
        for widget in old:
            widget.close()

    def _start(self) -> Job:
        info = self._infos[self.job_type.value]
        data = {}
        for field in info.fields:
            value = _field_value(field, self.inputs[field.name].value)
            if value is not None:
                data[field.name] = value
        return self.client.submit(
            info.name,
            data,
            max_attempts=self.max_attempts.value or None,
            priority=self.priority.value,
            delay_s=self.delay_s.value or None,
            cache=self.use_cache.value,
        )


def _field_widget(field: FieldInfo, catalog: dict[str, Any]) -> Any:
    label = field.name.replace("_", " ")
    # An optional field whose default is "none" (e.g. "the suggested persona") keeps that as its first choice.
    unset: list[Any] = [("(default)", "")] if field.default is None and not field.required else []
    if field.catalog is not None:
        return _dropdown(label, unset + choices(catalog, field.catalog + "s"), field.default or "")
    if field.choices:
        return _dropdown(label, unset + list(field.choices), field.default or "")
    if field.type == "boolean":
        return widgets.Checkbox(description=label, value=bool(field.default), indent=False)
    hint = field.description or ("comma-separated" if field.type == "array" else field.type)
    default = (
        ""
        if field.default is None
        else (", ".join(map(str, field.default)) if isinstance(field.default, list) else str(field.default))
    )
    if field.type == "string":
        return widgets.Textarea(description=label, value=default, placeholder=hint, rows=3, layout=_wide())
    return widgets.Text(description=label, value=default, placeholder=hint, layout=_wide())


def _field_value(field: FieldInfo, raw: Any) -> Any:
    """The JSON value of a field widget's value; empty optional text means "the default"."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if not text:
        return None if not field.required or field.type != "string" else raw
    try:
        if field.type == "integer":
            return int(text)
        if field.type == "number":
            return float(text)
    except ValueError:
        raise InvalidInput.field(field.name, f"must be a {field.type}, not {text[:40]!r}") from None
    if field.type == "array":
        return [part.strip() for part in text.split(",") if part.strip()]
    return raw
