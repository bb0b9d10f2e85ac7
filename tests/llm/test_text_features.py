"""The pure text helpers the mock and the operations' responders build replies from."""

from __future__ import annotations

import pytest

from lpe_nb.llm.text_features import (
    choose,
    key_phrases,
    proper_names,
    sentences,
    stable_hash,
    token_count,
    truncate_words,
    words,
)

TEXT = (
    "In 1955, Rosa Parks refused to give up her seat on a Montgomery bus. Her arrest sparked the "
    "Montgomery Bus Boycott! Was it planned? The Supreme Court ruled bus segregation unconstitutional."
)


def test_sentences_split_on_end_punctuation_and_paragraphs() -> None:
    assert sentences("One. Two!  Three?\n\nFour") == ["One.", "Two!", "Three?", "Four"]
    assert len(sentences(TEXT)) == 4


def test_words_drop_numbers_and_punctuation() -> None:
    assert words("In 1955, Rosa's bus-stop.") == ["In", "Rosa's", "bus-stop"]


def test_proper_names_skip_function_words_and_lone_sentence_openers() -> None:
    assert proper_names(TEXT) == ["Rosa Parks", "Montgomery", "Montgomery Bus Boycott", "Supreme Court"]
    assert proper_names("Tell me about Paris.") == ["Paris"]
    assert proper_names("Paris is big. I love Paris.") == ["Paris"]


def test_key_phrases_rank_multiword_phrases_first_in_their_written_case() -> None:
    phrases = key_phrases(TEXT, 3)

    assert len(phrases) == 3
    assert "Montgomery Bus Boycott" in phrases
    assert key_phrases("", 3) == []


def test_stable_hash_ignores_mapping_order_and_separates_parts() -> None:
    assert stable_hash({"a": 1, "b": 2}) == stable_hash({"b": 2, "a": 1})
    assert stable_hash("ab", "c") != stable_hash("a", "bc")


def test_stable_hash_is_pinned() -> None:
    # every mock reply depends on it: changing the function must be a deliberate act
    assert stable_hash("lpe") == 0xDF5DCA77E89A5D78
    assert stable_hash("lpe", {"a": 1}) == 0x10E31ECA98074771


def test_choose_is_deterministic_and_refuses_empty() -> None:
    options = ["a", "b", "c", "d"]

    assert choose(options, "seed") == choose(options, "seed")
    assert len({choose(options, i) for i in range(20)}) > 1
    with pytest.raises(ValueError, match="at least one"):
        choose([], "seed")


def test_token_count_and_truncate_words() -> None:
    assert token_count(" one  two\nthree ") == 3
    assert truncate_words("a b c d", 2) == "a b…"
    assert truncate_words("a b", 2) == "a b"
