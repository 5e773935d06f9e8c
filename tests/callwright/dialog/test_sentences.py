"""The incremental sentence splitter."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callwright.dialog.sentences import SentenceSplitter

Split = Callable[..., list[str]]


@pytest.fixture
def split() -> Split:
    """Feed ``deltas`` to a new splitter; return every sentence, the flushed rest included."""

    def run(*deltas: str, min_chars: int = 6, max_chars: int = 160) -> list[str]:
        splitter = SentenceSplitter(min_chars=min_chars, max_chars=max_chars)
        out: list[str] = []
        for delta in deltas:
            out.extend(splitter.push(delta))
        rest = splitter.flush()
        if rest is not None:
            out.append(rest)
        return out

    return run


def test_splits_on_sentence_ends(split: Split) -> None:
    assert split("Hello there. How are you? I am fine! Thanks") == [
        "Hello there.",
        "How are you?",
        "I am fine!",
        "Thanks",
    ]


def test_sentence_is_returned_as_soon_as_it_is_known_to_be_complete() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("Hello there") == []
    assert splitter.push(".") == []  # could still be 3.5 or e.g.
    assert splitter.push(" How") == ["Hello there."]
    assert splitter.pending == " How"


def test_cjk_full_stop_ends_a_sentence_at_once() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("予約を受け付けました。") == ["予約を受け付けました。"]


def test_korean_sentences(split: Split) -> None:
    assert split("예약을 접수했습니다. 네. 안녕히 계세요.") == [
        "예약을 접수했습니다.",
        "네. 안녕히 계세요.",  # "네." is shorter than min_chars: merged with the next
    ]


@pytest.mark.parametrize(
    "text",
    [
        "The price is 3.5 dollars today",
        "Call Dr. Smith tomorrow please",
        "Bring fruit, e.g. apples and pears",
        "It costs 1,000.50 in total here",
        "Ask J. Smith at the front desk",
        "Visit example.com for the details",
        "Meet at 10 a.m. on the first floor",
    ],
)
def test_no_split_inside_numbers_abbreviations_and_names(split: Split, text: str) -> None:
    assert split(text) == [text]


def test_decimal_streamed_across_deltas_is_not_split(split: Split) -> None:
    assert split("It is 3", ".", "5 degrees outside. Brr, cold") == [
        "It is 3.5 degrees outside.",
        "Brr, cold",
    ]


def test_abbreviation_streamed_across_deltas(split: Split) -> None:
    assert split("Please see Dr", ".", " Kim now. Then go") == [
        "Please see Dr. Kim now.",
        "Then go",
    ]


def test_newline_ends_a_sentence(split: Split) -> None:
    assert split("First line here\nSecond line here\n\nThird") == [
        "First line here",
        "Second line here",
        "Third",
    ]


def test_closing_quotes_stay_with_their_sentence(split: Split) -> None:
    assert split('He said "stop now." Then he left') == ['He said "stop now."', "Then he left"]


def test_repeated_marks(split: Split) -> None:
    assert split("Really?! Yes, truly... Okay then") == ["Really?!", "Yes, truly...", "Okay then"]


def test_short_fragments_are_merged(split: Split) -> None:
    assert split("Hi. Ok. I will check that for you.", min_chars=10) == [
        "Hi. Ok. I will check that for you."
    ]
    assert split("Hi. Ok. I will check that for you.", min_chars=2) == [
        "Hi.",
        "Ok.",
        "I will check that for you.",
    ]


def test_long_text_is_cut_at_a_comma_first() -> None:
    splitter = SentenceSplitter(min_chars=5, max_chars=40)
    out = splitter.push("We have apples, pears and plums and also some very fine cherries")
    assert out == ["We have apples,", "pears and plums and also some very"]
    assert splitter.flush() == "fine cherries"


def test_long_text_without_comma_is_cut_at_a_space() -> None:
    splitter = SentenceSplitter(min_chars=5, max_chars=20)
    out = splitter.push("one two three four five six seven")
    assert out[0] == "one two three four"
    assert all(len(s) <= 20 for s in out)


def test_long_text_without_any_break_is_cut_hard() -> None:
    splitter = SentenceSplitter(min_chars=5, max_chars=10)
    assert splitter.push("x" * 25) == ["x" * 10, "x" * 10]
    assert splitter.flush() == "x" * 5


def test_flush_on_empty_returns_none() -> None:
    splitter = SentenceSplitter()
    assert splitter.flush() is None
    splitter.push("   ")
    assert splitter.flush() is None


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        SentenceSplitter(min_chars=10, max_chars=10)


_words = st.text(alphabet="abc xyz.,!?\n3", min_size=0, max_size=200)


@given(_words, st.lists(st.integers(min_value=0, max_value=200), max_size=10))
def test_streaming_in_any_pieces_loses_no_words(text: str, cuts: list[int]) -> None:
    splitter = SentenceSplitter(min_chars=3, max_chars=30)
    points = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    out: list[str] = []
    for piece in pieces:
        out.extend(splitter.push(piece))
    rest = splitter.flush()
    if rest:
        out.append(rest)
    assert "".join("".join(out).split()) == "".join(text.split())
    assert all(s == s.strip() and s for s in out)
    assert all(len(s) <= 30 for s in out[:-1] if "\n" not in s)
