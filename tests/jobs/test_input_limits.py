"""Job input is bounded in depth at submit, whatever the front door: a deep or cyclic value is InvalidInput
naming the limit, and nothing is stored (it used to fail with RecursionError while being stored)."""

from __future__ import annotations

from typing import Any

import pytest

from lpe_nb._bounded_json import MAX_JSON_DEPTH
from lpe_nb.errors import InvalidInput
from lpe_nb.jobs import JobManager


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


async def test_deeply_nested_input_is_refused_before_anything_is_stored(manager: JobManager) -> None:
    with pytest.raises(InvalidInput) as refused:
        await manager.submit("noop", {"deep": nested(5_000)})
    assert list(refused.value.fields) == ["input"]
    assert f"{MAX_JSON_DEPTH} levels" in refused.value.fields["input"]
    assert (await manager.list_jobs()).jobs == []


async def test_a_cyclic_input_is_refused_too(manager: JobManager) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(InvalidInput):
        await manager.submit("noop", {"loop": loop})


async def test_input_as_deep_as_the_limit_is_accepted(manager: JobManager) -> None:
    job_id = await manager.submit("noop", {"deep": nested(MAX_JSON_DEPTH - 2)})  # the dict is level 1
    assert (await manager.get(job_id)).input_data["deep"] == nested(MAX_JSON_DEPTH - 2)
