"""What a caller's answer should hold, and whether what the recogniser heard so far holds it.

:class:`Expectation` says what the turn waits for: a closed answer (a grammar's phrases), a digit
string (with its length when known) or free speech. :func:`completeness` judges the recogniser's
partial (and, for Korean, the syllables counted in the sound) against it: nothing yet, plainly
unfinished (a phrase cut short, a digit string short of its length, a trailing hesitation or
connective), open (may be done) or complete. Pure functions of text and counts; the
:class:`~callwright.speech.turn_end.TurnEndDecider` turns the verdict into a silence.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class AnswerKind(enum.Enum):
    CLOSED = "closed"  # one of a grammar's phrases (yes/no, a choice, a number in a range)
    DIGITS = "digits"  # a digit string, read digit by digit, maybe in groups
    FREE = "free"      # anything


#: Digit words per language family, as the recognisers spell them (lower case).
DIGIT_WORDS: dict[str, tuple[str, ...]] = {
    "ko": ("공", "영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"),
    "en": ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
}

#: Words after which a speaker is not done: hesitations and connectives, per language family.
UNFINISHED_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({
        "uh", "um", "er", "erm", "hmm", "mm", "and", "or", "but", "so", "to", "the", "a", "an",
        "of", "for", "with", "my", "i", "i'd", "i'm", "like", "is", "at", "in", "on", "that",
        "because", "then", "well", "please",
    }),
    "ko": frozenset({
        "음", "어", "그", "저", "아", "그러니까", "그리고", "그래서", "근데", "그런데", "저는",
        "제가", "좀", "이제", "뭐",
    }),
}

#: Language families whose digit words are one syllable each: there, the syllables counted in the
#: sound (:class:`~callwright.speech.syllables.SyllableCounter`) count the digits said, which the
#: recogniser's words do not on the telephone band (it merges and drops digits, and adds some).
#: Their script writes one character per syllable (Hangul), so a closed answer's phrases have a
#: known length in syllables too.
SYLLABIC_DIGITS = frozenset({"ko"})

#: Korean sentence endings that close a statement or a question (polite and plain forms).
KO_FINAL_ENDINGS = ("요", "다", "까", "죠", "네", "니다", "세요", "어", "아")

_SPACE = re.compile(r"\s+")


def hangul_syllables(text: str) -> int:
    """The Hangul syllables (one character each) in ``text``."""
    return sum(1 for ch in text if "\uac00" <= ch <= "\ud7a3")


def family(language: str) -> str:
    """``ko`` for Korean, ``en`` for everything else (the words this module knows)."""
    return "ko" if language.lower().startswith("ko") else "en"


def words_of(text: str) -> list[str]:
    """The partial's words, lower case, without Vosk's ``[unk]``."""
    return [w for w in _SPACE.split(text.strip().lower()) if w and w != "[unk]"]


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the caller's turn should hold."""

    kind: AnswerKind
    phrases: tuple[str, ...] = ()
    language: str = "en"
    min_digits: int | None = None
    max_digits: int | None = None

    @classmethod
    def free(cls, language: str = "en") -> Expectation:
        return cls(AnswerKind.FREE, language=language)

    @classmethod
    def from_grammar(
        cls, grammar: tuple[str, ...] | None, language: str,
        *, min_digits: int | None = None, max_digits: int | None = None,
    ) -> Expectation:
        """The expectation a :class:`~callwright.dialog.actions.Listen` implies: free speech
        without a grammar, digits when every phrase is a digit word, a closed answer otherwise."""
        if not grammar:
            return cls.free(language)
        phrases = tuple(" ".join(words_of(p)) for p in grammar if words_of(p))
        digit_words = set(DIGIT_WORDS[family(language)])
        if phrases and all(p in digit_words for p in phrases):
            return cls(AnswerKind.DIGITS, phrases, language, min_digits, max_digits)
        return cls(AnswerKind.CLOSED, phrases, language)


