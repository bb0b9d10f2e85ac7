"""Pin the public surface of lpe_nb.llm, so a change to it is a deliberate one."""

from __future__ import annotations

import lpe_nb.llm


def test_exported_members() -> None:
    assert sorted(lpe_nb.llm.__all__) == [
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
        "complete_json",
        "make_llm",
        "parse_json_reply",
        "register_mock_responder",
        "unregister_mock_responder",
    ]
    for name in lpe_nb.llm.__all__:
        assert getattr(lpe_nb.llm, name) is not None
