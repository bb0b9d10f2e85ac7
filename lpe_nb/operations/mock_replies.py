"""Mock replies for every task the operations use, so every job type runs offline and reads sensibly.

Each responder builds its reply from the step's ``context`` only (deterministic, input-derived): the
mock translation drops a few words by a stable hash so a round trip really drifts, and the mock judge
computes similarity from the two texts it is given. Registered once, at import of this module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lpe_nb.llm import Message, register_mock_responder
from lpe_nb.llm.text_features import (
    choose,
    key_phrases,
    proper_names,
    sentences,
    stable_hash,
    truncate_words,
    words,
)

__all__ = ["TASKS", "register_all"]

_COUNTERPARTS = ("envoy", "keeper", "council", "beacon", "guild", "archive", "vessel", "sentinel", "circle")
_QUESTION_FORMS = {
    0: "What exactly happened when {p}, and who was there?",
    1: "What did those involved want when {p}, and where did their wishes collide?",
    2: "What lies beneath {p}: which tension made it unavoidable?",
    3: "What must one already believe for {p} to seem right or wrong?",
    4: "In what older, recurring story does {p} find its echo?",
}
_TAG = re.compile(r"^\[[a-z]+\]\s*")


def _text(context: Mapping[str, Any], key: str) -> str:
    value = context.get(key, "")
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _subjects(text: str, k: int = 4) -> list[str]:
    found = proper_names(text)[:k] + key_phrases(text, k)
    return list(dict.fromkeys(found))[:k] or ["the matter at hand"]


def _deconstruct(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    text = _text(c, "narrative")
    names, phrases = proper_names(text), key_phrases(text, 6)
    first = sentences(text)[:1] or [text]
    return "\n".join([
        "Actors: " + (", ".join(names[:5]) or "the people of the story"),
        "Events: " + "; ".join(phrases[:3]),
        "Motives and conflicts: " + " versus ".join(phrases[3:5] or phrases[:2]),
        "Methods: " + (phrases[5] if len(phrases) > 5 else phrases[-1] if phrases else "direct action"),
        "Outcome: " + truncate_words(first[-1], 18),
    ])  # fmt: skip


def _counterpart(subject: str, namespace: str) -> str:
    return f"the {choose(_COUNTERPARTS, subject, namespace)} of {namespace.replace('-', ' ')} ({subject.split()[0]})"


def _map(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    namespace = _text(c, "namespace")
    return "\n".join(
        f"{s} -> {_counterpart(s, namespace)}: keeps its role" for s in _subjects(_text(c, "deconstruct"), 6)
    )


def _reconstruct(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    lines = [line.split(" -> ")[1].split(":")[0] for line in _text(c, "map").splitlines() if " -> " in line]
    persona = _text(c, "persona")
    cast = ", ".join(lines[:3]) or "the envoys"
    outcome = truncate_words((sentences(_text(c, "narrative")) or ["it ended"])[-1], 16)
    return (
        f"Told as {persona} would tell it: {cast} stood at the heart of events. "
        f"Step by step they followed the course the original took, until the end: {outcome}"
    )


def _stylize(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    style = _text(c, "style")
    opener = choose(
        ("In this telling,", "Let it be said:", "Here is how it went:"), style, _text(c, "reconstruct")
    )
    return f"[{style}] {opener} {_text(c, 'reconstruct')}"


def _reflect(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    subjects = _subjects(_text(c, "narrative"), 3)
    return (
        f"Seen through {_text(c, 'namespace')}, the story of {', '.join(subjects)} shows its structure plainly: "
        f"the allegory keeps who acted and why, and strips away the familiar surface. What it reveals about "
        f"the original is how much of {subjects[0]} depended on the relationships, not the setting."
    )


def _forward(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    language = _text(c, "to_language")
    kept = [t for t in _text(c, "text").split() if len(t) <= 3 or stable_hash(t.lower(), language) % 6 != 0]
    return f"[{language}] " + " ".join(kept)


def _backward(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    return _TAG.sub("", _text(c, "text"))


def _similarity(a: str, b: str) -> float:
    left, right = {w.lower() for w in words(a)}, {w.lower() for w in words(b)}
    if not left and not right:
        return 1.0
    return round(len(left & right) / len(left | right), 4)


def _drift(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    similarity = _similarity(_text(c, "original"), _text(c, "back_translation"))
    return json.dumps(
        {"similarity": similarity, "explanation": f"{similarity:.0%} of the distinct words survive."}
    )


def _elements(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    original, back = _text(c, "original"), _text(c, "back_translation")
    a, b = {w.lower() for w in words(original)}, {w.lower() for w in words(back)}
    return json.dumps({
        "preserved_elements": key_phrases(back, 4),
        "lost_elements": sorted(a - b)[:6],
        "gained_elements": sorted(b - a)[:6],
        "linguistic_analysis": {
            "tone_change": "unchanged" if a == b else "slightly flatter",
            "style_change": "unchanged" if a == b else "terser",
            "complexity_change": f"{len(b) - len(a):+d} distinct words",
            "structural_changes": [] if a == b else ["some words dropped"],
        },
    })  # fmt: skip


def _question(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    depth = int(c.get("depth", 0))
    previous = c.get("previous_questions") or []
    subjects = _subjects(_text(c, "narrative"), 6)
    subject = subjects[(depth + len(previous)) % len(subjects)]
    goal = _text(c, "goal")
    return f"({goal}) " + _QUESTION_FORMS[min(depth, 4)].format(p=subject)


def _insights(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    dialogue = c.get("dialogue") or []
    found = [
        f"On {truncate_words(str(d['question']), 6)}: {truncate_words(str(d['answer']), 14)}"
        for d in dialogue
    ]
    return json.dumps({"insights": found or ["The narrator left the questions open."]})


def _synthesis(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    insights = c.get("insights") or []
    subjects = _subjects(_text(c, "narrative"), 2)
    return f"The dialogue shows that {' and '.join(subjects)} matter because " + "; ".join(
        truncate_words(str(i), 10) for i in insights[:3]
    )


def _suggest(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    choices = c.get("choices") or {}
    synthesis = _text(c, "synthesis")
    picked = {kind: choose(list(names), synthesis, kind) for kind, names in choices.items() if names}
    return json.dumps({**picked, "rationale": f"Chosen for {truncate_words(synthesis, 8)}"})


def _generate(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    brief, kind = _text(c, "brief"), _text(c, "attribute")
    slug = "-".join(w.lower() for w in words(" ".join(key_phrases(brief, 2)) or brief)[:3]) or "custom"
    keys = {
        "persona": ("voice", "values"),
        "namespace": ("setting", "institutions"),
        "style": ("diction", "rhythm"),
    }
    fields = {key: truncate_words(brief, 8) for key in keys.get(kind, ("note",))}
    return json.dumps({"name": slug, "description": truncate_words(brief, 30), "fields": fields})


TASKS: dict[str, Callable[[Sequence[Message], Mapping[str, Any]], str]] = {
    "projection.deconstruct": _deconstruct,
    "projection.map": _map,
    "projection.reconstruct": _reconstruct,
    "projection.stylize": _stylize,
    "projection.reflect": _reflect,
    "translation.forward": _forward,
    "translation.backward": _backward,
    "translation.drift": _drift,
    "translation.elements": _elements,
    "maieutic.question": _question,
    "maieutic.insights": _insights,
    "maieutic.synthesis": _synthesis,
    "maieutic.suggest": _suggest,
    "configuration.generate": _generate,
}


def register_all() -> None:
    """Register every responder (idempotent)."""
    for task, fn in TASKS.items():
        register_mock_responder(task, fn)