class Completeness(enum.Enum):
    NOTHING = "nothing"        # no words yet
    UNFINISHED = "unfinished"  # plainly not done: wait the full silence
    OPEN = "open"              # may be done (free speech, digits of unknown length)
    COMPLETE = "complete"      # the expected answer is all there


def completeness(
    expect: Expectation, partial: str, syllables: int | None = None,
) -> Completeness:
    """How complete ``partial`` is as an answer to ``expect``; ``syllables`` is the number of
    syllables heard in the turn so far, when counted (it counts a Korean digit string)."""
    words = words_of(partial)
    fam = family(expect.language)
    counted = (expect.kind is AnswerKind.DIGITS and fam in SYLLABIC_DIGITS
               and bool(syllables))  # digits judged from the sound, words or not
    if not words and syllables and expect.kind is AnswerKind.CLOSED and fam in SYLLABIC_DIGITS:
        return _closed_by_sound(expect.phrases, syllables)
    if (expect.kind is AnswerKind.DIGITS and fam not in SYLLABIC_DIGITS and syllables
            and expect.min_digits is not None and syllables < expect.min_digits
            and _digit_words(words, fam) < expect.min_digits):
        # Every digit word has a syllable or more ("seven" two): fewer syllables heard than the
        # digits asked for means not all were said, whatever the recogniser made of them.
        return Completeness.UNFINISHED
    if not words and not counted:
        return Completeness.NOTHING
    if words and words[-1] in UNFINISHED_WORDS[fam]:
        return Completeness.UNFINISHED
    if expect.kind is AnswerKind.CLOSED:
        return _closed(expect.phrases, words)
    if expect.kind is AnswerKind.DIGITS:
        return _digits(expect, words, fam, syllables)
    if fam == "ko" and len(words) > 1 and words[-1].endswith(KO_FINAL_ENDINGS):
        # A Korean sentence ends with its verb ending ("예약하고 싶어요"). Its absence proves
        # nothing: the recogniser often gets the last syllable wrong.
        return Completeness.COMPLETE
    return Completeness.OPEN


def _closed(phrases: tuple[str, ...], words: list[str]) -> Completeness:
    said = " ".join(words)
    for phrase in phrases:
        if said == phrase or said.endswith(" " + phrase):
            longer = any(p != phrase and p.startswith(phrase + " ") for p in phrases)
            return Completeness.OPEN if longer else Completeness.COMPLETE
    if any(p.startswith(said + " ") for p in phrases):
        return Completeness.UNFINISHED  # the first words of a longer phrase
    return Completeness.OPEN  # outside the grammar (free-form fallback, [unk]): no judgement


def _closed_by_sound(phrases: tuple[str, ...], syllables: int) -> Completeness:
    """A closed answer whose words the recogniser has not given yet (its partial lags the audio
    by up to ~300 ms): complete when as many syllables were heard as one of the phrases has,
    unless a phrase goes on from another ("예약" / "예약 취소"), where only the words can tell."""
    if any(q.startswith(p + " ") for p in phrases for q in phrases):
        return Completeness.NOTHING
    if syllables in {hangul_syllables(p) for p in phrases}:
        return Completeness.COMPLETE
    return Completeness.NOTHING


def _digit_words(words: list[str], fam: str) -> int:
    """How many of ``words`` are digit words of the language family ``fam``."""
    digit_words = set(DIGIT_WORDS[fam])
    return sum(1 for w in words if w in digit_words)


def _digits(
    expect: Expectation, words: list[str], fam: str, syllables: int | None,
) -> Completeness:
    count = (syllables if syllables is not None and fam in SYLLABIC_DIGITS
             else _digit_words(words, fam))
    if expect.max_digits is not None and count >= expect.max_digits:
        return Completeness.COMPLETE
    if expect.min_digits is not None and count < expect.min_digits:
        return Completeness.UNFINISHED
    if expect.min_digits is not None and expect.max_digits == expect.min_digits:
        return Completeness.COMPLETE
    return Completeness.OPEN
