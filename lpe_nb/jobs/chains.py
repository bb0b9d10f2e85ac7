"""Dependency chains as pure rules: which parents a job may name, how an input field names a parent's
result, and what a waiting job shows. No I/O; the manager applies them (docs/chains.md).

A job submitted with ``depends_on=[ids]`` waits, ``pending``, until every parent has completed; a parent
that fails or is cancelled cancels it (and, in turn, the jobs waiting for it). ``inputs_from`` maps an
input field to ``"<parent id>.<path>"``: a dotted path into that parent's result (a key of an object, or
the index of a list), or no path for the whole result. A job type may declare, per parent type, the
fields it takes from such a parent (:attr:`lpe_nb.operations.JobSpec.inputs_from`); declared mappings
fill the fields the submitter left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lpe_nb.errors import InvalidInput
from lpe_nb.jobs.model import Progress

__all__ = [
    "MAX_PARENTS",
    "check_depends_on",
    "check_inputs_from",
    "value_at",
    "waiting_progress",
]

MAX_PARENTS = 32  # a fan-in wider than this is a batch, not a chain
_MAX_ID_CHARS = 64


def check_depends_on(depends_on: object, *, job_id: str | None = None) -> list[str]:
    """The parent ids as a list, in order; :class:`InvalidInput` naming ``depends_on`` for a value that is
    not a list of ids, a repeated id, more than :data:`MAX_PARENTS`, or the job itself (a cycle: a new
    job's id is fresh, so no longer cycle can be formed through submit)."""
    if depends_on is None:
        return []
    if isinstance(depends_on, str) or not isinstance(depends_on, Sequence):
        raise InvalidInput.field("depends_on", f"must be a list of job ids, not {type(depends_on).__name__}")
    ids: list[str] = []
    for position, parent in enumerate(depends_on):
        if not isinstance(parent, str) or not parent.strip() or len(parent) > _MAX_ID_CHARS:
            raise InvalidInput.field(f"depends_on.{position}", f"must be a job id, not {parent!r}")
        if parent in ids:
            raise InvalidInput.field("depends_on", f"names job {parent} twice")
        if parent == job_id:
            raise InvalidInput.field("depends_on", f"job {parent} cannot wait for itself (a cycle)")
        ids.append(parent)
    if len(ids) > MAX_PARENTS:
        raise InvalidInput.field("depends_on", f"names {len(ids)} jobs; at most {MAX_PARENTS}")
    return ids


def check_inputs_from(
    inputs_from: object, *, fields: Iterable[str] | None, given: Mapping[str, Any]
) -> dict[str, tuple[str, str]]:
    """``{field: (parent id, path)}`` from ``{field: "<parent id>.<path>"}``.

    ``fields`` are the job type's input fields (None: any name). :class:`InvalidInput` naming
    ``inputs_from.<field>`` for an unknown field, a field also given in the input (``given``), or a
    reference that names no parent.
    """
    if inputs_from is None:
        return {}
    if not isinstance(inputs_from, Mapping):
        raise InvalidInput.field(
            "inputs_from",
            f"must map input fields to '<job id>.<result path>', not {type(inputs_from).__name__}",
        )
    known = None if fields is None else set(fields)
    parsed: dict[str, tuple[str, str]] = {}
    for name, reference in inputs_from.items():
        where = f"inputs_from.{name}"
        if not isinstance(name, str) or (known is not None and name not in known):
            choices = ", ".join(sorted(known or ()))
            raise InvalidInput.field(where, f"is not an input field of this job type; choose from: {choices}")
        if name in given:
            raise InvalidInput.field(where, "is also given in the input; give it one way")
        if not isinstance(reference, str) or not reference.split(".", 1)[0].strip():
            raise InvalidInput.field(where, f"must be '<job id>.<result path>', not {reference!r}")
        parent, _, path = reference.partition(".")
        if len(parent) > _MAX_ID_CHARS or (path and not all(path.split("."))):
            raise InvalidInput.field(where, f"must be '<job id>.<result path>', not {reference!r}")
        parsed[name] = (parent, path)
    return parsed


def value_at(result: Any, path: str) -> Any:
    """The value at dotted ``path`` in a parent's ``result`` (the whole result for ``""``); ``KeyError``
    with a message naming what is there when the path leads nowhere."""
    value = result
    walked: list[str] = []
    for part in path.split(".") if path else ():
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            at = ".".join(walked) or "the result"
            if isinstance(value, Mapping):
                has = f"its keys are {', '.join(sorted(map(str, value)))}" if value else "it is empty"
            elif isinstance(value, list):
                has = f"it is a list of {len(value)}"
            else:
                has = f"it is a {type(value).__name__}"
            raise KeyError(f"{at} has no {part!r} ({has})")
        walked.append(part)
    return value


def waiting_progress(parents: Sequence[tuple[str, str]], *, timestamp: str, seq: int) -> Progress:
    """What a job waiting for ``parents`` (``(id, title)`` of those not completed yet) shows:
    ``waiting for <title>``, with their ids and titles in ``details["waiting_for"]``."""
    more = f" and {len(parents) - 1} more" if len(parents) > 1 else ""
    return Progress(
        current_step=f"waiting for {parents[0][1] if parents else 'its parents'}{more}",
        details={"waiting_for": [{"id": job_id, "title": title} for job_id, title in parents]},
        timestamp=timestamp,
        seq=seq,
    )
