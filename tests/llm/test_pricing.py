"""The price table: defaults, dated snapshots, local servers, configured rules and how they are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from lpe_nb.errors import InvalidInput
from lpe_nb.llm import LlmSettings
from lpe_nb.llm.pricing import (
    DEFAULT_PRICES,
    FREE,
    ModelPrice,
    PriceRule,
    PriceTable,
    is_local_endpoint,
    load_price_rules,
    parse_price_rules,
)

OPENAI = "https://api.openai.com/v1"


def test_a_default_model_costs_its_list_price_per_million_tokens() -> None:
    table = PriceTable()
    assert table.price_of("gpt-4o-mini", base_url=OPENAI) == ModelPrice(0.15, 0.60)
    cost = table.cost_usd("gpt-4o-mini", 1_000_000, 500_000, base_url=OPENAI)
    assert cost == pytest.approx(0.15 + 0.30)


def test_a_dated_snapshot_costs_what_its_model_costs_and_the_longest_name_wins() -> None:
    table = PriceTable()
    assert table.price_of("gpt-4o-mini-2024-07-18", base_url=OPENAI) == DEFAULT_PRICES["gpt-4o-mini"]
    assert table.price_of("gpt-4o-2024-08-06", base_url=OPENAI) == DEFAULT_PRICES["gpt-4o"]
    assert table.price_of("gpt-4o-audio-preview", base_url=OPENAI) is None  # not a snapshot of gpt-4o


def test_the_mock_and_unknown_models_on_local_servers_are_free() -> None:
    table = PriceTable()
    assert table.price_of("anything", provider="mock") == FREE
    assert table.price_of("llama3.1", base_url="http://localhost:11434/v1") == FREE
    assert table.price_of("qwen", base_url="http://192.168.1.20:8000/v1") == FREE
    assert table.price_of("qwen", base_url="https://llm.example.com/v1") is None


def test_a_local_proxy_serving_a_priced_model_still_costs() -> None:
    assert PriceTable().price_of("gpt-4o", base_url="http://127.0.0.1:4000/v1") == DEFAULT_PRICES["gpt-4o"]


def test_configured_rules_override_defaults_endpoint_rules_first_exact_before_patterns() -> None:
    table = PriceTable(
        [
            PriceRule("gpt-4o*", ModelPrice(9, 9)),
            PriceRule("gpt-4o", ModelPrice(1, 2)),
            PriceRule("*", ModelPrice(0, 0), base_url="http://proxy:4000/v1/"),
        ]
    )
    assert table.price_of("gpt-4o", base_url=OPENAI) == ModelPrice(1, 2)
    assert table.price_of("gpt-4o-mini", base_url=OPENAI) == ModelPrice(9, 9)
    assert table.price_of("gpt-4o", base_url="http://PROXY:4000/v1") == FREE
    assert table.price_of("gpt-4.1", base_url=OPENAI) == DEFAULT_PRICES["gpt-4.1"]


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([{"model": "m", "input": -1, "output": 1}], "prices[0].input"),
        ([{"model": "m", "input": 1}], "prices[0].output"),
        ([{"input": 1, "output": 1}], "prices[0].model"),
        ([{"model": "m", "input": 1, "output": 1, "cached": 1}], "prices[0].cached"),
        ([{"model": "m", "input": "1", "output": 1}], "prices[0].input"),
        ("gpt-4o", "prices"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_field(rules: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_price_rules(rules)
    assert field in caught.value.fields


def test_prices_are_read_from_inline_json_a_json_file_or_a_toml_file(tmp_path: Path) -> None:
    inline = load_price_rules('[{"model": "fake-model", "input": 3, "output": 4}]')
    assert inline == (PriceRule("fake-model", ModelPrice(3.0, 4.0)),)
    as_json = tmp_path / "prices.json"
    as_json.write_text('{"prices": [{"model": "a", "input": 1, "output": 2, "base_url": "http://x/v1"}]}')
    assert load_price_rules(str(as_json)) == (PriceRule("a", ModelPrice(1.0, 2.0), "http://x/v1"),)
    as_toml = tmp_path / "prices.toml"
    as_toml.write_text('[[prices]]\nmodel = "llama3*"\ninput = 0\noutput = 0.5\n')
    assert load_price_rules(str(as_toml)) == (PriceRule("llama3*", ModelPrice(0.0, 0.5)),)
    with pytest.raises(InvalidInput) as caught:
        load_price_rules(str(tmp_path / "missing.toml"))
    assert "LPE_LLM_PRICES" in caught.value.fields


def test_settings_read_prices_from_the_environment_and_name_the_variable_when_bad() -> None:
    settings = LlmSettings.from_env({"LPE_LLM_PRICES": '[{"model": "m", "input": 1, "output": 2}]'})
    assert settings.prices == (PriceRule("m", ModelPrice(1.0, 2.0)),)
    with pytest.raises(InvalidInput) as caught:
        LlmSettings.from_env({"LPE_LLM_PRICES": "[{"})
    assert "LPE_LLM_PRICES" in caught.value.fields
    assert LlmSettings(prices=[{"model": "m", "input": 1, "output": 2}]).prices == settings.prices  # type: ignore[arg-type]  # dicts are accepted


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://localhost:11434/v1", True),
        ("http://127.0.0.1:8000/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://10.0.0.5/v1", True),
        ("http://box.local:1234/v1", True),
        ("https://api.openai.com/v1", False),
        ("https://8.8.8.8/v1", False),
    ],
)
def test_local_endpoints_are_loopback_private_or_dot_local(url: str, local: bool) -> None:
    assert is_local_endpoint(url) is local
