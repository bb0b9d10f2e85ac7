"""Small, pure text helpers for building deterministic replies from input text.

The mock LLM uses them, and the operations' mock responders can too. They are heuristics for English
prose, not NLP: good enough to make a reply visibly about its input, and fully deterministic (no
``hash()``, whose value changes per process, no randomness, no clock).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import TypeVar

__all__ = [
    "choose",
    "key_phrases",
    "proper_names",
    "sentences",
    "stable_hash",
    "token_count",
    "truncate_words",
    "words",
]

_T = TypeVar("_T")

_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+|\n\s*\n|\n(?=\s*[-*•]|\s*\d+[.)])")
# A word list reads better as a paragraph than as 150 string literals, hence the noqa.
_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each even ever every few for from
    further had has have having he her here hers herself him himself his how however i if in into is it
    its itself just let like made make many may me might more most much must my myself no nor not now of
    off on once one only or other our ours ourselves out over own same shall she should so some such than
    that the their theirs them themselves then there these they this those through thus to too under
    until up upon us very was we were what when where which while who whom why will with within without
    would yet you your yours yourself yourselves
    describe explain give list please say tell write""".split()  # noqa: SIM905
)


def stable_hash(*parts: object) -> int:
    """A 64-bit hash of ``parts`` that is the same in every process and on every machine.

    Strings are hashed as they are; anything else as sorted-key JSON (``str`` for what JSON can't hold),
    so equal mappings hash equally whatever their insertion order.
    """
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        text = part if isinstance(part, str) else json.dumps(part, sort_keys=True, default=str)
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return int.from_bytes(digest.digest(), "big")


def choose(options: Sequence[_T], *seed: object) -> _T:
    """Pick one of ``options`` by :func:`stable_hash` of ``seed``; raises ValueError when empty."""
    if not options:
        raise ValueError("choose() needs at least one option")
    return options[stable_hash(*seed) % len(options)]


def token_count(text: str) -> int:
    """Whitespace-separated tokens: a rough, deterministic stand-in for a tokenizer's count."""
    return len(text.split())


def words(text: str) -> list[str]:
    """The words of ``text`` in order, without punctuation or numbers."""
    return _WORD.findall(text)


def sentences(text: str) -> list[str]:
    """Split prose into sentences (and list items), stripped, empty ones dropped."""
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s]


def truncate_words(text: str, max_words: int) -> str:
    """The first ``max_words`` words of ``text``, with an ellipsis when something was cut."""
    tokens = text.split()
    if len(tokens) <= max_words:
        return " ".join(tokens)
    return " ".join(tokens[:max_words]).rstrip(",;:") + "…"


def proper_names(text: str) -> list[str]:
    """Runs of capitalised words that are not function words ("Rosa Parks", "Montgomery").

    A lone capitalised word that opens a sentence counts only if it is capitalised mid-sentence somewhere
    too, so "Tell me about Paris" gives ["Paris"]. Order of first appearance, without duplicates.
    """
    runs: list[tuple[list[str], bool]] = []
    for sentence in sentences(text):
        run: list[str] = []
        for position, word in enumerate([*words(sentence), ""]):
            if word[:1].isupper() and word.lower() not in _STOPWORDS:
                run.append(word)
                continue
            if run:
                runs.append((run, position == len(run)))
            run = []
    mid_sentence = {word for run, initial in runs for word in (run[1:] if initial else run)}
    names: list[str] = []
    for run, initial in runs:
        name = " ".join(run)
        if (len(run) > 1 or not initial or name in mid_sentence) and name not in names:
            names.append(name)
    return names


def key_phrases(text: str, k: int = 5) -> list[str]:
    """The ``k`` most salient phrases of ``text``, best first (a RAKE-style score), as first written.

    Phrases are runs of up to four content words between stopwords and punctuation; each scores the sum
    of its words' degree/frequency, case-insensitively. Ties keep the order of first appearance, so the
    result is stable.
    """
    phrases: list[list[str]] = []
    for chunk in re.split(r"[^\w\s'\u2019-]+|\d+", text):
        run: list[str] = []
        for word in [*words(chunk), ""]:
            is_content = bool(word) and word.lower() not in _STOPWORDS
            if is_content and len(run) < 4:
                run.append(word)
                continue
            if run:
                phrases.append(run)
            run = [word] if is_content else []
    frequency: dict[str, int] = {}
    degree: dict[str, int] = {}
    for phrase in phrases:
        for word in phrase:
            lowered = word.lower()
            frequency[lowered] = frequency.get(lowered, 0) + 1
            degree[lowered] = degree.get(lowered, 0) + len(phrase)
    scored: dict[str, tuple[str, float]] = {}
    for phrase in phrases:
        key = " ".join(phrase).lower()
        if key not in scored:
            score = sum(degree[w.lower()] / frequency[w.lower()] for w in phrase)
            scored[key] = (" ".join(phrase), score)
    ranked = sorted(scored.values(), key=lambda item: -item[1])  # stable: ties keep first appearance
    return [phrase for phrase, _ in ranked[:k]]
