"""Render a finished job's result as widgets, one renderer per job type.

Every string from a user or an LLM goes through :func:`esc` before it reaches an ``HTML`` widget: a
narrative or a model reply containing ``<script>`` must show as text, never run.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from lpe_nb.client import format_usd

__all__ = ["close_children", "error_html", "esc", "render_result"]

Renderer = Callable[[Mapping[str, Any]], list[Any]]

_RED = "#b91c1c"


def esc(value: Any) -> str:
    """``value`` as HTML-safe text."""
    return html.escape(str(value), quote=True)


def close_children(widget: Any) -> None:
    """Close every widget under ``widget`` (ipywidgets closes only the one it is asked to)."""
    for child in getattr(widget, "children", ()):
        close_children(child)
        child.close()


def error_html(message: str) -> str:
    return f'<div style="color: {_RED}; white-space: pre-wrap"><b>Error:</b> {esc(message)}</div>'


def _block(text: Any, *, style: str = "") -> str:
    return f'<div style="white-space: pre-wrap; {style}">{esc(text)}</div>'


def _heading(text: str) -> str:
    return f"<h4 style='margin: 0.6em 0 0.2em'>{esc(text)}</h4>"


def _items(values: Any, *, color: str = "inherit") -> str:
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        return "<i>none</i>"
    rows = "".join(f"<li style='color: {color}'>{esc(value)}</li>" for value in values)
    return f"<ul style='margin: 0'>{rows}</ul>"


def _pairs(mapping: Any) -> str:
    if not isinstance(mapping, Mapping) or not mapping:
        return ""
    rows = "".join(f"<tr><td><b>{esc(k)}</b></td><td>{_block(v)}</td></tr>" for k, v in mapping.items())
    return f"<table>{rows}</table>"


def _html(*parts: str) -> Any:
    return widgets.HTML("".join(parts))


def _steps(result: Mapping[str, Any]) -> list[Any]:
    """The audit trail, folded: one collapsed accordion pane per step (output, duration, tokens)."""
    steps = result.get("steps")
    if not isinstance(steps, list) or not steps:
        return []
    panes = []
    titles = []
    for step in steps:
        if not isinstance(step, Mapping):
            continue
        output = step.get("output")
        shown = (
            output
            if isinstance(output, str)
            else json.dumps(output, indent=2, ensure_ascii=False, default=str)
        )
        meta = f"{step.get('duration_ms', 0)} ms, {step.get('tokens', 0)} tokens"
        if "cost_usd" in step:
            meta += f", {format_usd(step['cost_usd'])}"
        panes.append(_html(f"<small>{esc(meta)}</small>", _block(shown, style="font-family: monospace")))
        titles.append(str(step.get("name", "step")))
    accordion = widgets.Accordion(children=panes, titles=tuple(titles), selected_index=None)
    return [_html(_heading("Steps"), _spend(result)), accordion]


def _spend(result: Mapping[str, Any]) -> str:
    """The job's tokens and what they cost (``?``: a model without a price), above its steps."""
    usage = result.get("usage")
    if not isinstance(usage, Mapping) or "cost_usd" not in result:
        return ""
    tokens = usage.get("total_tokens", 0)
    hits = usage.get("cache_hits", 0)
    cached = f" · {hits} cached call{'s' if hits != 1 else ''}" if isinstance(hits, int) and hits else ""
    text = f"{tokens:,} tokens · cost {format_usd(result['cost_usd'])}{cached}"
    return f"<small class='lpe-result-cost'>{esc(text)}</small>"


def _projection(result: Mapping[str, Any]) -> list[Any]:
    config = " · ".join(f"{k}: {result[k]}" for k in ("persona", "namespace", "style") if result.get(k))
    return [
        _html(
            _heading("Projection"),
            _block(result.get("final_projection", "")),
            _heading("Reflection"),
            _block(result.get("reflection", ""), style="font-style: italic"),
            f"<small>{esc(config)}</small>",
        ),
        *_steps(result),
    ]


