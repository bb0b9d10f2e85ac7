"""What the manager does for dependency chains: plan a dependent at submit, complete its input from its
parents' results when it starts, and announce the dependents a parent's outcome moved (docs/chains.md).

The rules are in :mod:`lpe_nb.jobs.chains`; the release and the cancel that pass down a chain happen in
the store, in the transaction of the parent's outcome. Here only what needs the registry (input models,
declared mappings) or the event bus.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lpe_nb.errors import InvalidInput, JobNotFound, LpeError
from lpe_nb.jobs.chains import check_depends_on, check_inputs_from, value_at, waiting_progress
from lpe_nb.jobs.events import EventBus, JobEvent
from lpe_nb.jobs.model import JobRecord, JobStatus
from lpe_nb.jobs.registry import Operation
from lpe_nb.jobs.store import JobStore

__all__ = ["ChainPlan", "plan_chain", "publish_dependents", "resolve_input"]

log = logging.getLogger("lpe_nb.jobs.manager")


@dataclass(frozen=True, slots=True)
class ChainPlan:
    """A job's place in a chain, as planned at submit. ``parsed_input`` is None while fields still wait
    for a parent's result (the job's input is then checked in full when it starts)."""

    stored_input: Any
    parsed_input: Any = None
    depends_on: tuple[str, ...] = ()
    inputs_from: dict[str, str] = field(default_factory=dict)
    waiting_for: tuple[tuple[str, str], ...] = ()  # (id, title) of the parents not completed yet
    title: str | None = None  # for a job whose input is not complete yet

    @property
    def check_now(self) -> bool:
        """Whether the type's submit-time check (which reads stored jobs) can run now: not while the job
        waits, since what it checks may be what the parents are making."""
        return self.parsed_input is not None and not self.waiting_for

    def apply(self, job: JobRecord) -> JobRecord:
        """``job`` as built for any submit, with its place in the chain."""
        if not self.depends_on:
            return job
        progress = job.progress
        if self.waiting_for:
            progress = waiting_progress(self.waiting_for, timestamp=progress.timestamp, seq=progress.seq)
        return replace(
            job,
            depends_on=self.depends_on,
            inputs_from=self.inputs_from,
            waiting_on=len(self.waiting_for) or None,
            progress=progress,
        )


async def plan_chain(
    store: JobStore,
    operation: Operation,
    input_data: Any,
    *,
    depends_on: Sequence[str] | None,
    inputs_from: Mapping[str, str] | None,
    parents_of: str | None = None,
) -> ChainPlan:
    """Check a submit's ``depends_on`` and ``inputs_from`` against the stored parents and the type's input.

    A parent named only in ``inputs_from`` is added to ``depends_on``. Fields the submitter did not give
    are taken from a parent's result by the type's declared mapping for that parent's type
    (:attr:`Operation.inputs_from`), unless two parents would fill the same field. If every parent has
    completed, the input is completed now (a bad mapping is a 400 here); else every field that does not
    wait for a parent is checked now. :class:`InvalidInput` names ``depends_on`` or ``inputs_from.<field>``.
    With ``parents_of``, a parent must be that user's job: another's is refused as a job that does not
    exist (its results would flow into this job's input).
    """
    given = input_data if isinstance(input_data, Mapping) else {}
    model = operation.input_model
    fields = None if model is None else list(model.model_fields)
    explicit = check_inputs_from(inputs_from, fields=fields, given=given)
    parent_ids = check_depends_on(depends_on)
    parent_ids += [parent for parent, _ in explicit.values() if parent not in parent_ids]
    parent_ids = check_depends_on(parent_ids)  # the limit again, with the parents inputs_from added
    if not parent_ids:
        parsed, stored = operation.validate(input_data)
        return ChainPlan(stored, parsed)
    parents = [await _read_parent(store, parent_id, parents_of) for parent_id in parent_ids]
    mapping = {name: f"{parent}.{path}" if path else parent for name, (parent, path) in explicit.items()}
    mapping.update(_declared(operation, parents, taken={*given, *mapping}))
    waiting = tuple((p.id, p.title) for p in parents if p.status is not JobStatus.COMPLETED)
    plan = ChainPlan(None, None, tuple(parent_ids), mapping, waiting)
    if not waiting:
        completed = fill_input(input_data, mapping, {p.id: p for p in parents}, at_submit=True)
        parsed, stored = operation.validate(completed)
        return replace(plan, stored_input=stored, parsed_input=parsed)
    if not mapping:
        parsed, stored = operation.validate(input_data)
        return replace(plan, stored_input=stored, parsed_input=parsed)
    stored = operation.validate_partial(input_data, later=mapping)
    first = next(p for p in parents if any(ref.split(".", 1)[0] == p.id for ref in mapping.values()))
    title = f"{operation.job_type.replace('_', ' ').capitalize()} of {first.title}"
    return replace(plan, stored_input=stored, title=title)


async def _read_parent(store: JobStore, parent_id: str, parents_of: str | None) -> JobRecord:
    try:
        parent = await store.get_job(parent_id)
        if parents_of is not None and parent.username != parents_of:
            raise JobNotFound(parent_id)  # another user's job: as if it did not exist
    except JobNotFound:
        raise InvalidInput.field(
            "depends_on", f"no job {parent_id!r} (it never existed, or was deleted)"
        ) from None
    if parent.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise InvalidInput.field(
            "depends_on",
            f"job {parent_id} already {parent.status.value}: a job waiting for it could never start",
        )
    return parent


def _declared(operation: Operation, parents: Sequence[JobRecord], *, taken: set[str]) -> dict[str, str]:
    """The fields the type declares it takes from these parents' types, except those already ``taken``."""
    found: dict[str, str] = {}
    for parent in parents:
        for name, path in operation.inputs_from.get(parent.type, {}).items():
            if name in taken:
                continue
            if name in found:
                raise InvalidInput.field(
                    f"inputs_from.{name}",
                    f"two parents could fill it ({found[name].split('.', 1)[0]} and {parent.id}); "
                    f"say which with inputs_from={{'{name}': '<job id>.{path}'}}, or give it",
                )
            found[name] = f"{parent.id}.{path}" if path else parent.id
    return found


def fill_input(
    input_data: Any, mapping: Mapping[str, str], parents: Mapping[str, JobRecord], *, at_submit: bool
) -> Any:
    """``input_data`` with each mapped field taken from its parent's result. :class:`InvalidInput`
    naming ``inputs_from.<field>`` when a parent is gone, did not complete, or has nothing at the path."""
    if not mapping:
        return input_data
    if input_data is not None and not isinstance(input_data, Mapping):
        raise InvalidInput.field("inputs_from", "needs an input that is an object (its fields are filled)")
    filled = dict(input_data or {})
    for name, reference in mapping.items():
        parent_id, _, path = reference.partition(".")
        parent = parents.get(parent_id)
        if parent is None or parent.status is not JobStatus.COMPLETED:
            state = "was deleted" if parent is None else f"is {parent.status.value}"
            raise InvalidInput.field(f"inputs_from.{name}", f"job {parent_id} {state}: it has no result")
        try:
            filled[name] = value_at(parent.result_data, path)
        except KeyError as exc:
            where = "" if at_submit else " when this job started"
            raise InvalidInput.field(
                f"inputs_from.{name}", f"job {parent_id}'s result{where}: {exc.args[0]}"
            ) from None
    return filled


async def resolve_input(store: JobStore, operation: Operation, job: JobRecord) -> Any:
    """The complete input of a dependent that starts: its stored input, its mapped fields taken from its
    parents' results, checked against the type's input model (and its check, deferred from submit).
    :class:`InvalidInput` (the job fails with it) when that cannot be done."""
    parents: dict[str, JobRecord] = {}
    for reference in job.inputs_from.values():
        parent_id = reference.split(".", 1)[0]
        if parent_id not in parents:
            with contextlib.suppress(JobNotFound):  # fill_input says it was deleted
                parents[parent_id] = await store.get_job(parent_id)
    data = fill_input(job.input_data, job.inputs_from, parents, at_submit=False)
    try:
        parsed, stored = operation.validate(data)
    except InvalidInput as exc:
        raise InvalidInput(
            exc.fields, f"the input completed from its parents' results is not valid: {exc}"
        ) from exc
    if operation.check is not None:
        await operation.check(parsed)
    return stored


async def publish_dependents(store: JobStore, events: EventBus, parent: JobRecord) -> list[JobRecord]:
    """Announce the dependents that ``parent``'s outcome (committed at ``parent.completed_at``) released
    or cancelled, and theirs down the chain; returns the ones cancelled. A read that fails is logged:
    watchers then learn of it by polling."""
    cancelled: list[JobRecord] = []
    frontier = [parent]
    try:
        while frontier:
            job = frontier.pop(0)
            if not job.dependents:
                continue
            for dependent in await store.dependents_of(job.id):
                if dependent.updated_at != parent.completed_at:
                    continue  # moved by something else, earlier
                if dependent.status is JobStatus.CANCELLED:
                    events.publish(JobEvent.status_of(dependent))
                    cancelled.append(dependent)
                    frontier.append(dependent)
                else:  # released, or waiting for one parent fewer: still pending, its progress moved
                    events.publish(JobEvent.progress_of(dependent.id, dependent.progress))
    except LpeError as exc:
        log.warning("announcing the jobs waiting for %s failed: %s", parent.id, exc)
    return cancelled
