"""What the offline mock reads in a narrative: its actors, places, events and outcome, and clauses to quote.

Heuristics for English prose, deterministic and dependency-free: named people are runs of capitalised
words that are not places; places are names after a preposition of place, names used as a modifier
("a Montgomery bus") or names ending in a place word; unnamed actors are noun phrases headed by a word
for a person ("a child", "the villagers"). Events are the narrative's sentences and their ``, and``
clauses, kept as written, so every reply built from them stays grammatical.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lpe_nb.llm.text_features import proper_names, sentences

__all__ = ["Story", "a_or_an", "as_clause", "narrative_text", "read_story", "sentence_case"]

_PLACE_PREPOSITIONS = frozenset(
    "in at on to from into across near through toward towards outside inside around within".split()  # noqa: SIM905
)
_PLACE_WORDS = frozenset(
    """city town village county state country kingdom empire republic union river sea ocean lake bay
    island islands mountain mountains valley street road avenue square park bridge harbour harbor port
    moon mars earth station""".split()  # noqa: SIM905 - a word list reads better as a paragraph
)
_NOT_ACTORS = frozenset(
    """monday tuesday wednesday thursday friday saturday sunday january february march april may june
    july august september october november december god""".split()  # noqa: SIM905
)
_PERSON_NOUNS = (
    "child|children|boy|girl|man|men|woman|women|mother|father|daughter|son|sister|brother|family|"
    "farmer|farmers|worker|workers|teacher|student|students|king|queen|prince|princess|soldier|soldiers|"
    "doctor|nurse|engineer|scientist|officer|mayor|neighbours|neighbors|villagers|people|crowd|stranger|"
    "friend|friends|driver|passenger|passengers|judge|priest|merchant|fisherman|fishermen|traveller|"
    "traveler|leader|leaders|council|government|company|town|city|village|community|team|crew|army"
)
_COMMON_ACTOR = re.compile(
    rf"\b(?:an?|the|her|his|their|its|our|my)\s+((?:[a-z]+\s+)?(?:{_PERSON_NOUNS}))\b", re.IGNORECASE
)
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
_HEADING = re.compile(r"^\s*(?:#+\s.*|[^.!?\n]{1,40}:?)\s*$")  # "# Background", "Outcome:", "Part One"
_POSSESSIVE = re.compile(r"['\u2019]s?$")
_CLAUSE_SPLIT = re.compile(r",\s+(?:and|but|so|while)\s+(?=[a-z])")
_END = re.compile(r"[\s.!?;:,\u2026]+$")


@dataclass(frozen=True)
class Story:
    """A narrative as the mock understands it. ``events`` are whole clauses of the text, in order."""

    text: str
    people: list[str]
    unnamed: list[str]  # "the child", "the villagers": actors with no name
    places: list[str]
    events: list[str]
    years: list[str]

    @property
    def actors(self) -> list[str]:
        return self.people + [a for a in self.unnamed if a.split()[-1] not in _lower_words(self.people)]

    @property
    def protagonist(self) -> str | None:
        """The first actor named (or, failing a name, described), as the text first has it."""
        actors = self.actors
        return actors[0] if actors else None

    @property
    def outcome(self) -> str:
        """The last event: how the narrative ends."""
        return self.events[-1] if self.events else ""


def read_story(text: str) -> Story:
    """The actors, places, events and years of ``text``."""
    text = narrative_text(text)
    names, owned = _names(text)
    places = [n for n in names if n not in owned and _is_place(n, text)]
    people = [
        n
        for n in names
        if n not in places and n not in owned and not _is_part_of(n, places) and not _is_modifier(n, text)
    ]
    unnamed: list[str] = []
    for match in _COMMON_ACTOR.finditer(text):
        phrase = "the " + match.group(1).lower()
        if phrase not in unnamed and not any(phrase.endswith(" " + w) for w in ("town", "city", "village")):
            unnamed.append(phrase)
    events: list[str] = []
    for sentence in sentences(text):
        if sentence.rstrip("\"'\u201d)").endswith("?") or sentence[:1] in "\"'\u201c(":
            continue  # a question or a quotation is no event to retell or ask about
        for clause in _CLAUSE_SPLIT.split(sentence):
            clause = _END.sub("", clause.strip())
            if len(clause.split()) >= 3:
                events.append(clause)
    return Story(text, people, unnamed[:4], places, events, _YEAR.findall(text))


def narrative_text(text: str) -> str:
    """The narrative without section headings: a heading is no actor, and no event either."""
    lines = text.splitlines()
    if len(lines) < 2:
        return text
    kept = [line for line in lines if not _HEADING.match(line) or not line.strip()]
    return "\n".join(kept) if any(line.strip() for line in kept) else text


def _names(text: str) -> tuple[list[str], set[str]]:
    """Proper names, and those that name something someone owns: "Charles Babbage's Analytical Engine"
    gives "Charles Babbage" (someone) and "Analytical Engine" (something of theirs)."""
    found: list[str] = []
    owned: set[str] = set()
    for name in proper_names(text):
        words = name.split()
        for index, word in enumerate(words):
            if _POSSESSIVE.search(word):
                found.append(" ".join([*words[:index], _POSSESSIVE.sub("", word)]))
                owned.add(" ".join(words[index + 1 :]))
                break
        else:
            found.append(name)
    return [n for n in dict.fromkeys(found) if n and n.lower() not in _NOT_ACTORS], owned


def _is_modifier(name: str, text: str) -> bool:
    """ "the Apollo program": a one-word name before a common noun names a thing, not someone."""
    pattern = rf"\b(?:the|The)\s+{re.escape(name)}\s+[a-z]"
    return len(name.split()) == 1 and re.search(pattern, text) is not None


def _is_place(name: str, text: str) -> bool:
    if name.split()[-1].lower() in _PLACE_WORDS:
        return True
    for match in re.finditer(rf"(\w+)\s+(?:the\s+)?{re.escape(name)}\b(?:\s+(\w+))?", text):
        before, after = match.group(1), match.group(2) or ""
        if before.lower() in _PLACE_PREPOSITIONS:
            return True
        # "a Montgomery bus": a one-word name used as a modifier names where something is
        if before.lower() in ("a", "an") and len(name.split()) == 1 and after.islower():
            return True
    return False


def _is_part_of(name: str, others: list[str]) -> bool:
    return any(name != other and name in other.split() for other in others)


def _lower_words(names: list[str]) -> set[str]:
    return {word.lower() for name in names for word in name.split()}


def as_clause(sentence: str, names: list[str] | tuple[str, ...] = ()) -> str:
    """``sentence`` to quote inside another one: its end punctuation dropped, and its first letter lower
    case unless it starts a name (or is "I")."""
    clause = _END.sub("", sentence.strip())
    first = clause.split(" ", 1)[0]
    if not clause or first == "I" or any(clause.startswith(name) for name in names):
        return clause
    if first[1:2].isupper():  # an acronym: NASA, UN
        return clause
    return clause[0].lower() + clause[1:]


def sentence_case(text: str) -> str:
    """``text`` with its first letter upper case (the rest untouched)."""
    return text[:1].upper() + text[1:] if text else text


def a_or_an(noun_phrase: str) -> str:
    """``an engineer``, ``a courier``: the indefinite article that fits ``noun_phrase``."""
    return ("an " if noun_phrase[:1].lower() in "aeio" else "a ") + noun_phrase
