"""The operation registry: which async callable runs a job of a given type, and how its input is checked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from lpe_nb._bounded_json import check_depth
from lpe_nb.errors import InvalidInput, UnknownJobType
from lpe_nb.jobs.retry import RetryPolicy

if TYPE_CHECKING:
    from lpe_nb.jobs.context import StepContext

__all__ = ["InputCheck", "InputPrepare", "Operation", "OperationFn", "OperationRegistry"]

OperationFn = Callable[["StepContext", Any], Awaitable[Any]]
InputCheck = Callable[[Any], Awaitable[None]]
InputPrepare = Callable[[Any], Awaitable[None]]
"""Awaited with a job's input (as submitted, or as stored when it starts) before it is validated or parsed:
what the validators consult is brought up to date first (the catalog, for the inputs that name its entries)."""


@dataclass(frozen=True, slots=True)
class Operation:
    """A job type: ``run(ctx, input)`` does the work and returns the JSON result.

    With an ``input_model``, input is validated at submit (a bad value is rejected before anything is
    stored) and ``run`` receives the model instance; without one, it receives the JSON value as given.
    ``check(parsed)``, when given, is awaited at submit too, for what only stored state can tell (that a
    job the input refers to exists, say); it raises ``InvalidInput``.
    """

    job_type: str
    run: OperationFn
    input_model: type[BaseModel] | None = None
    title: Callable[[Any], str] | None = None
    description: str = ""
    check: InputCheck | None = None
    max_attempts: int | None = None  # this type's attempts; None: the manager's setting
    timeout_s: float | None = None  # one attempt's limit; None: no limit
    retry: RetryPolicy | None = None  # this type's retry policy; None: the manager's setting
    # what it takes from a parent's result, by the parent's type: {type: {input field: result path}}
    inputs_from: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    prepare: InputPrepare | None = None

    def validate(self, input_data: Any) -> tuple[Any, Any]:
        """``(parsed, stored)``: what ``run`` will receive, and the input as stored (normalized JSON)."""
        check_depth(input_data, field="input")  # stored as JSON: no deeper than a REST body may be
        parsed = self.parse(input_data)
        if self.input_model is None:
            return parsed, input_data
        return parsed, parsed.model_dump(mode="json")

    def validate_partial(self, input_data: Any, *, later: Collection[str]) -> Any:
        """The input as stored for a job whose fields ``later`` come from its parents' results when it
        starts: every other field is checked now (:class:`InvalidInput`), those are not."""
        check_depth(input_data, field="input")
        if self.input_model is None:
            return input_data
        try:
            self.input_model.model_validate(input_data if input_data is not None else {})
        except ValidationError as exc:
            problems = {
                ".".join(str(part) for part in error["loc"]) or "(body)": InvalidInput.problem_of(error)
                for error in exc.errors(include_url=False)
                if not error["loc"] or error["loc"][0] not in later
            }
            if problems:
                raise InvalidInput(problems) from exc
        return input_data

    def parse(self, stored_input: Any) -> Any:
        """What ``run`` receives for a stored input."""
        if self.input_model is None:
            return stored_input
        try:
            return self.input_model.model_validate(stored_input if stored_input is not None else {})
        except ValidationError as exc:
            raise InvalidInput.from_pydantic(exc) from exc

    def title_for(self, parsed_input: Any) -> str:
        if self.title is not None:
            return self.title(parsed_input)
        return self.job_type.replace("_", " ").capitalize()


class OperationRegistry:
    """Job type name -> :class:`Operation`. Users add their own types with :meth:`register`."""

    def __init__(self) -> None:
        self._operations: dict[str, Operation] = {}

    def register(
        self,
        job_type: str,
        run: OperationFn,
        *,
        input_model: type[BaseModel] | None = None,
        title: Callable[[Any], str] | None = None,
        description: str = "",
        check: InputCheck | None = None,
        max_attempts: int | None = None,
        timeout_s: float | None = None,
        retry: RetryPolicy | None = None,
        inputs_from: Mapping[str, Mapping[str, str]] | None = None,
        prepare: InputPrepare | None = None,
        replace: bool = False,
    ) -> Operation:
        if not job_type or not job_type.replace("_", "").replace("-", "").isalnum():
            raise InvalidInput.field("job_type", f"{job_type!r} must be letters, digits, '-' or '_'")
        if job_type in self._operations and not replace:
            raise InvalidInput.field("job_type", f"{job_type!r} is already registered; pass replace=True")
        operation = Operation(
            job_type,
            run,
            input_model,
            title,
            description,
            check,
            max_attempts,
            timeout_s,
            retry,
            dict(inputs_from or {}),
            prepare,
        )
        self._operations[job_type] = operation
        return operation

    def operation(
        self, job_type: str, *, input_model: type[BaseModel] | None = None, description: str = ""
    ) -> Callable[[OperationFn], OperationFn]:
        """Decorator form of :meth:`register`."""

        def decorate(run: OperationFn) -> OperationFn:
            self.register(job_type, run, input_model=input_model, description=description)
            return run

        return decorate

    def get(self, job_type: str) -> Operation:
        try:
            return self._operations[job_type]
        except KeyError:
            raise UnknownJobType(job_type, self._operations) from None

    def __contains__(self, job_type: object) -> bool:
        return job_type in self._operations

    def __iter__(self) -> Iterator[Operation]:
        return iter(self._operations.values())

    @property
    def job_types(self) -> list[str]:
        return sorted(self._operations)
