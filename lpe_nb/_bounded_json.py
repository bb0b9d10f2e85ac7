"""JSON from untrusted input, bounded in depth: at most :data:`MAX_JSON_DEPTH` levels of arrays and objects.

``json.loads`` recurses once per level and raises ``RecursionError`` at about 1,000 levels (a 2 KB text),
which no caller expects: a REST body answered 500 and a WebSocket frame killed its connection (issue 15).
:func:`loads_bounded` counts the depth first, without recursion, and refuses deeper text with
:class:`~lpe_nb.errors.InvalidInput` naming the field and the limit; :func:`check_depth` does the same
for a value already in memory (job input given from Python, which is stored as JSON). Sizes are bounded
where the text arrives (a request's ``max_body_bytes``, a frame's ``max_message_size``).
"""

from __future__ import annotations

import json
import operator
import re
from itertools import accumulate
from typing import Any

from lpe_nb.errors import InvalidInput

__all__ = ["MAX_JSON_DEPTH", "check_depth", "json_depth_exceeds", "loads_bounded"]

MAX_JSON_DEPTH = 64

# A JSON string, escapes included (so an escaped quote does not end it), dropped before counting brackets.
# The closing quote is optional so that an unterminated string matches to the end at once instead of
# being retried from every later (escaped) quote, which took quadratic time.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # an opening bracket adds 2, any bracket costs 1
_CONTAINERS = (dict, list, tuple)


def json_depth_exceeds(text: str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether the arrays and objects of ``text`` nest more than ``max_depth`` deep (for text that is
    not JSON, the answer means nothing: the parser says what is wrong). Linear time without recursion,
    and no Python loop: the depth after each bracket is a running sum, taken by ``accumulate``."""
    if text.count("[") + text.count("{") <= max_depth:
        return False  # the common case: too few brackets to be too deep
    return _max_depth(_NOT_BRACKET.sub("", _STRING.sub("", text))) > max_depth


def _max_depth(brackets: str) -> int:
    steps = brackets.encode("ascii").translate(_STEP)
    # after i brackets the depth is (the sum of their steps) - i
    return max(map(operator.sub, accumulate(steps), range(1, len(steps) + 1)), default=0)


def loads_bounded(text: str | bytes, *, field: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` of untrusted ``text`` (UTF-8 if bytes), refusing with :class:`InvalidInput` on
    ``field``: text that is not UTF-8, not JSON, uses NaN or Infinity, or nests deeper than ``max_depth``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput.field(field, "is not UTF-8 text") from None
    suspect = json_depth_exceeds(text, max_depth)
    try:
        value = _DECODER.decode(text)
    except RecursionError:  # some thousand levels: the C parser gives up before we can count
        raise InvalidInput.field(field, _too_deep(max_depth)) from None
    except ValueError as exc:
        raise InvalidInput.field(field, f"is not valid JSON: {exc}") from None
    if suspect:  # valid JSON whose brackets did not all pair up within max_depth passes: too deep
        raise InvalidInput.field(field, _too_deep(max_depth))
    return value


def check_depth(value: Any, *, field: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse a value whose dicts, lists and tuples nest deeper than ``max_depth`` (a cycle included)
    with :class:`InvalidInput` on ``field``; iterative, so any depth is safe to check."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, _CONTAINERS) else []
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise InvalidInput.field(field, _too_deep(max_depth))
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, _CONTAINERS))


def _too_deep(max_depth: int) -> str:
    return f"is nested deeper than {max_depth} levels of arrays and objects (the limit)"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


# One decoder for every call: json.loads with an option builds a decoder and its scanner each time, more
# than half of what a WebSocket frame's decoding cost (a crowd sends 15,000 watch frames, issue 15).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
