"""Cutting documents into passages: sizes, boundaries, overlap, Korean, and a property test."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwright.knowledge.chunking import chunk_text, split_sentences


def sentence(n: int, words: int = 15) -> str:
    """A distinct sentence of 5 + 5 * words characters: 'S007 w000 w001 ... w014.'"""
    return f"S{n:03d}" + "".join(f" w{i:03d}" for i in range(words)) + "."


def test_blank_text_has_no_passages() -> None:
    assert chunk_text("") == []
    assert chunk_text(" \n\n \t\n") == []


def test_a_short_document_is_one_passage_with_spaces_tidied() -> None:
    text = "  Opening hours:   9 to 5.\r\nClosed on Sundays.  \n\n\n Call us!  "
    assert chunk_text(text) == ["Opening hours: 9 to 5.\nClosed on Sundays.\n\nCall us!"]


def test_sentences_do_not_end_at_abbreviations_or_inside_numbers() -> None:
    line = "Dr. Kim sees patients at 9.30 a.m. on weekdays. Ask for J. Smith! Really? Yes…"
    assert split_sentences(line) == [
        "Dr. Kim sees patients at 9.30 a.m. on weekdays.",
        "Ask for J. Smith!",
        "Really?",
        "Yes…",
    ]


def test_korean_sentences_split_at_their_ends() -> None:
    line = (
        "영업시간은 평일 오전 9시부터 오후 6시까지입니다. "
        "주말에는 쉽니다! 주차가 되나요? 네。무료"
    )
    assert split_sentences(line) == [
        "영업시간은 평일 오전 9시부터 오후 6시까지입니다.",
        "주말에는 쉽니다!",
        "주차가 되나요?",
        "네。",
        "무료",
    ]


def test_passages_are_packed_from_whole_sentences_within_the_limits() -> None:
    text = " ".join(sentence(n) for n in range(60))  # one long paragraph, ~75 chars a sentence
    chunks = chunk_text(text)
    assert len(chunks) > 5
    for chunk in chunks:
        assert len(chunk) <= 800
        assert chunk.startswith("S") and chunk.endswith(".")
    for chunk in chunks[:-1]:
        assert len(chunk) > 800 - 81  # full: the next sentence would not have fitted


def test_a_cut_inside_a_paragraph_repeats_the_last_sentence() -> None:
    text = " ".join(sentence(n) for n in range(30))
    chunks = chunk_text(text)
    assert len(chunks) >= 3
    for before, after in zip(chunks, chunks[1:], strict=False):
        last = split_sentences(before)[-1]
        assert after.startswith(last + " ")


def test_passages_follow_paragraphs_without_overlap() -> None:
    paragraphs = [" ".join(sentence(p * 10 + i) for i in range(6)) for p in range(4)]
    assert all(400 <= len(p) <= 800 for p in paragraphs)
    assert chunk_text("\n\n".join(paragraphs)) == paragraphs


def test_small_paragraphs_are_joined_up_to_the_minimum() -> None:
    paragraphs = [sentence(n, words=29) for n in range(8)]  # 150 characters each
    chunks = chunk_text("\n\n".join(paragraphs))
    assert chunks[0] == "\n\n".join(paragraphs[:3])  # 3 paragraphs reach 400 characters
    assert all(len(c) <= 800 for c in chunks)
    assert "\n\n".join(chunks) == "\n\n".join(paragraphs)


def test_a_heading_starts_a_passage_once_the_minimum_is_reached() -> None:
    intro = " ".join(sentence(n) for n in range(6))  # 485 characters: over the minimum
    section = " ".join(sentence(n) for n in range(10, 14))
    chunks = chunk_text(f"# Guide\n\n{intro}\n## Refunds\n{section}")
    assert chunks == [f"# Guide\n\n{intro}", f"## Refunds\n{section}"]


def test_a_heading_never_ends_a_passage() -> None:
    intro = " ".join(sentence(n) for n in range(3))  # under the minimum: no cut at the heading
    section = sentence(9, words=120)  # 605 characters: does not fit after the intro
    chunks = chunk_text(f"{intro}\n\n## Refunds\n\n{section}")
    assert chunks == [intro, f"## Refunds\n\n{section}"]


def test_overlong_sentences_and_words_are_cut() -> None:
    words = " ".join(f"word{i}" for i in range(400))  # no sentence end, ~3,500 characters
    chunks = chunk_text(words)
    assert all(len(c) <= 800 for c in chunks)
    assert " ".join(chunks).split() == words.split()  # cut between words, nothing lost
    blob = "가" * 2000  # text without spaces
    assert chunk_text(blob) == ["가" * 800, "가" * 800, "가" * 400]


def test_korean_document_and_decomposed_hangul() -> None:
    sentences = [
        f"{n}번 안내 사항입니다. 자세한 내용은 고객센터 상담원에게 문의하시기 바랍니다."
        for n in range(40)
    ]
    text = unicodedata.normalize("NFD", " ".join(sentences))
    chunks = chunk_text(text)
    assert len(chunks) > 2
    for chunk in chunks:
        assert unicodedata.is_normalized("NFC", chunk)
        assert len(chunk) <= 800
        assert chunk.endswith("바랍니다.")


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        chunk_text("x", min_chars=900, max_chars=800)
    with pytest.raises(ValueError):
        chunk_text("x", overlap_chars=800)


_WORD = st.text(alphabet="abcdefghij가나다", min_size=1, max_size=12)
_SENTENCE = st.lists(_WORD, min_size=1, max_size=30).map(lambda ws: " ".join(ws) + ".")
_PARAGRAPH = st.lists(_SENTENCE, min_size=1, max_size=8).map(" ".join)
_DOCUMENT = st.lists(_PARAGRAPH, min_size=1, max_size=8).map("\n\n".join)


@settings(max_examples=150, deadline=None)
@given(_DOCUMENT, st.sampled_from([(40, 120, 30), (400, 800, 200), (100, 100, 0)]))
def test_passages_cover_the_document_in_order(text: str, limits: tuple[int, int, int]) -> None:
    low, high, overlap = limits
    chunks = chunk_text(text, min_chars=low, max_chars=high, overlap_chars=overlap)
    words = re.split(r"\s+", text.strip())
    covered = 0
    for chunk in chunks:
        assert len(chunk) <= high
        part = re.split(r"\s+", chunk)
        # each passage is a run of the document's words that starts at or before where the last
        # one ended (overlap) and goes further
        starts = [
            s for s in range(max(0, covered - len(part)), covered + 1)
            if words[s : s + len(part)] == part
        ]
        assert starts, f"passage {chunk!r} is not a continuation of the document"
        covered = starts[-1] + len(part)
    assert covered == len(words)
