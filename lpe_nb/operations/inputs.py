"""The pydantic input models of every job type: required fields, bounded sizes, no unknown fields.

Catalog names (persona, namespace, style) can only be checked against a catalog, so the models here
check their shape and :func:`bind_catalog` derives the model a registry uses, whose validators consult
that catalog's snapshot at submit.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model, field_validator

from lpe_nb.operations.catalog import Catalog, Kind, normalize_language

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_BRIEF_CHARS",
    "MAX_TEXT_CHARS",
    "ConfigurationInput",
    "MaieuticAnswerInput",
    "MaieuticInput",
    "MultiTranslationInput",
    "OperationInput",
    "ProjectionInput",
    "TranslationInput",
    "bind_catalog",
]

MAX_TEXT_CHARS = 20_000
MAX_ANSWER_CHARS = 4_000
MAX_BRIEF_CHARS = 1_000
MAX_TURNS = 10
MAX_ROUND_TRIPS = 6  # languages in one multi-language translation job

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)]
Answer = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_ANSWER_CHARS)]
Brief = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=MAX_BRIEF_CHARS)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=40)]
Goal = Literal["understand", "clarify", "discover", "question"]

M = TypeVar("M", bound="OperationInput")


class OperationInput(BaseModel):
    """Base of the input models: unknown fields are an error; ``catalog_fields`` maps field -> kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    catalog_fields: ClassVar[dict[str, Kind]] = {}


class ProjectionInput(OperationInput):
    narrative: Text = Field(description="the story to retell as an allegory")
    persona: Name = Field("neutral", description="who tells it")
    namespace: Name = Field("lamish-galaxy", description="the world it is told in")
    style: Name = Field("standard", description="how it is written")
    catalog_fields: ClassVar[dict[str, Kind]] = {
        "persona": "persona",
        "namespace": "namespace",
        "style": "style",
    }


class TranslationInput(OperationInput):
    text: Text = Field(description="the text sent on the round trip")
    # declared before intermediate_language so the check below can see it
    source_language: str = Field("english", description="the text's language")
    intermediate_language: str = Field(description="the language of the round trip")

    @field_validator("intermediate_language", "source_language")
    @classmethod
    def _language(cls, value: str) -> str:
        return normalize_language(value)

    @field_validator("intermediate_language")
    @classmethod
    def _differs(cls, value: str, info: Any) -> str:
        if value == info.data.get("source_language"):
            raise ValueError("must differ from source_language")
        return value


class MultiTranslationInput(OperationInput):
    """One text on round trips through several languages (2..6, distinct, none the source)."""

    text: Text = Field(description="the text sent on the round trips")
    source_language: str = Field("english", description="the text's language")
    intermediate_languages: list[str] = Field(
        min_length=2, max_length=MAX_ROUND_TRIPS, description=f"2 to {MAX_ROUND_TRIPS} languages to compare"
    )

    @field_validator("source_language")
    @classmethod
    def _source(cls, value: str) -> str:
        return normalize_language(value)

    @field_validator("intermediate_languages")
    @classmethod
    def _languages(cls, value: list[str], info: Any) -> list[str]:
        languages = [normalize_language(language) for language in value]
        if len(set(languages)) != len(languages):
            raise ValueError("must not repeat a language")
        if info.data.get("source_language") in languages:
            raise ValueError("must not include source_language")
        return languages


class MaieuticInput(OperationInput):
    narrative: Text = Field(description="the story to question")
    goal: Goal = Field("understand", description="what the questions aim at")
    max_turns: int = Field(
        default=5, ge=1, le=MAX_TURNS, description=f"how many questions (1 to {MAX_TURNS})"
    )


class MaieuticAnswerInput(OperationInput):
    """Answers to a maieutic session, in question order; ``session_id`` is the start job's id.

    An empty string skips a question. With ``project`` the enriched narrative is projected in the same
    job, using the suggested configuration unless persona/namespace/style are given.
    """

    session_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] = Field(
        description="the maieutic job's id"
    )
    answers: list[Answer] = Field(
        min_length=1, max_length=MAX_TURNS, description="one per question, in order"
    )
    project: bool = Field(False, description="also project the enriched narrative")
    persona: Name | None = Field(None, description="instead of the suggested persona")
    namespace: Name | None = Field(None, description="instead of the suggested namespace")
    style: Name | None = Field(None, description="instead of the suggested style")
    catalog_fields: ClassVar[dict[str, Kind]] = {
        "persona": "persona",
        "namespace": "namespace",
        "style": "style",
    }

    @field_validator("answers")
    @classmethod
    def _some_answer(cls, value: list[str]) -> list[str]:
        if not any(answer for answer in value):
            raise ValueError("answer at least one question")
        return value


class ConfigurationInput(OperationInput):
    attribute: Kind = Field(description="what to create")
    brief: Brief = Field(description="a short brief, e.g. 'a patient gardener'")
    context: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TEXT_CHARS)] = Field(
        "", description="optional context for the generator"
    )


def bind_catalog(model: type[M], catalog: Catalog) -> type[M]:
    """A subclass of ``model`` whose catalog fields must name entries of ``catalog`` (checked live)."""
    if not model.catalog_fields:
        return model
    validators: dict[str, Any] = {}
    for field_name, kind in model.catalog_fields.items():
        validators[f"_check_{field_name}"] = field_validator(field_name)(_name_checker(catalog, kind))
    return create_model(model.__name__, __base__=model, __validators__=validators)


def _name_checker(catalog: Catalog, kind: Kind) -> Any:
    def check(cls: type[BaseModel], value: str | None) -> str | None:
        return None if value is None else catalog.check_name(kind, value)

    return check
