"""Pin the public surface of lpe_nb.llm, so a change to it is a deliberate one."""

from __future__ import annotations

import importlib

import pytest

import lpe_nb.llm

# each exported name and the module that defines it
HOMES = {
    "CacheScope": "lpe_nb.llm.cache",
    "CachingLLM": "lpe_nb.llm.cache",
    "Completion": "lpe_nb.llm.base",
    "DeltaCallback": "lpe_nb.llm.base",
    "FallbackLLM": "lpe_nb.llm.fallback",
    "LLM": "lpe_nb.llm.base",
    "LlmSettings": "lpe_nb.llm.config",
    "MOCK_MODEL": "lpe_nb.llm.mock",
    "Message": "lpe_nb.llm.base",
    "MockLLM": "lpe_nb.llm.mock",
    "MockResponder": "lpe_nb.llm.mock",
    "OpenAICompatibleLLM": "lpe_nb.llm.openai_compat",
    "Role": "lpe_nb.llm.base",
    "Usage": "lpe_nb.llm.base",
    "cache_scope": "lpe_nb.llm.cache",
    "complete_json": "lpe_nb.llm.structured",
    "make_llm": "lpe_nb.llm.factory",
    "parse_json_reply": "lpe_nb.llm.structured",
    "register_mock_responder": "lpe_nb.llm.mock",
    "unregister_mock_responder": "lpe_nb.llm.mock",
}


def test_exported_members() -> None:
    assert sorted(lpe_nb.llm.__all__) == [
        "CacheScope",
        "CachingLLM",
        "Completion",
        "DeltaCallback",
        "FallbackLLM",
        "LLM",
        "LlmSettings",
        "MOCK_MODEL",
        "Message",
        "MockLLM",
        "MockResponder",
        "OpenAICompatibleLLM",
        "Role",
        "Usage",
        "cache_scope",
        "complete_json",
        "make_llm",
        "parse_json_reply",
        "register_mock_responder",
        "unregister_mock_responder",
    ]
    assert sorted(HOMES) == sorted(lpe_nb.llm.__all__)


@pytest.mark.parametrize(("name", "home"), HOMES.items())
def test_each_export_is_the_object_its_module_defines(name: str, home: str) -> None:
    # OpenAICompatibleLLM goes through the package's lazy __getattr__: it must still be the real class
    assert getattr(lpe_nb.llm, name) is getattr(importlib.import_module(home), name)


def test_exports_are_what_they_say() -> None:
    assert lpe_nb.llm.MOCK_MODEL == "lpe-mock-1"
    mock = lpe_nb.llm.MockLLM()
    assert (mock.provider, mock.model) == ("mock", lpe_nb.llm.MOCK_MODEL)
    assert lpe_nb.llm.OpenAICompatibleLLM.provider == "openai-compatible"
    assert isinstance(lpe_nb.llm.make_llm(lpe_nb.llm.LlmSettings(provider="mock")), lpe_nb.llm.MockLLM)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'OpenAILLM'"):
        _ = lpe_nb.llm.OpenAILLM  # type: ignore[attr-defined]  # the point of the test
