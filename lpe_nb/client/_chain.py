"""What the clients take for dependency chains: parents as ids or handles, pipeline steps (docs/chains.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from lpe_nb.errors import InvalidInput

from ._job import BaseJob

__all__ = ["Parents", "PipelineStep", "parent_ids", "pipeline_step"]

Parents: TypeAlias = "Iterable[str | BaseJob] | str | BaseJob | None"
"""``depends_on``: job ids or job handles (one, or several)."""

PipelineStep: TypeAlias = "str | tuple[str, Mapping[str, Any]] | BaseJob"
"""A pipeline's step: a job type, ``(job type, input)``, or (first only) a job already submitted."""


def parent_ids(depends_on: Parents) -> list[str] | None:
    """The ids of ``depends_on`` as the backends send them (None when not given)."""
    if depends_on is None:
        return None
    items = [depends_on] if isinstance(depends_on, (str, BaseJob)) else list(depends_on)
    return [item.id if isinstance(item, BaseJob) else item for item in items]


def pipeline_step(step: object, index: int) -> tuple[str, dict[str, Any]]:
    """``(job type, input)`` of a step that is not a job handle; :class:`InvalidInput` naming the step."""
    if isinstance(step, str):
        return step, {}
    if (
        isinstance(step, tuple)
        and len(step) == 2
        and isinstance(step[0], str)
        and isinstance(step[1], Mapping)
    ):
        return step[0], dict(step[1])
    raise InvalidInput.field(
        f"steps.{index}",
        "must be a job type, a (job type, input) pair, or (first only) a job handle, "
        f"not {type(step).__name__}",
    )
