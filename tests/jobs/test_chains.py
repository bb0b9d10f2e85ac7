"""The rules of dependency chains (lpe_nb.jobs.chains): what a submit may name, and how a path reads a
parent's result. The engine, the store and both clients are tested through them elsewhere."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from lpe_nb.errors import InvalidInput
from lpe_nb.jobs.chains import MAX_PARENTS, check_depends_on, check_inputs_from, value_at, waiting_progress


def refused(call: object, *args: object, **kwargs: object) -> Mapping[str, str]:
    with pytest.raises(InvalidInput) as error:
        call(*args, **kwargs)  # type: ignore[operator]
    return error.value.fields


def test_a_job_that_waits_for_itself_is_refused_as_a_cycle() -> None:
    assert "cycle" in refused(check_depends_on, ["a", "me"], job_id="me")["depends_on"]


@pytest.mark.parametrize(
    ("depends_on", "field", "words"),
    [
        (["a", "b", "a"], "depends_on", "twice"),
        ("a", "depends_on", "list"),
        ([f"j{i}" for i in range(MAX_PARENTS + 1)], "depends_on", f"at most {MAX_PARENTS}"),
        (["a", ""], "depends_on.1", "job id"),
        (["a", 7], "depends_on.1", "job id"),
    ],
    ids=["duplicate", "not-a-list", "too-many", "empty-id", "not-a-string"],
)
def test_bad_parents_are_refused_naming_the_field(depends_on: object, field: str, words: str) -> None:
    assert words in refused(check_depends_on, depends_on)[field]


def test_parents_keep_their_order() -> None:
    assert check_depends_on(["b", "a"]) == ["b", "a"] and check_depends_on(None) == []


def test_inputs_from_splits_each_reference_into_a_parent_and_a_path() -> None:
    parsed = check_inputs_from(
        {"text": "job-1.projection.final_projection", "all": "job-2"}, fields=None, given={}
    )
    assert parsed == {"text": ("job-1", "projection.final_projection"), "all": ("job-2", "")}


@pytest.mark.parametrize(
    ("inputs_from", "given", "field", "words"),
    [
        ({"nope": "j.x"}, {}, "inputs_from.nope", "not an input field"),
        ({"text": "j.x"}, {"text": "given"}, "inputs_from.text", "also given"),
        ({"text": ".x"}, {}, "inputs_from.text", "<job id>"),
        ({"text": "j.a..b"}, {}, "inputs_from.text", "<job id>"),
        (["text"], {}, "inputs_from", "must map"),
    ],
    ids=["unknown-field", "given-twice", "no-parent", "empty-segment", "not-a-mapping"],
)
def test_bad_inputs_from_is_refused_naming_the_field(
    inputs_from: object, given: dict[str, str], field: str, words: str
) -> None:
    assert words in refused(check_inputs_from, inputs_from, fields=["text", "language"], given=given)[field]


def test_a_path_reads_keys_and_list_indexes() -> None:
    result = {"trips": [{"text": "a"}, {"text": "b"}], "n": 2}
    assert value_at(result, "trips.1.text") == "b"
    assert value_at(result, "") is result


@pytest.mark.parametrize(
    ("path", "words"),
    [("missing", "its keys are n, trips"), ("trips.5", "a list of 2"), ("n.x", "it is a int")],
)
def test_a_path_that_leads_nowhere_says_what_is_there(path: str, words: str) -> None:
    with pytest.raises(KeyError) as error:
        value_at({"trips": [1, 2], "n": 2}, path)
    assert words in error.value.args[0]


def test_a_waiting_job_names_the_first_parent_and_counts_the_others() -> None:
    one = waiting_progress([("p1", "Projection: Mara")], timestamp="t", seq=3)
    assert one.current_step == "waiting for Projection: Mara" and one.seq == 3
    two = waiting_progress([("p1", "A"), ("p2", "B")], timestamp="t", seq=3)
    assert two.current_step == "waiting for A and 1 more"
    assert two.details == {"waiting_for": [{"id": "p1", "title": "A"}, {"id": "p2", "title": "B"}]}
