"""Mock replies for every task the operations use, so every job type runs offline and reads sensibly.

Each responder builds its reply from the step's ``context`` only (deterministic, input-derived), in whole
sentences. It reads the narrative for its actors, places and events (:mod:`._mock_story`: no section
heading is ever taken for an actor) and writes in the persona's voice, the namespace's world and the
style's manner (:mod:`._mock_worlds`), so each built-in entry gives visibly different wording. The mock
translation swaps a few words for near-synonyms (a different few per language), so a round trip really
drifts while staying grammatical, and the mock judge computes similarity from the two texts it is given.
Structured steps keep their JSON shape. Registered once, at import of this module.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lpe_nb.llm import Message, register_mock_responder
from lpe_nb.llm.text_features import choose, key_phrases, proper_names, stable_hash, truncate_words, words
from lpe_nb.operations._mock_story import (
    Story,
    a_or_an,
    as_clause,
    narrative_text,
    read_story,
    sentence_case,
)
from lpe_nb.operations._mock_worlds import World, persona, stylize, world

__all__ = ["TASKS", "register_all"]

_TAG = re.compile(r"^\[in [A-Za-z-]+\]\s*")
_MAP_LINE = re.compile(r"^(.+?) -> (.+?)(?:: (.*))?$")
_WHERE = "where it happens."
_SECTION = re.compile(r"^(Actors|Places|Events|Motives and conflicts|Methods|Outcome):\s*(.*)$")
_INTRO = re.compile(r"^(?:in|on|at|by|after|before|during|one|years|months|days)\b[^,]{0,30},\s+", re.I)
_MOTIVE = re.compile(r"\b(because|so that|in order to|to protest|wanted|hoped|refused|against|despite)\b")
_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_SYNONYMS = {
    "refused": "declined", "sparked": "set off", "led": "headed", "later": "afterwards",
    "struck down": "overturned", "began": "started", "arrest": "detention", "wrote": "composed",
    "published": "printed", "imagining": "picturing", "machines": "devices", "landed": "touched down",
    "decade": "span of ten years", "big": "large", "small": "little", "quickly": "fast", "said": "stated",
    "seat": "place", "could": "might", "one day": "someday", "village": "hamlet",
    "waited": "stayed", "news": "word", "crossed": "traversed", "dawn": "daybreak", "ferry": "boat",
    "empty": "vacant", "gathered": "assembled", "shade": "shadow", "law": "rule", "city": "town",
    "fought": "battled", "built": "constructed", "help": "aid",
}  # fmt: skip
_SYNONYM = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _SYNONYMS), key=len, reverse=True)) + r")\b", re.I
)
_ASPECTS = ("what happened", "motives", "root causes", "assumptions", "deeper patterns")
_GOAL_LEADS = {
    "understand": "To understand it better",
    "clarify": "To be precise",
    "discover": "Looking past the obvious",
    "question": "Taking nothing for granted",
}


def _text(context: Mapping[str, Any], key: str) -> str:
    value = context.get(key, "")
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _joined(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _count(n: int) -> str:
    return _NUMBERS[n] if n < len(_NUMBERS) else str(n)


def _sentence(text: str) -> str:
    """``text`` as a sentence of its own: capitalised, ending in a full stop unless it already ends."""
    text = text.strip()
    return sentence_case(text if text[-1:] in ".!?\u201d\u2026" else f"{text}.") if text else text


def _clause(story: Story, event: str) -> str:
    """An event to quote inside a sentence: without an opening "In 1955," and not capitalised."""
    return as_clause(_INTRO.sub("", event.strip()), story.people + story.places)


# -- projection ---------------------------------------------------------------------------------------------


def _deconstruct(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    story = read_story(_text(c, "narrative"))
    motive = next((e for e in story.events if _MOTIVE.search(e)), None)
    done = list(dict.fromkeys(w for e in story.events for w in words(e) if w.endswith("ed") and len(w) > 3))
    lines = [
        f"Actors: {'; '.join(story.actors) or 'no one is named'}.",
        f"Places: {'; '.join(story.places) or 'none named'}.",
        "Events:",
        *(f"{i}. {_sentence(event)}" for i, event in enumerate(story.events or [story.text], 1)),
        "Motives and conflicts: "
        + (
            f"as the narrative puts it, {_clause(story, motive)}." if motive else "the narrative states none."
        ),
        "Methods: "
        + (
            f"the actions named, in order: {_joined(done[:4])}."
            if done
            else "none beyond the events themselves."
        ),
        f"Outcome: {_sentence(story.outcome or story.text)}",
    ]
    return "\n".join(lines)


def _elements(deconstruction: str) -> tuple[list[str], list[str], str]:
    """(actors, places, events text) from a deconstruction: the mock's own sections, or any text."""
    sections: dict[str, str] = {}
    events: list[str] = []
    for line in deconstruction.splitlines():
        match = _SECTION.match(line.strip())
        if match:
            sections[match.group(1)] = match.group(2).strip().rstrip(".")
        elif re.match(r"^\d+\.\s", line.strip()):
            events.append(line.strip().split(" ", 1)[1])
    if "Actors" in sections:
        actors = [a.strip() for a in sections["Actors"].split(";") if a.strip() and a != "no one is named"]
        places = [p.strip() for p in sections.get("Places", "").split(";") if p.strip() and p != "none named"]
        return actors, places, " ".join(events)
    story = read_story(re.sub(r"(?m)^[A-Z][\w ]{0,30}:\s*", "", deconstruction))  # another model's text
    return story.actors, story.places, " ".join(story.events)


