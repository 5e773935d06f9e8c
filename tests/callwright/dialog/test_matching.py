"""Normalising and matching caller words."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callwright.dialog.flow import AskNode
from callwright.dialog.flow_answers import grammar, in_bounds, interpret, iso
from callwright.dialog.matching import (
    Choice,
    base_language,
    contains_keywords,
    digit_words,
    match_choice,
    match_dtmf,
    match_phrase,
    match_yes_no,
    normalise,
    number_words,
    tokens,
    yes_no_words,
)

ChoicesFactory = Callable[..., list[Choice]]


@pytest.fixture
def make_choices() -> ChoicesFactory:
    """Choices from ``value=[phrases]`` keyword arguments (order kept)."""

    def make(**phrases: list[str]) -> list[Choice]:
        return [Choice(value, tuple(p)) for value, p in phrases.items()]

    return make


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Hello,   WORLD!! ", "hello world"),
        ("Straße", "strasse"),
        ("ＦＵＬＬ　ｗｉｄｔｈ", "full width"),
        ("I don't know.", "i don't know"),
        ("'quoted'", "quoted"),
        ("네, 맞아요!", "네 맞아요"),
        ("안녕하세요?", "안녕하세요"),
        ("ㅋㅋㅋ 좋아요~", "ㅋㅋㅋ 좋아요"),
        ("3.5 km", "3 5 km"),
        ("", ""),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_normalise_keeps_hangul_syllables_composed() -> None:
    text = normalise("예약을 접수했습니다.")
    assert text == "예약을 접수했습니다"
    assert unicodedata.is_normalized("NFC", text)
    assert all(not (0x1100 <= ord(ch) <= 0x11FF) for ch in text)  # no conjoining jamo


def test_normalise_composes_decomposed_hangul() -> None:
    decomposed = unicodedata.normalize("NFD", "네")
    assert len(decomposed) == 2
    assert normalise(decomposed) == "네"


@given(st.text())
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert "  " not in once and once == once.strip()


def test_tokens() -> None:
    assert tokens("Yes, please!") == ["yes", "please"]


@pytest.mark.parametrize(
    ("language", "base"), [("ko-KR", "ko"), ("en_US", "en"), ("KO", "ko"), ("", "en")]
)
def test_base_language(language: str, base: str) -> None:
    assert base_language(language) == base


def test_phrase_scores_rank_exact_over_contained_over_absent() -> None:
    exact = match_phrase("sales", "sales")
    contained = match_phrase("I want sales please", "sales")
    absent = match_phrase("support", "sales")
    assert exact == 1.0
    assert 0.5 <= contained < exact
    assert absent == 0.0


def test_latin_phrase_needs_whole_words() -> None:
    assert match_phrase("I know", "no") == 0.0
    assert match_phrase("oh no", "no") >= 0.5


def test_korean_phrase_matches_without_spaces() -> None:
    assert match_phrase("예약 을 하고 싶어요", "예약을") >= 0.5
    assert match_phrase("안녕 하세요", "안녕하세요") >= 0.5


def test_one_syllable_korean_phrase_must_be_a_word() -> None:
    assert match_phrase("예약이요", "예") == 0.0
    assert match_phrase("예 그래요", "예") >= 0.5


def test_match_choice_picks_the_choice(make_choices: ChoicesFactory) -> None:
    choices = make_choices(sales=["sales", "buy"], support=["support", "help", "broken"])
    match = match_choice("my phone is broken", choices)
    assert match is not None
    assert match.value == "support"
    assert match.phrase == "broken"


def test_match_choice_none_when_nothing_matches(make_choices: ChoicesFactory) -> None:
    assert match_choice("what is the weather", make_choices(a=["sales"], b=["support"])) is None


def test_match_choice_ambiguous_answer_matches_nothing(make_choices: ChoicesFactory) -> None:
    assert match_choice("sales or support", make_choices(a=["sales"], b=["support"])) is None


def test_match_choice_longer_overlapping_phrase_wins(make_choices: ChoicesFactory) -> None:
    match = match_choice("아니요", make_choices(no=["아니요"], maybe=["아니"]))
    assert match is not None and match.value == "no"


def test_match_choice_partial_word_overlap(make_choices: ChoicesFactory) -> None:
    match = match_choice("billing", make_choices(bill=["billing question"], other=["sales"]))
    assert match is not None
    assert match.value == "bill"
    assert match.score < 0.5


@pytest.mark.parametrize(
    ("said", "value"),
    [
        ("네", "yes"),
        ("네 맞아요", "yes"),
        ("예", "yes"),
        ("응", "yes"),
        ("아니요", "no"),
        ("아니오", "no"),
        ("아뇨 괜찮아요", "no"),
        ("아니에요", "no"),
        ("싫어요", "no"),
    ],
)
def test_yes_no_korean(said: str, value: str) -> None:
    match = match_yes_no(said, "ko-KR")
    assert match is not None
    assert match.value == value


@pytest.mark.parametrize(
    ("said", "value"),
    [
        ("yes", "yes"),
        ("Yeah, sure.", "yes"),
        ("yep", "yes"),
        ("no", "no"),
        ("Nope!", "no"),
        ("no thanks", "no"),
        ("I don't think so", "no"),
    ],
)
def test_yes_no_english(said: str, value: str) -> None:
    match = match_yes_no(said, "en-US")
    assert match is not None
    assert match.value == value


@pytest.mark.parametrize("said", ["maybe", "네 아니요", "yes no", "I know", ""])
def test_yes_no_unclear(said: str) -> None:
    assert match_yes_no(said, "ko") is None
    assert match_yes_no(said, "en") is None


def test_yes_no_words_depend_on_language() -> None:
    ko = yes_no_words("ko")
    en = yes_no_words("en")
    assert "네" in ko.yes and "아니요" in ko.no
    assert "yes" in en.yes and "nope" in en.no
    assert yes_no_words("xx") == en
    assert set(ko.grammar) == set(ko.yes) | set(ko.no)


def test_match_dtmf_by_position_and_by_declared_key() -> None:
    by_position = [Choice("a", ("a",)), Choice("b", ("b",))]
    match = match_dtmf("2", by_position)
    assert match is not None and match.value == "b"
    assert match_dtmf("3", by_position) is None
    declared = [Choice("a", ("a",), "9"), Choice("b", ("b",), "0")]
    match = match_dtmf("0", declared)
    assert match is not None and match.value == "b"
    assert match_dtmf("1", declared) is None
    assert match_dtmf("", declared) is None


def test_contains_keywords() -> None:
    assert contains_keywords("I need an agent please", ["agent", "human"])
    assert not contains_keywords("I need a magent", ["agent"])
    assert contains_keywords("상담원 연결해 주세요", ["상담원"])


# --- answers of ask nodes, and their grammars ----------------------------------------------------


@pytest.fixture
def make_ask() -> Callable[..., AskNode]:
    def make(answer: str, **fields: Any) -> AskNode:
        return AskNode(id="q", slot="s", answer=answer, **fields)  # type: ignore[arg-type]

    return make


def test_number_and_digit_words() -> None:
    assert number_words(23, "en-US") == ("twenty three",)
    assert number_words(105, "en") == ("one hundred five",)
    assert number_words(23, "ko-KR") == ("이십삼", "스물셋", "스물세")
    assert number_words(20, "ko") == ("이십", "스물", "스무")
    assert number_words(10, "ko") == ("십", "열")
    assert number_words(1000, "en") == ()
    assert digit_words("ko") == ("공", "영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
    assert digit_words("de")[:3] == ("zero", "oh", "one")


def test_interpret_each_answer_type(make_ask: Callable[..., AskNode]) -> None:
    now = datetime(2025, 3, 12, 10)
    assert interpret(make_ask("yes_no"), "yes please", "en", now) == "yes"
    assert interpret(make_ask("yes_no"), "아니요", "ko", now) == "no"
    menu = make_ask("choice", choices=(Choice("a", ("apple",)), Choice("b", ("banana",))))
    assert interpret(menu, "a banana", "en", now) == "b"
    assert interpret(make_ask("number", min_value=1, max_value=9), "four", "en", now) == 4
    assert interpret(make_ask("number", min_value=1, max_value=9), "ten", "en", now) is None
    assert interpret(make_ask("digits", length=3), "one two", "en", now) is None
    assert interpret(make_ask("digits", max_length=3), "one two", "en", now) == "12"
    assert interpret(make_ask("date"), "next friday", "en", now) == "2025-03-21"
    assert interpret(make_ask("time"), "half past two", "en", now) == "14:30"
    assert interpret(make_ask("datetime"), "내일 오전 9시", "ko", now) == "2025-03-13T09:00"
    assert interpret(make_ask("free_text"), "  so   many  spaces ", "en", now) == "so many spaces"
    assert interpret(make_ask("free_text"), "   ", "en", now) is None


def test_bounds(make_ask: Callable[..., AskNode]) -> None:
    assert in_bounds(make_ask("number", min_value=2), 2)
    assert not in_bounds(make_ask("number", min_value=2), 1)
    assert in_bounds(make_ask("digits", min_length=2, max_length=3), "123")
    assert not in_bounds(make_ask("digits", min_length=2, max_length=3), "1234")
    assert not in_bounds(make_ask("digits", length=4), "123")
    assert iso(None) is None


def test_grammars(make_ask: Callable[..., AskNode]) -> None:
    assert grammar(make_ask("free_text"), "en") is None
    assert grammar(make_ask("date"), "en") is None
    assert grammar(make_ask("number"), "en") is None  # unbounded
    assert grammar(make_ask("number", min_value=0, max_value=200), "en") is None  # too wide
    small = grammar(make_ask("number", min_value=1, max_value=3), "en")
    assert small == ("one", "two", "three")
    yes_no = grammar(make_ask("yes_no"), "ko")
    assert yes_no is not None and "네" in yes_no and "yes" not in yes_no
    menu = make_ask("choice", choices=(Choice("a", ("Apple!", "apple")), Choice("b", ("?",))))
    assert grammar(menu, "en") == ("apple",)
    assert grammar(make_ask("digits"), "ko") == digit_words("ko")
