"""The bounded JSON parser: depth counted without recursion, strings' brackets ignored, errors named."""

from __future__ import annotations

import json

import pytest

from lpe_nb._bounded_json import MAX_JSON_DEPTH, check_depth, loads_bounded
from lpe_nb.errors import InvalidInput


@pytest.mark.parametrize(
    "text",
    [
        '{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
        '["\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\\"]',
        json.dumps([[i] for i in range(500)]),  # many brackets, shallow
    ],
    ids=["brackets in a string", "escaped quotes", "wide"],
)
def test_shallow_text_parses_as_json_does(text: str) -> None:
    assert loads_bounded(text, field="x") == json.loads(text)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
def test_text_deeper_than_the_limit_names_the_field_and_the_limit(depth: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        loads_bounded("[" * depth + "]" * depth, field="(frame)")
    assert f"{MAX_JSON_DEPTH} levels" in refused.value.fields["(frame)"]


def test_bytes_are_utf8_and_constants_are_refused() -> None:
    assert loads_bounded(b'{"a": 1}', field="b") == {"a": 1}
    with pytest.raises(InvalidInput, match="UTF-8"):
        loads_bounded(b"\xff", field="b")
    with pytest.raises(InvalidInput, match="NaN"):
        loads_bounded("[NaN]", field="b")


def test_check_depth_counts_containers_of_a_value() -> None:
    check_depth({"a": [[1]]}, field="input", max_depth=3)
    with pytest.raises(InvalidInput):
        check_depth({"a": [[1]]}, field="input", max_depth=2)


def test_an_unterminated_string_of_escaped_quotes_takes_linear_time() -> None:
    text = '"' + '\\"' * 200_000 + "[" * 100  # quadratic string matching took minutes here
    with pytest.raises(InvalidInput, match="not valid JSON"):
        loads_bounded(text, field="b")
