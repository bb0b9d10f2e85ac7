"""A job type is one declaration: :class:`JobSpec`, kept in one registry, :class:`JobTypes`.

Everything else is derived from the declarations: the engine's operations (:meth:`JobTypes.bind`), the
REST routes and the OpenAPI document, the clients' methods, the CLI's subcommands, the widgets' type
lists and generic forms. A user adds a type with the :func:`job_type` decorator (or ``JOB_TYPES.add``)::

    class WordCount(BaseModel):
        text: str

    @job_type("word_count", input_model=WordCount, description="Count the words of a text.")
    async def word_count(ctx: StepContext, data: WordCount) -> dict[str, int]:
        return {"words": len(data.text.split())}

and it is reachable through REST (``POST lpe/api/jobs/submit/word_count``), ``client.word_count(text)``,
``python -m lpe_nb run word_count --text ...`` and the dashboard, once the module that declares it is
imported where the engine runs (``LPE_JOB_MODULES``, the extension's ``job_modules``, or the
``lpe_nb.job_types`` entry point group: see :func:`load_job_modules`).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import os
import re
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from lpe_nb.errors import InvalidInput, UnknownJobType
from lpe_nb.jobs import OperationFn, OperationRegistry
from lpe_nb.jobs.registry import InputPrepare
from lpe_nb.jobs.retry import RetryPolicy
from lpe_nb.operations._cache_scope import with_cache_scope
from lpe_nb.operations.inputs import OperationInput, bind_catalog

if TYPE_CHECKING:
    from lpe_nb.jobs import JobRecord
    from lpe_nb.llm import LLM
    from lpe_nb.operations.catalog import Catalog

__all__ = [
    "ENTRY_POINT_GROUP",
    "JOB_MODULES_ENV",
    "JOB_TYPES",
    "FieldInfo",
    "JobSpec",
    "JobTypeInfo",
    "JobTypes",
    "Services",
    "generated_method",
    "job_type",
    "load_job_modules",
    "merged_input",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "lpe_nb.job_types"
JOB_MODULES_ENV = "LPE_JOB_MODULES"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

F = TypeVar("F", bound=OperationFn)
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Services:
    """What the engine hands a job type's factory: its LLM, the catalog, and a reader of stored jobs."""

    llm: LLM
    catalog: Catalog
    read_job: Callable[[str], Awaitable[JobRecord]]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job type. ``run(ctx, input)`` does the work, or ``make_run(services)`` builds it for types that
    need the engine's LLM or catalog. Every front door is derived from these fields.

    ``path`` is the seed's REST path under ``lpe/api/`` (default ``jobs/submit/<name>``); ``method`` the
    client method's name (default the type's name). ``max_attempts`` overrides the engine's default for
    jobs of this type (attempts in a row without progress; a job can set its own at submit), ``retry``
    the engine's :class:`~lpe_nb.jobs.retry.RetryPolicy` (which errors are retried, and the backoff);
    ``timeout_s`` bounds one attempt (the job fails with a clear reason past it). ``cache=False``: its
    LLM calls are never answered from the result cache nor stored in it (``docs/caching.md``).
    """

    name: str
    input_model: type[BaseModel] | None = None
    run: OperationFn | None = None
    make_run: Callable[[Services], OperationFn] | None = None
    title: Callable[[Any], str] | None = None
    description: str = ""
    make_check: Callable[[Services], Callable[[Any], Awaitable[None]]] | None = None
    path: str | None = None
    method: str | None = None
    summary: str | None = None
    max_attempts: int | None = None
    timeout_s: float | None = None
    retry: RetryPolicy | None = None
    # What a job of this type takes from a parent's result when it depends on one (docs/chains.md):
    # {parent type: {input field: dotted path in that parent's result}}. Not part of equality or hash.
    inputs_from: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False)
    cache: bool = True

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        if not _NAME.match(self.name):
            problems["name"] = f"{self.name!r} must be lower-case letters, digits and '_' (at most 64)"
        if (self.run is None) == (self.make_run is None):
            problems["run"] = "give exactly one of run and make_run"
        if self.method is not None and not self.method.isidentifier():
            problems["method"] = f"{self.method!r} must be a Python identifier"
        if self.max_attempts is not None and self.max_attempts < 1:
            problems["max_attempts"] = "must be at least 1"
        if self.timeout_s is not None and self.timeout_s <= 0:
            problems["timeout_s"] = "must be a positive number of seconds"
        known = None if self.input_model is None else set(self.input_model.model_fields)
        for parent_type, fields in self.inputs_from.items():
            for name in fields:
                if known is not None and name not in known:
                    problems[f"inputs_from.{parent_type}.{name}"] = "is not a field of input_model"
        if problems:
            raise InvalidInput(problems)

    @property
    def rest_path(self) -> str:
        return self.path or f"jobs/submit/{self.name}"

    @property
    def method_name(self) -> str:
        return self.method or self.name

    def info(self) -> JobTypeInfo:
        """What a client, the CLI or a form needs to know of this type (JSON-able, no code)."""
        return _info_of(self)


@functools.lru_cache(maxsize=1024)
def _info_of(spec: JobSpec) -> JobTypeInfo:
    # A spec never changes, and its JSON schema is costly to build: generated methods read it per call.
    return JobTypeInfo(
        name=spec.name,
        method=spec.method_name,
        description=spec.description,
        path=spec.rest_path,
        fields=fields_of(spec.input_model),
    )


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One input field: its JSON type (``string``, ``integer``, ``number``, ``boolean``, ``array``,
    ``object``), whether it is required, its default and its allowed values when they are a fixed set."""

    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    choices: list[Any] | None = None
    description: str = ""
    catalog: str | None = None  # persona, namespace or style: choices come from the catalog

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "choices": self.choices,
            "description": self.description,
            "catalog": self.catalog,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldInfo:
        return cls(
            name=str(data["name"]),
            type=str(data.get("type") or "string"),
            required=bool(data.get("required")),
            default=data.get("default"),
            choices=data.get("choices"),
            description=str(data.get("description") or ""),
            catalog=data.get("catalog"),
        )


