"""Normalising and matching what a caller said against the answers a flow expects.

Pure functions, no I/O. Text is normalised with Unicode NFKC, case-folded, stripped of punctuation
and symbols, and its whitespace collapsed. Hangul is kept intact: syllables stay composed (NFKC
never decomposes them) and compatibility jamo (``ㅋ``, ``ㅇ``) are left as they are instead of being
turned into conjoining jamo.

Matching a phrase against an utterance:

* a phrase with Hangul/CJK characters matches when it appears inside the utterance with the spaces
  removed (speech recognisers space Korean inconsistently, and particles attach to words:
  ``네요``, ``아니요``); a one-character phrase (``네``, ``예``) must instead be a whole word,
  because as a substring it would match far too much;
* any other phrase matches when its words appear as consecutive whole words of the utterance
  (``no`` never matches ``know``);
* failing that, a partial word overlap gives a lower score.

The best-scoring choice wins; a tie between two different choices is ambiguous and matches nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "Choice",
    "Match",
    "YesNoWords",
    "contains_keywords",
    "digit_words",
    "match_choice",
    "match_dtmf",
    "match_phrase",
    "match_yes_no",
    "normalise",
    "number_words",
    "base_language",
    "tokens",
    "yes_no_words",
    "YES",
    "NO",
]

YES = "yes"
NO = "no"

#: Minimum score for a partial word overlap to count as a match (half of a two-word phrase).
MIN_SCORE = 0.24

_COMPAT_JAMO = range(0x3131, 0x318F)


@dataclass(frozen=True, slots=True)
class Choice:
    """One answer a caller may give: the ``value`` stored in the slot, the ``phrases`` that select
    it, and an optional keypad key (``dtmf``) that selects it too."""

    value: str
    phrases: tuple[str, ...]
    dtmf: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """The choice an utterance selected, how well (0..1], and the phrase that matched."""

    value: str
    score: float
    phrase: str


@dataclass(frozen=True, slots=True)
class YesNoWords:
    """The words that mean yes and no in one language."""

    yes: tuple[str, ...]
    no: tuple[str, ...]

    @property
    def grammar(self) -> tuple[str, ...]:
        return self.yes + self.no

    def choices(self) -> tuple[Choice, Choice]:
        return (Choice(YES, self.yes, "1"), Choice(NO, self.no, "2"))


# fmt: off
_YES_NO: dict[str, YesNoWords] = {
    "en": YesNoWords(
        yes=(
            "yes", "yeah", "yep", "yup", "yes please", "sure", "of course", "correct", "right",
            "that's right", "ok", "okay", "absolutely", "certainly", "definitely", "affirmative",
        ),
        no=(
            "no", "nope", "nah", "no thanks", "no thank you", "not really", "not now",
            "negative", "don't", "do not", "i don't think so", "wrong", "incorrect",
        ),
    ),
    "ko": YesNoWords(
        yes=(
            "네", "예", "넵", "네네", "응", "그래요", "그래", "맞아요", "맞습니다", "좋아요",
            "좋습니다", "부탁해요", "부탁드려요", "그렇습니다", "그럼요",
        ),
        no=(
            "아니요", "아니오", "아니", "아뇨", "아닙니다", "아니에요", "싫어요", "됐어요",
            "필요 없어요", "안 할래요", "안 해요",
        ),
    ),
}
# fmt: on


def base_language(language: str) -> str:
    """``ko-KR`` → ``ko``; ``en_US`` → ``en``; empty → ``en``."""
    lang = language.replace("_", "-").split("-", 1)[0].strip().casefold()
    return lang or "en"


def yes_no_words(language: str) -> YesNoWords:
    """The yes/no words for ``language`` (a BCP 47 tag); English when the language is unknown."""
    return _YES_NO.get(base_language(language), _YES_NO["en"])


def _is_kept_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] in "LNM" or ch == "'"


def normalise(text: str) -> str:
    """NFKC, casefold, punctuation and symbols to spaces, spaces collapsed; Hangul kept intact."""
    parts: list[str] = []
    run: list[str] = []
    for ch in text:
        if ord(ch) in _COMPAT_JAMO:
            if run:
                parts.append(unicodedata.normalize("NFKC", "".join(run)))
                run.clear()
            parts.append(ch)
        else:
            run.append(ch)
    if run:
        parts.append(unicodedata.normalize("NFKC", "".join(run)))
    folded = "".join(parts).casefold().replace("\u2019", "'")
    cleaned = "".join(ch if _is_kept_char(ch) else " " for ch in folded)
    # An apostrophe is kept inside words (don't) but not at their edges ('quoted').
    words = (w.strip("'") for w in cleaned.split())
    return " ".join(w for w in words if w)


def tokens(text: str) -> list[str]:
    """The normalised words of ``text``."""
    return normalise(text).split()


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0xAC00 <= code <= 0xD7A3  # Hangul syllables
        or 0x1100 <= code <= 0x11FF  # Hangul jamo
        or 0x3130 <= code <= 0x318F  # Hangul compatibility jamo
        or 0x3040 <= code <= 0x30FF  # kana
        or 0x4E00 <= code <= 0x9FFF  # CJK ideographs
    )


def _has_cjk(text: str) -> bool:
    return any(_is_cjk(ch) for ch in text)


def _contains_words(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    if n == 0 or n > len(haystack):
        return False
    return any(list(haystack[i : i + n]) == list(needle) for i in range(len(haystack) - n + 1))


def match_phrase(utterance: str, phrase: str) -> float:
    """How well ``phrase`` is found in ``utterance``: 0 (not at all) to 1 (the whole utterance).

    Both arguments are raw text; they are normalised here.
    """
    utt = normalise(utterance)
    phr = normalise(phrase)
    if not utt or not phr:
        return 0.0
    if utt == phr:
        return 1.0
    utt_words = utt.split()
    phr_words = phr.split()
    utt_compact = utt.replace(" ", "")
    phr_compact = phr.replace(" ", "")
    coverage = len(phr_compact) / len(utt_compact)
    if _has_cjk(phr):
        if len(phr_compact) == 1:
            found = phr_compact in utt_words
        else:
            found = phr_compact in utt_compact
    else:
        found = _contains_words(utt_words, phr_words)
    if found:
        # A contained phrase always beats a partial overlap; longer coverage ranks higher.
        return 0.5 + 0.49 * min(coverage, 1.0)
    overlap = len(set(phr_words) & set(utt_words))
    if overlap == 0 or len(phr_words) < 2:
        return 0.0
    return 0.49 * overlap / len(phr_words)


def match_choice(
    utterance: str, choices: Iterable[Choice], *, min_score: float = MIN_SCORE
) -> Match | None:
    """The choice ``utterance`` selects, or None when nothing matches or the answer is ambiguous.

    When phrases of two different choices are both contained in the utterance, the answer is
    ambiguous ("sales, no, support") unless one phrase lies inside the other (``아니`` inside
    ``아니요``), in which case the longer one wins.
    """
    per_choice: dict[str, Match] = {}
    for choice in choices:
        for phrase in choice.phrases:
            score = match_phrase(utterance, phrase)
            if score < min_score:
                continue
            known = per_choice.get(choice.value)
            if known is None or score > known.score:
                per_choice[choice.value] = Match(choice.value, score, phrase)
    if not per_choice:
        return None
    contained = [m for m in per_choice.values() if m.score >= 0.5]
    if contained:
        keys = {m.value: normalise(m.phrase).replace(" ", "") for m in contained}
        survivors = [
            m
            for m in contained
            if not any(
                other.value != m.value
                and keys[m.value] != keys[other.value]
                and keys[m.value] in keys[other.value]
                for other in contained
            )
        ]
        return survivors[0] if len(survivors) == 1 else None
    ranked = sorted(per_choice.values(), key=lambda m: m.score, reverse=True)
    if len(ranked) > 1 and ranked[0].score == ranked[1].score:
        return None
    return ranked[0]


def match_dtmf(digits: str, choices: Sequence[Choice]) -> Match | None:
    """The choice selected by keypad ``digits``: a choice's own ``dtmf`` key, else its position
    (1 for the first choice) when no choice declares a key."""
    key = digits.strip()
    if not key:
        return None
    declared = any(c.dtmf for c in choices)
    for index, choice in enumerate(choices, start=1):
        own = choice.dtmf if declared else str(index)
        if own == key:
            return Match(choice.value, 1.0, key)
    return None


def match_yes_no(utterance: str, language: str) -> Match | None:
    """``Match(value="yes"|"no")`` for a yes/no answer in ``language``, or None."""
    return match_choice(utterance, yes_no_words(language).choices())


def contains_keywords(utterance: str, keywords: Iterable[str]) -> bool:
    """True when any of ``keywords`` is found in ``utterance`` (same rules as phrase matching)."""
    return any(match_phrase(utterance, k) >= 0.5 for k in keywords)


# --- words a recogniser should expect for numbers (grammar mode) --------------------------------

_EN_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SINO = "영 일 이 삼 사 오 육 칠 팔 구".split()
_NATIVE = ("", "하나", "둘", "셋", "넷", "다섯", "여섯", "일곱", "여덟", "아홉")
_NATIVE_BEFORE_NOUN = ("", "한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉")
_NATIVE_TENS = ("", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔")
_DIGIT_WORDS = {
    "en": ("zero", "oh", *_EN_ONES[1:10]),
    "ko": ("공", "영", *_SINO[1:]),
}


def _english_number(n: int) -> str:
    if n < 20:
        return _EN_ONES[n]
    if n < 100:
        return _EN_TENS[n // 10] + (f" {_EN_ONES[n % 10]}" if n % 10 else "")
    rest = f" {_english_number(n % 100)}" if n % 100 else ""
    return f"{_EN_ONES[n // 100]} hundred{rest}"


def _sino_number(n: int) -> str:
    out = ""
    for unit, name in ((100, "백"), (10, "십")):
        count, n = divmod(n, unit)
        if count:
            out += (_SINO[count] if count > 1 else "") + name
    return out + (_SINO[n] if n else "") or _SINO[0]


def number_words(n: int, language: str) -> tuple[str, ...]:
    """How ``n`` (0-999) is said in ``language``: Korean has Sino-Korean and native forms
    (``이십삼``, ``스물셋``, ``스물세``); other languages get English words."""
    if not 0 <= n <= 999:
        return ()
    if base_language(language) != "ko":
        return (_english_number(n),)
    forms = [_sino_number(n)]
    if 0 < n < 100:
        tens, unit = _NATIVE_TENS[n // 10], n % 10
        forms.append(tens + _NATIVE[unit])
        forms.append(("스무" if n == 20 else tens) + _NATIVE_BEFORE_NOUN[unit])
    return tuple(dict.fromkeys(forms))


def digit_words(language: str) -> tuple[str, ...]:
    """The words for the digits 0-9 in ``language`` (English unless Korean)."""
    return _DIGIT_WORDS["ko" if base_language(language) == "ko" else "en"]
