"""The LPE job types on the job engine: projection, translation (one language, or several compared),
maieutic (+ answers), configuration.

``build_registry(llm, catalog, read_job=...)`` returns an :class:`OperationRegistry` with all six; the
input models check catalog names against ``catalog`` at submit. Importing this package registers the
mock LLM's responders for every step.
"""

from __future__ import annotations

from lpe_nb.jobs import OperationRegistry
from lpe_nb.llm import LLM
from lpe_nb.operations import configuration, maieutic, multi_translation, projection, translation
from lpe_nb.operations.catalog import DEFAULTS, KINDS, LANGUAGES, Catalog, CatalogEntry, Kind
from lpe_nb.operations.catalog_store import CatalogStore
from lpe_nb.operations.inputs import (
    ConfigurationInput,
    MaieuticAnswerInput,
    MaieuticInput,
    MultiTranslationInput,
    ProjectionInput,
    TranslationInput,
    bind_catalog,
)
from lpe_nb.operations.maieutic import JobReader
from lpe_nb.operations.mock_replies import register_all

__all__ = [
    "DEFAULTS",
    "JOB_TYPES",
    "KINDS",
    "LANGUAGES",
    "Catalog",
    "CatalogEntry",
    "CatalogStore",
    "ConfigurationInput",
    "JobReader",
    "Kind",
    "MaieuticAnswerInput",
    "MaieuticInput",
    "MultiTranslationInput",
    "ProjectionInput",
    "TranslationInput",
    "build_registry",
]

JOB_TYPES = ("projection", "translation", "multi_translation", "maieutic", "maieutic_answer", "configuration")

register_all()


def build_registry(
    llm: LLM, catalog: Catalog, *, read_job: JobReader, registry: OperationRegistry | None = None
) -> OperationRegistry:
    """Register the six LPE job types on ``registry`` (a new one by default) and return it.

    ``read_job(job_id)`` reads a stored job (the manager's ``get``); ``maieutic_answer`` uses it to load
    the session it continues.
    """
    registry = registry if registry is not None else OperationRegistry()
    registry.register(
        "projection", projection.make_run(llm, catalog),
        input_model=bind_catalog(ProjectionInput, catalog), title=projection.title,
        description="Retell a narrative as an allegory: deconstruct, map, reconstruct, stylize, reflect.",
    )  # fmt: skip
    registry.register(
        "translation", translation.make_run(llm),
        input_model=TranslationInput, title=translation.title,
        description="Round-trip translation and the meaning it loses (drift = 1 - similarity, plus chrF).",
    )  # fmt: skip
    registry.register(
        "multi_translation", multi_translation.make_run(llm),
        input_model=MultiTranslationInput, title=multi_translation.title,
        description="Round trips through several languages, compared: the most stable and volatile elements.",
    )  # fmt: skip
    registry.register(
        "maieutic", maieutic.make_start_run(llm),
        input_model=MaieuticInput, title=maieutic.start_title,
        description="Socratic questions about a narrative, one per depth level.",
    )  # fmt: skip
    registry.register(
        "maieutic_answer", maieutic.make_answer_run(llm, catalog, read_job),
        input_model=bind_catalog(MaieuticAnswerInput, catalog), title=maieutic.answer_title,
        check=maieutic.make_answer_check(read_job),
        description="Answers to a maieutic session: insights, synthesis, suggested configuration, projection.",
    )  # fmt: skip
    registry.register(
        "configuration", configuration.make_run(llm, catalog),
        input_model=ConfigurationInput, title=configuration.title,
        description="Generate a persona, namespace or style from a brief and save it to the user catalog.",
    )  # fmt: skip
    return registry