def _as_written(name: str, text: str) -> str:
    """``the Moon`` where the text says "the Moon", else ``name`` as it is."""
    found = re.search(rf"\b(the|The) {re.escape(name)}\b", text)
    return f"the {name}" if found else name


def _map(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    place = world(_text(c, "namespace"), _text(c, "namespace_description"))
    actors, places, events = _elements(_text(c, "deconstruct"))
    taken: set[str] = set()
    lines = []
    for index, actor in enumerate(actors):
        why = (
            "the one who acts first keeps that part"
            if index == 0
            else "the same part, the same ties to the others"
        )
        if actor[:1].isupper():
            name, what = place.counterpart(actor, taken)
            lines.append(f"{actor} -> {name}, {what}: {why}.")
        else:
            lines.append(f"{sentence_case(actor)} -> the {place.role(actor, taken)}: {why}.")
    for name in places:
        lines.append(f"{name} -> {place.place(name, taken)}, {place.place_kind}: {_WHERE}")
    for word in place.words:
        if re.search(rf"\b{word}s?\b", events):  # lower case: "King" in a name is no king
            lines.append(f"The {word} -> the {place.words[word]}: it serves the same purpose there.")
    lines.append(
        f"The order of events -> unchanged: each happens in {place.title} as it did in the original."
    )
    return "\n".join(lines)


def _retold(narrative: str, mapping: str, place: World) -> tuple[str, str | None]:
    """The narrative with the mapping applied (names, places, roles, things, years), and the
    protagonist's counterpart."""
    text = " ".join(narrative_text(narrative).split())
    hero = None
    swaps: list[tuple[str, str]] = []
    for line in mapping.splitlines():
        match = _MAP_LINE.match(line.strip())
        if not match or match.group(1).startswith("The order"):
            continue
        original, new, why = match.group(1), match.group(2).split(", ", 1)[0], match.group(3) or ""
        if original.startswith("The "):  # a thing or an unnamed actor: "The bus -> the shuttle"
            swaps.append((original[4:], new.removeprefix("the ")))
            hero = hero or (new if original[4:] not in place.words else None)
            continue
        swaps.append((original, new))
        if why != _WHERE:
            hero = hero or new
            if " " in original:  # "Parks" alone is "Rosa Parks"
                swaps.append((original.split()[-1], new if new.startswith("the ") else new.split()[-1]))
    for original, new in sorted(swaps, key=lambda pair: -len(pair[0])):
        plural = "" if original[:1].isupper() else "s?"  # a name has no plural; "buses" is left alone
        pattern = rf"\b(?:(a|an|the|A|An|The)\s+)?{re.escape(original)}({plural})\b"
        text = re.sub(pattern, functools.partial(_with_article, new=new), text)
    text = re.sub(r"\b[Ii]n (1[0-9]{3}|20[0-9]{2})\b", lambda m: place.when.format(year=m.group(1)), text)
    return " ".join(_sentence(s) for s in re.split(r"(?<=[.!?])\s+", text) if s), hero


def _article(article: str, noun: str) -> str:
    if article.lower() == "the":
        noun = noun.removeprefix("the ")  # "the Town Council" -> "the Relay Council", not "the the"
        return f"{article} {noun}"
    found = a_or_an(noun)
    return sentence_case(found) if article[:1].isupper() else found


def _with_article(match: re.Match[str], *, new: str) -> str:
    plural = new + ("es" if new.endswith(("s", "x", "ch", "sh")) else "s") if match.group(2) else new
    return _article(match.group(1), plural) if match.group(1) else plural


def _reconstruct(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    place = world(_text(c, "namespace"))
    voice = persona(_text(c, "persona"))
    retold, hero = _retold(_text(c, "narrative"), _text(c, "map"), place)
    values = {"world": f"{place.title}, {place.setting}", "hero": hero or "its people", "original": ""}
    opening, closing = (_sentence(part.format(**values)) for part in (voice.opening, voice.closing))
    return f"{opening} {retold} {closing}"


def _stylize(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    return stylize(_text(c, "style"), _text(c, "reconstruct"))


def _reflect(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    story = read_story(_text(c, "narrative"))
    place = world(_text(c, "namespace"))
    voice = persona(_text(c, "persona"))
    original = story.protagonist or "its people"
    parts = [voice.lens.format(world=place.title, original=original, hero=original)]
    if len(story.events) > 1:
        parts.append(
            f"The allegory keeps the order of events, from the moment when {_clause(story, story.events[0])} "
            f"to the end, when {_clause(story, story.outcome)}."
        )
    elif story.events:
        parts.append(f"The allegory keeps the one event at its centre: {_clause(story, story.events[0])}.")
    actors = story.actors
    seen = (f"what passes between {actors[0]} and {actors[1]}" if len(actors) > 1
            else f"the choice {actors[0]} makes" if actors else "the events themselves")  # fmt: skip
    hidden = (f"the particular history of {_as_written(story.places[0], story.text)}" if story.places
              else f"what the year {story.years[0]} meant" if story.years else "the particular history of the original")  # fmt: skip
    parts.append(f"What the mapping makes visible is {seen}; what it hides is {hidden}.")
    parts.append(voice.lesson)
    return " ".join(_sentence(p) for p in parts)


# -- translation ----------------------------------------------------------------------------------------------


def _forward(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    language = _text(c, "to_language")

    def swap(match: re.Match[str]) -> str:
        found = match.group(1)
        if stable_hash(found.lower(), language) % 3 == 0:  # each language keeps a different few
            return found
        new = _SYNONYMS[found.lower()]
        return sentence_case(new) if found[:1].isupper() else new

    return f"[in {language.capitalize()}] " + _SYNONYM.sub(swap, _text(c, "text"))


def _backward(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    return _TAG.sub("", _text(c, "text"))


def _similarity(a: str, b: str) -> float:
    left, right = {w.lower() for w in words(a)}, {w.lower() for w in words(b)}
    if not left and not right:
        return 1.0
    return round(len(left & right) / len(left | right), 4)


def _drift(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    similarity = _similarity(_text(c, "original"), _text(c, "back_translation"))
    verdict = ("the meaning survives intact" if similarity == 1 else "almost all of the meaning survives" if similarity >= 0.9 else "most of the meaning survives"
               if similarity >= 0.7 else "much of the meaning shifts" if similarity >= 0.4 else "little of the meaning survives")  # fmt: skip
    return json.dumps(
        {
            "similarity": similarity,
            "explanation": f"The back-translation keeps {similarity:.0%} of the original's distinct words, "
            f"so {verdict}.",
        }
    )


def _element_analysis(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    original, back = _text(c, "original"), _text(c, "back_translation")
    a, b = {w.lower() for w in words(original)}, {w.lower() for w in words(back)}
    story = read_story(original)
    kept = [name for name in story.actors + story.places if name in back]
    kept += [p for p in key_phrases(original, 8) if p in back and p not in kept and not p.endswith("ed")]
    lost, gained = sorted(a - b), sorted(b - a)
    change = len(b) - len(a)
    complexity = ("the same number of distinct words" if change == 0 else
                  f"{_count(abs(change))} {'more' if change > 0 else 'fewer'} distinct word{'s' if abs(change) != 1 else ''}")  # fmt: skip
    return json.dumps({
        "preserved_elements": kept[:6],
        "lost_elements": lost[:6],
        "gained_elements": gained[:6],
        "linguistic_analysis": {
            "tone_change": "unchanged" if a == b else "about the same, slightly more neutral",
            "style_change": "unchanged" if a == b else "a few words replaced by near-synonyms",
            "complexity_change": complexity,
            "structural_changes": [] if a == b else [
                f"word choice changed in {_count(len(lost))} place{'s' if len(lost) != 1 else ''}; "
                "sentence structure unchanged"
            ],
        },
    })  # fmt: skip


# -- maieutic -------------------------------------------------------------------------------------------------

_QUESTIONS = (
    "What exactly happened when {event}, and who else was there?",
    "What did {actor} want at the moment when {event}, and what stood in the way?",
    "What had been building up before {event}, and why did it come to a head then?",
    "What would someone have to believe to think it right that {event}, and what would make it seem wrong?",
    "Which older story, told in many times and places, does the story of {actor} retell, and what does it "
    "change?",
    "What has this story not yet said about {actor}, and why might that silence matter?",
    "If {actor} could tell this story, what would come first?",
    "What would have had to change for the story to end differently?",
    "Who is missing from this story, and what would they say about it?",
    "What question would {actor} ask of the narrator?",
)


def _question(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    depth = int(c.get("depth", 0))
    story = read_story(_text(c, "narrative"))
    events = story.events or [story.text]
    actors = story.actors or ["the people in it"]
    event = _clause(story, events[depth % len(events)])
    others = [a for a in actors if a not in event] or actors  # not "what did King want when ... King"
    actor = others[depth % len(others)]
    question = _QUESTIONS[depth % len(_QUESTIONS)].format(event=event, actor=actor)
    lead = _GOAL_LEADS.get(_text(c, "goal"))
    return f"{lead}, {question[0].lower()}{question[1:]}" if lead else question


def _quoted(answer: str) -> str:
    answer = answer.strip()
    return f"\u201c{_sentence(answer)}\u201d"


def _insights(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    dialogue = [d for d in c.get("dialogue") or [] if str(d.get("answer", "")).strip()]
    found = [
        f"On {_ASPECTS[min(int(d.get('depth', 0)), len(_ASPECTS) - 1)]}, the narrator answers: "
        f"{_quoted(str(d['answer']))}"
        for d in dialogue
    ]
    return json.dumps({"insights": found or ["The narrator left every question open."]})


def _synthesis(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    insights = [str(i) for i in c.get("insights") or []]
    story = read_story(_text(c, "narrative"))
    hero = story.protagonist or "the narrative"
    if not insights or insights == ["The narrator left every question open."]:
        return f"The narrator has not answered yet, so the story of {hero} still stands as it was told."
    given = _count(len(insights))
    return (
        f"Taken together, the narrator's answers turn the story of {hero} from a list of events into an "
        f"account of why they mattered. {sentence_case(given)} answer{'s were' if len(insights) != 1 else ' was'} "
        f"given, and the first sets the direction. {insights[0]}"
    )


def _suggest(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    choices = c.get("choices") or {}
    synthesis = _text(c, "synthesis")
    picked = {kind: choose(list(names), synthesis, kind) for kind, names in choices.items() if names}
    names = proper_names(synthesis)
    about = f"the story of {names[0]}" if names else "this story"
    parts = [f"the {picked[k]} {k}" for k in ("persona", "namespace", "style") if k in picked]
    rationale = (
        f"{sentence_case(_joined(parts))} suit {about} as the dialogue has opened it up." if parts else ""
    )
    return json.dumps({**picked, "rationale": rationale})


# -- configuration ----------------------------------------------------------------------------------------------

_GENERATED_FIELDS: dict[str, Callable[[str], dict[str, str]]] = {
    "persona": lambda brief: {"voice": f"speaks as {brief} would", "values": f"cares about what matters to {brief}"},
    "namespace": lambda brief: {"setting": f"a world shaped by {brief}", "institutions": f"the powers that rule {brief}"},
    "style": lambda brief: {"diction": f"words chosen as in {brief}", "rhythm": f"sentences paced like {brief}"},
}  # fmt: skip


def _generate(_: Sequence[Message], c: Mapping[str, Any]) -> str:
    brief, kind = _text(c, "brief"), _text(c, "attribute")
    slug = "-".join(w.lower() for w in words(" ".join(key_phrases(brief, 2)) or brief)[:3])
    if len(slug) < 2:  # a brief of digits or one letter still names a valid entry
        slug = f"custom-{kind or 'entry'}"
    phrase = truncate_words(brief.strip().rstrip("."), 12)
    make = _GENERATED_FIELDS.get(kind)
    fields = make(phrase) if make is not None else {"note": f"made from the brief {phrase}"}
    description = f"A {kind or 'catalog entry'} from the brief: {truncate_words(brief, 30)}"
    return json.dumps({"name": slug, "description": description, "fields": fields})


TASKS: dict[str, Callable[[Sequence[Message], Mapping[str, Any]], str]] = {
    "projection.deconstruct": _deconstruct,
    "projection.map": _map,
    "projection.reconstruct": _reconstruct,
    "projection.stylize": _stylize,
    "projection.reflect": _reflect,
    "translation.forward": _forward,
    "translation.backward": _backward,
    "translation.drift": _drift,
    "translation.elements": _element_analysis,
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
