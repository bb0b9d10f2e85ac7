""":class:`BaseClient`: what the sync and async clients share, none of it I/O.

Above all the per-type methods: ``client.projection(...)``, ``client.word_count(...)``, one for every job
type the backend offers (its :class:`~lpe_nb.operations.JobTypeInfo` list), generated on first use with
the type's fields as parameters. Nothing here lists job types by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lpe_nb.operations import JOB_TYPES, JobTypeInfo
from lpe_nb.operations.spec import generated_method

from ._backend import Backend

__all__ = ["BaseClient"]

_SUBMIT_OPTIONS = (
    "max_attempts",
    "priority",
    "run_at",
    "delay_s",
    "cache",
    "depends_on",
    "inputs_from",
)  # keyword arguments of submit() beside the input


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

    def _generated(self, name: str, submit: Callable[..., Any]) -> Callable[..., Any]:
        # The backend's types first, then any declared in this process since they were read.
        infos = [*self._known_infos(), *JOB_TYPES.infos()] if not name.startswith("_") else []
        return generated_method(infos, name, submit, owner=type(self).__name__, options=_SUBMIT_OPTIONS)

    def __dir__(self) -> Sequence[str]:
        return sorted({*super().__dir__(), *(info.method for info in self._known_infos())})