@dataclass(frozen=True, slots=True)
class JobTypeInfo:
    """A job type as the front doors see it: served at ``lpe/api/job-types``, read by the clients."""

    name: str
    method: str
    description: str = ""
    path: str = ""
    fields: list[FieldInfo] = field(default_factory=list)

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    @property
    def positional(self) -> list[str]:
        """The order positional arguments fill fields in: the required ones, then the others."""
        return self.required + [f.name for f in self.fields if not f.required]

    def input_from(self, args: tuple[Any, ...], fields: Mapping[str, Any]) -> dict[str, Any]:
        """The job's input from a generated method's arguments; ``None`` keyword values mean "default"."""
        order = self.positional
        if len(args) > len(order):
            raise InvalidInput.field(
                "(arguments)", f"{self.method}() takes at most {len(order)} positional arguments"
            )
        data = dict(zip(order[: len(args)], args, strict=True))
        for name, value in fields.items():
            if name in data:
                raise InvalidInput.field(name, f"given twice to {self.method}()")
            if value is not None:
                data[name] = value
        return data

    def bind_helper(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Name, document and sign a generated per-type method, so ``help()`` and completion show it."""
        function.__name__ = function.__qualname__ = self.method
        lines = [self.description or f"Start a {self.name} job.", ""]
        lines += [
            f"{f.name}: {f.type}{'' if f.required else f' = {f.default!r}'}  {f.description}".rstrip()
            for f in self.fields
        ]
        function.__doc__ = "\n".join(lines)
        parameters = [
            inspect.Parameter(
                name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=inspect.Parameter.empty if name in self.required else None,
            )
            for name in self.positional
        ]
        function.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        return function

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "method": self.method,
            "description": self.description,
            "path": self.path,
            "fields": [f.to_dict() for f in self.fields],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobTypeInfo:
        return cls(
            name=str(data["name"]),
            method=str(data.get("method") or data["name"]),
            description=str(data.get("description") or ""),
            path=str(data.get("path") or ""),
            fields=[FieldInfo.from_dict(f) for f in data.get("fields") or []],
        )


def fields_of(model: type[BaseModel] | None) -> list[FieldInfo]:
    """The fields of an input model, in declaration order, from its JSON schema (the wire's truth)."""
    if model is None:
        return []
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    catalog_fields: Mapping[str, str] = getattr(model, "catalog_fields", {}) or {}
    found = []
    for name, prop in schema.get("properties", {}).items():
        prop = _first_typed(prop, schema.get("$defs", {}))
        found.append(
            FieldInfo(
                name=name,
                type=str(prop.get("type", "string")),
                required=name in required,
                default=prop.get("default"),
                choices=list(prop["enum"]) if "enum" in prop else None,
                description=str(prop.get("description") or ""),
                catalog=catalog_fields.get(name),
            )
        )
    return found


def _first_typed(prop: dict[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve ``$ref`` and ``anyOf: [X, null]`` (optional fields) to the schema of X, keeping the default."""
    merged = dict(prop)
    ref = merged.pop("$ref", None)
    if isinstance(ref, str):
        merged = {**defs.get(ref.rsplit("/", 1)[-1], {}), **merged}
    options = [o for o in merged.pop("anyOf", []) if o.get("type") != "null"]
    if options and "type" not in merged:
        merged = {**_first_typed(options[0], defs), **merged}
    if "const" in merged and "enum" not in merged:
        merged["enum"] = [merged["const"]]
    return merged


class JobTypes:
    """The registry of job-type declarations that every front door reads (as huey's ``Huey.task()``)."""

    def __init__(self, specs: Iterable[JobSpec] = ()) -> None:
        self._specs: dict[str, JobSpec] = {}
        # Engines bound to these declarations: a type declared later (in a notebook cell) runs there too.
        self._bound: list[tuple[Services, weakref.ref[OperationRegistry]]] = []
        for spec in specs:
            self.add(spec)

    def add(self, spec: JobSpec, *, replace: bool = False) -> JobSpec:
        """Declare ``spec``; a second declaration of a name needs ``replace=True``."""
        if not replace:
            if spec.name in self._specs:
                raise InvalidInput.field("name", f"job type {spec.name!r} is already declared")
            for other in self._specs.values():
                if other.method_name == spec.method_name or other.rest_path == spec.rest_path:
                    raise InvalidInput.field(
                        "name", f"{spec.name!r} would reuse {other.name!r}'s method or path"
                    )
        self._specs[spec.name] = spec
        self._bound = [(services, ref) for services, ref in self._bound if ref() is not None]
        for services, ref in self._bound:
            registry = ref()
            if registry is not None:
                _register(registry, spec, services)
        return spec

    def remove(self, name: str) -> None:
        self._specs.pop(name, None)

    def get(self, name: str) -> JobSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownJobType(name, self._specs) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[JobSpec]:
        return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)

    def infos(self) -> list[JobTypeInfo]:
        return [spec.info() for spec in self]

    def bind(self, services: Services, registry: OperationRegistry | None = None) -> OperationRegistry:
        """The engine's operations for every declared type, bound to ``services``."""
        registry = registry if registry is not None else OperationRegistry()
        for spec in self:
            _register(registry, spec, services)
        self._bound.append((services, weakref.ref(registry)))
        return registry


def _register(registry: OperationRegistry, spec: JobSpec, services: Services) -> None:
    model = spec.input_model
    prepare = None
    if model is not None and issubclass(model, OperationInput):
        model = bind_catalog(model, services.catalog)
        if model.catalog_fields:  # names another process may have just added: read the catalog first
            prepare = _catalog_prepare(model, services.catalog)
    run = spec.run if spec.run is not None else spec.make_run(services)  # type: ignore[misc]
    run = with_cache_scope(run, type_allows=spec.cache)
    registry.register(
        spec.name,
        run,
        input_model=model,
        title=spec.title,
        description=spec.description,
        check=spec.make_check(services) if spec.make_check is not None else None,
        max_attempts=spec.max_attempts,
        timeout_s=spec.timeout_s,
        retry=spec.retry,
        inputs_from=spec.inputs_from,
        prepare=prepare,
        replace=True,
    )


def _catalog_prepare(model: type[OperationInput], catalog: Catalog) -> InputPrepare:
    """Refresh ``catalog`` before an input of ``model`` is validated, unless every catalog name it gives
    (or defaults to) is a built-in's (:meth:`Catalog.refresh_unless_builtin`)."""
    fields = model.catalog_fields
    defaults = {name: model.model_fields[name].default for name in fields}

    async def prepare(input_data: Any) -> None:
        given = input_data if isinstance(input_data, Mapping) else {}
        await catalog.refresh_unless_builtin(
            [(kind, given.get(name, defaults[name])) for name, kind in fields.items()]
        )

    return prepare


def merged_input(input_data: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A job's input from ``submit(job_type, input_data, **fields)``; ``None`` values mean "default"."""
    data = {**(input_data or {}), **fields}
    return {name: value for name, value in data.items() if value is not None}


def generated_method(
    infos: Iterable[JobTypeInfo],
    name: str,
    submit: Callable[..., R],
    *,
    owner: str,
    options: Iterable[str] = (),
) -> Callable[..., R]:
    """The per-type method ``name`` of ``owner`` (a client or an engine): the first of ``infos`` whose
    method it is, calling ``submit(job_type, input, **options)``. ``options`` are the submit keywords that
    ride along unless the type has an input field of that name. ``AttributeError`` names the methods."""
    if name.startswith("_"):  # private and dunder names are never job types (and may not exist yet)
        raise AttributeError(name)
    known = list(infos)
    info = next((candidate for candidate in known if candidate.method == name), None)
    if info is None:
        methods = ", ".join(dict.fromkeys(candidate.method for candidate in known))
        raise AttributeError(f"{owner!r} has no attribute {name!r}; job type methods: {methods}")
    names = {field.name for field in info.fields}
    ride_along = [option for option in options if option not in names]

    def submit_job(*args: Any, **fields: Any) -> R:
        extra = {option: fields.pop(option) for option in ride_along if option in fields}
        return submit(info.name, info.input_from(args, fields), **extra)

    return info.bind_helper(submit_job)


JOB_TYPES = JobTypes()
"""The declared job types: the built-ins (added by :mod:`lpe_nb.operations`) and the users'."""


def job_type(
    name: str,
    *,
    input_model: type[BaseModel] | None = None,
    description: str = "",
    title: Callable[[Any], str] | None = None,
    registry: JobTypes | None = None,
    **options: Any,
) -> Callable[[F], F]:
    """Declare the decorated ``async def run(ctx, data)`` as job type ``name`` (in ``JOB_TYPES`` by
    default). ``options`` are the other :class:`JobSpec` fields (``path``, ``method``, ``max_attempts``...).
    """

    def declare(run: F) -> F:
        target = registry if registry is not None else JOB_TYPES
        spec = JobSpec(
            name, input_model=input_model, run=run, title=title, description=description or (run.__doc__ or "").strip(),
            **options,
        )  # fmt: skip
        target.add(spec, replace=True)  # re-running a notebook cell redeclares the type
        return run

    return declare


def load_job_modules(modules: Iterable[str] = (), *, environ: Mapping[str, str] | None = None) -> list[str]:
    """Import the modules that declare job types: ``modules``, ``$LPE_JOB_MODULES`` (comma-separated)
    and the ``lpe_nb.job_types`` entry points. Returns the names imported; a module that fails to import
    raises :class:`InvalidInput` naming it, since a missing job type would fail later and less clearly."""
    env = os.environ if environ is None else environ
    names = [*modules, *(m.strip() for m in env.get(JOB_MODULES_ENV, "").split(",") if m.strip())]
    for point in entry_points(group=ENTRY_POINT_GROUP):
        names.append(point.value.split(":", 1)[0])
    loaded = []
    for name in dict.fromkeys(names):
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise InvalidInput.field("job_modules", f"cannot import {name!r}: {exc}") from exc
        loaded.append(name)
    if loaded:
        log.debug("lpe_nb: job type modules %s", ", ".join(loaded))
    return loaded
