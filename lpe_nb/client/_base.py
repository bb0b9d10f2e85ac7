""":class:`BaseClient`: what the sync and async clients share, none of it I/O.

Above all the per-type methods: ``client.projection(...)``, ``client.word_count(...)``, one for every job
type the backend offers (its :class:`~lpe_nb.operations.JobTypeInfo` list), generated on first use with
the type's fields as parameters. Nothing here lists job types by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lpe_nb.errors import UnknownJobType
from lpe_nb.operations import JOB_TYPES, JobTypeInfo

from ._backend import Backend

__all__ = ["BaseClient", "submit_data"]

_SUBMIT_OPTIONS = (
    "max_attempts",
    "priority",
    "run_at",
    "delay_s",
)  # keyword arguments of submit() beside the input


def submit_data(input_data: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """A job's input from ``submit(job_type, input_data, **fields)``; ``None`` values mean "default"."""
    data = dict(input_data or {})
    data.update(fields)
    return {name: value for name, value in data.items() if value is not None}


class BaseClient:
    """The job types and the generated per-type methods; subclasses add the verbs."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._infos: list[JobTypeInfo] | None = None  # the backend's, once read

    @property
    def location(self) -> str:
        """Where jobs run: the server URL or the database path."""
        return self.backend.location

    def _known_infos(self) -> list[JobTypeInfo]:
        """The backend's job types if read, else the ones declared in this process."""
        return self._infos if self._infos is not None else JOB_TYPES.infos()

    def _info(self, name: str) -> JobTypeInfo | None:
        """The type whose method is ``name``: the backend's, else one declared in this process since."""
        for infos in (self._known_infos(), JOB_TYPES.infos()):
            found = next((info for info in infos if info.method == name), None)
            if found is not None:
                return found
        return None

    def _type_named(self, job_type: str) -> JobTypeInfo:
        for info in self._known_infos():
            if info.name == job_type:
                return info
        raise UnknownJobType(job_type, [info.name for info in self._known_infos()])

    def _generated(self, name: str, submit: Callable[..., Any]) -> Callable[..., Any]:
        if name.startswith("_"):  # private and dunder names are never job types (and may not exist yet)
            raise AttributeError(name)
        info = self._info(name)
        if info is None:
            raise AttributeError(
                f"{type(self).__name__!r} has no attribute {name!r}; job type methods: "
                + ", ".join(info.method for info in self._known_infos())
            )

        def submit_job(*args: Any, **fields: Any) -> Any:
            # submit options ride along unless the type has an input field of that name
            names = {f.name for f in info.fields}
            options = {k: fields.pop(k) for k in _SUBMIT_OPTIONS if k in fields and k not in names}
            return submit(info.name, info.input_from(args, fields), **options)

        return info.bind_helper(submit_job)

    def __dir__(self) -> Sequence[str]:
        return sorted({*super().__dir__(), *(info.method for info in self._known_infos())})
