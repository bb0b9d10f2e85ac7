"""The pure value types."""

from __future__ import annotations

import dataclasses

import pytest

from lpe_nb.llm import Completion, Usage


def test_usages_add_up() -> None:
    total = Usage(10, 5, 15) + Usage(1, 2, 3)

    assert total == Usage(prompt_tokens=11, completion_tokens=7, total_tokens=18)
    assert sum([Usage(1, 1, 2), Usage(2, 2, 4)], Usage()) == Usage(3, 3, 6)


def test_usage_round_trips_through_a_dict() -> None:
    usage = Usage(7, 3, 10)

    assert usage.as_dict() == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    assert Usage.from_dict(usage.as_dict()) == usage
    assert Usage.from_dict({"prompt_tokens": 2, "completion_tokens": 1}) == Usage(2, 1, 3)


def test_completion_is_immutable_and_not_degraded_by_default() -> None:
    completion = Completion("hi", Usage(), "mock", "lpe-mock-1")

    assert not completion.degraded
    assert completion.degraded_reason is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        completion.text = "changed"  # type: ignore[misc]
