"""The LPE job types on the job engine: projection, translation (one language, or several compared),
maieutic (+ answers), configuration; each declared once as a :class:`JobSpec` in :data:`JOB_TYPES`.

``build_registry(llm, catalog, read_job=...)`` binds every declared type to the engine's services; the
input models check catalog names against ``catalog`` at submit (refreshed from the job store first). Users declare their own types with
:func:`job_type` (see :mod:`lpe_nb.operations.spec`). Importing this package registers the mock LLM's
responders for every step.
"""

from __future__ import annotations

from lpe_nb.jobs import OperationRegistry
from lpe_nb.llm import LLM
from lpe_nb.operations import configuration, maieutic, multi_translation, projection, translation
from lpe_nb.operations.catalog import DEFAULTS, KINDS, LANGUAGES, Catalog, CatalogEntry, CatalogRows, Kind
from lpe_nb.operations.inputs import (
    ConfigurationInput,
    MaieuticAnswerInput,
    MaieuticInput,
    MultiTranslationInput,
    ProjectionInput,
    TranslationInput,
)
from lpe_nb.operations.maieutic import JobReader
from lpe_nb.operations.mock_replies import register_all
from lpe_nb.operations.spec import (
    JOB_TYPES,
    FieldInfo,
    JobSpec,
    JobTypeInfo,
    JobTypes,
    Services,
    job_type,
    load_job_modules,
)

__all__ = [
    "DEFAULTS",
    "JOB_TYPES",
    "KINDS",
    "LANGUAGES",
    "Catalog",
    "CatalogEntry",
    "CatalogRows",
    "ConfigurationInput",
    "FieldInfo",
    "JobReader",
    "JobSpec",
    "JobTypeInfo",
    "JobTypes",
    "Kind",
    "MaieuticAnswerInput",
    "MaieuticInput",
    "MultiTranslationInput",
    "ProjectionInput",
    "Services",
    "TranslationInput",
    "build_registry",
    "job_type",
    "load_job_modules",
]

for _spec in (
    projection.SPEC,
    translation.SPEC,
    multi_translation.SPEC,
    maieutic.START_SPEC,
    maieutic.ANSWER_SPEC,
    configuration.SPEC,
):
    JOB_TYPES.add(_spec, replace=True)

register_all()


def build_registry(
    llm: LLM, catalog: Catalog, *, read_job: JobReader, registry: OperationRegistry | None = None
) -> OperationRegistry:
    """The engine's operations for every declared job type (on ``registry``, a new one by default).

    ``read_job(job_id)`` reads a stored job (the manager's ``get``); ``maieutic_answer`` uses it to load
    the session it continues.
    """
    return JOB_TYPES.bind(Services(llm, catalog, read_job), registry)
