"""A reader's grammar check for generated text (the offline mock's replies): not a parser, a tripwire."""

from __future__ import annotations

import re

__all__ = ["grammar_problems"]

_SENTENCE_END = re.compile(r"(?<=[.!?\u201d])\s+(?=[A-Z\u201c\d])")


def grammar_problems(text: str) -> list[str]:
    """What a reader would trip on: a doubled word, "as scientist would tell it", a sentence that does not
    start with a capital or end with punctuation, "a" before a vowel, stray spaces or template braces."""
    problems = []
    for doubled in re.finditer(r"\b(\w+)\s+\1\b", text, re.IGNORECASE):
        problems.append(f"doubled word: {doubled.group(0)!r}")
    for bare in re.finditer(r"\b(?:as|by) (?!the |a |an )[a-z-]+ would\b", text):
        problems.append(f"bare noun: {bare.group(0)!r}")
    for article in re.finditer(r"\ba [aeio]\w*", text):
        problems.append(f"article: {article.group(0)!r}")
    for stray in ("  ", " ,", " .", ",,", ",.", "{", "}", "…:"):
        if stray in text:
            problems.append(f"stray {stray!r}")
    for line in text.splitlines():
        line = re.sub(r"^\d+\.\s+", "", line.strip())
        for sentence in _SENTENCE_END.split(line) if line else []:
            if not (sentence[:1].isupper() or sentence[:1] in "\u201c[" or sentence[:1].isdigit()):
                problems.append(f"starts in lower case: {sentence[:40]!r}")
            if sentence[-1:] not in ".!?:\u201d\u2026":
                problems.append(f"no end punctuation: {sentence[-40:]!r}")
    return problems