def _number(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "n/a"


def _round_trip(result: Mapping[str, Any]) -> str:
    """One round trip's figures, texts and elements, as HTML."""
    figures = (
        f"<table><tr><td><b>drift</b></td><td>{_number(result.get('drift'))}</td></tr>"
        f"<tr><td><b>similarity</b></td><td>{_number(result.get('similarity'))}</td></tr>"
        f"<tr><td><b>chrF</b></td><td>{_number(result.get('chrf'), 1)}</td></tr></table>"
    )
    return "".join(
        (
            figures,
            _block(result.get("drift_explanation", ""), style="font-style: italic"),
            _heading(f"Intermediate ({result.get('intermediate_language', '?')})"),
            _block(result.get("intermediate_text", "")),
            _heading("Back-translated"),
            _block(result.get("back_translation", "")),
            _heading("Preserved"),
            _items(result.get("preserved_elements"), color="#15803d"),
            _heading("Lost"),
            _items(result.get("lost_elements"), color=_RED),
            _heading("Gained"),
            _items(result.get("gained_elements"), color="#1d4ed8"),
            _pairs(result.get("linguistic_analysis")),
        )
    )


def _translation(result: Mapping[str, Any]) -> list[Any]:
    route = f"{result.get('source_language', '?')} → {result.get('intermediate_language', '?')} → back"
    return [_html(_heading(f"Round trip: {route}"), _round_trip(result)), *_steps(result)]


def _ranked(entries: Any, *, color: str) -> str:
    """Elements with the languages that kept (or lost) them."""
    if not isinstance(entries, Sequence) or not entries:
        return "<i>none</i>"
    shown = [
        f"{entry.get('element', '')} ({', '.join(map(str, entry.get('languages', [])))})"
        for entry in entries
        if isinstance(entry, Mapping)
    ]
    return _items(shown, color=color)


def _multi_translation(result: Mapping[str, Any]) -> list[Any]:
    trips = [trip for trip in result.get("round_trips") or [] if isinstance(trip, Mapping)]
    rows = "".join(
        f"<tr><td><b>{esc(trip.get('intermediate_language', '?'))}</b></td>"
        f"<td>{_number(trip.get('drift'))}</td><td>{_number(trip.get('chrf'), 1)}</td></tr>"
        for trip in trips
    )
    summary = (
        f"<table><tr><th>language</th><th>drift</th><th>chrF</th></tr>{rows}</table>"
        f"<small>most faithful: <b>{esc(result.get('most_faithful_language', '?'))}</b> · least faithful: "
        f"<b>{esc(result.get('least_faithful_language', '?'))}</b> · mean drift "
        f"{_number(result.get('mean_drift'))}</small>"
    )
    panes = [_html(_round_trip(trip)) for trip in trips]
    titles = tuple(str(trip.get("intermediate_language", "?")) for trip in trips)
    return [
        _html(
            _heading(f"Round trips from {result.get('source_language', '?')}"),
            summary,
            _heading("Most stable elements"),
            _ranked(result.get("stable_elements"), color="#15803d"),
            _heading("Most volatile elements"),
            _ranked(result.get("volatile_elements"), color=_RED),
        ),
        widgets.Accordion(children=panes, titles=titles, selected_index=None),
        *_steps(result),
    ]


def _maieutic(result: Mapping[str, Any]) -> list[Any]:
    by_depth: dict[Any, list[Mapping[str, Any]]] = {}
    for question in result.get("questions") or []:
        if isinstance(question, Mapping):
            by_depth.setdefault(question.get("depth", 0), []).append(question)
    parts = [_heading(f"Questions (goal: {result.get('goal', '?')})")]
    for depth, questions in sorted(by_depth.items(), key=lambda item: str(item[0])):
        focus = questions[0].get("focus", "")
        parts.append(f"<b>depth {esc(depth)}</b> <small>{esc(focus)}</small>")
        parts.append(_items([q.get("question", "") for q in questions]))
    return [_html(*parts)]


def _maieutic_answer(result: Mapping[str, Any]) -> list[Any]:
    config = result.get("suggested_config")
    parts = [
        _heading("Insights"),
        _items(result.get("insights")),
        _heading("Synthesis"),
        _block(result.get("synthesis", "")),
        _heading("Suggested configuration"),
        _pairs(config) or "<i>none</i>",
    ]
    projection = result.get("projection")
    if isinstance(projection, Mapping):
        return [_html(*parts), *_projection(projection)]
    return [_html(*parts)]


def _configuration(result: Mapping[str, Any]) -> list[Any]:
    entry = result.get("entry")
    if not isinstance(entry, Mapping):
        entry = {}
    saved = "saved to the catalog" if result.get("saved") else "not saved"
    return [
        _html(
            _heading(f"New {entry.get('kind', result.get('attribute', 'entry'))}: {entry.get('name', '?')}"),
            _block(entry.get("description", "")),
            _pairs(entry.get("fields")),
            f"<small>{esc(saved)}</small>",
        )
    ]


def _generic(result: Any) -> list[Any]:
    return [
        _html(
            _block(
                json.dumps(result, indent=2, ensure_ascii=False, default=str), style="font-family: monospace"
            )
        )
    ]


_RENDERERS: dict[str, Renderer] = {
    "projection": _projection,
    "translation": _translation,
    "multi_translation": _multi_translation,
    "maieutic": _maieutic,
    "maieutic_answer": _maieutic_answer,
    "configuration": _configuration,
}


def render_result(job_type: str, result: Any) -> Any:
    """A ``VBox`` showing ``result``; job types without a renderer (custom ones) show it as JSON."""
    renderer = _RENDERERS.get(job_type)
    try:
        children = (
            renderer(result) if renderer is not None and isinstance(result, Mapping) else _generic(result)
        )
    except Exception as exc:  # a result of an unexpected shape still shows, with why it looks raw
        children = [_html(error_html(f"cannot render this {job_type} result: {exc!r}")), *_generic(result)]
    return widgets.VBox(children)
