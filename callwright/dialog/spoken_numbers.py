"""Turning numbers a caller said into slot values: numbers and digit strings.

English and Korean, whatever the call's language (the script of the text decides). Pure functions,
no I/O.

* numbers: ``23``, ``twenty three``, ``a hundred and five``, ``스물셋``, ``이십삼``, ``세 명이요``;
* digit strings: ``one two three``, ``oh double five``, ``일 이 삼``, ``공일공``, ``123``.

Dates and times said by a caller are :mod:`callwright.dialog.spoken_dates`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = [
    "numbers_in",
    "parse_digits",
    "parse_number",
]

# fmt: off
_EN_SMALL = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_EN_TENS = {w: 10 * i for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_SINO_DIGITS = {"영": 0, "공": 0, "일": 1, "이": 2, "삼": 3, "사": 4, "오": 5, "육": 6, "륙": 6,
                "칠": 7, "팔": 8, "구": 9}
_SINO_UNITS = {"십": 10, "백": 100, "천": 1000}
_NATIVE_TENS = {"열": 10, "스물": 20, "스무": 20, "서른": 30, "마흔": 40, "쉰": 50, "예순": 60,
                "일흔": 70, "여든": 80, "아흔": 90}
_NATIVE_UNITS = {"하나": 1, "한": 1, "둘": 2, "두": 2, "셋": 3, "세": 3, "석": 3, "넷": 4,
                 "네": 4, "다섯": 5, "여섯": 6, "일곱": 7, "여덟": 8, "아홉": 9}
_KO_COUNTERS = sorted(
    "명 분 개 시 살 번 장 대 잔 병 권 마리 사람 인 월 일 년 주 시간 층 호 원 달러 퍼센트 자리 박"
    .split(), key=len, reverse=True)
_KO_PARTICLES = sorted(
    "이요 요 이에요 예요 입니다 이다 이 가 은 는 을 를 에 에서 까지 부터 "
    "정도 쯤 씩 만 도 로 으로 이랑"
    .split(), key=len, reverse=True)
# fmt: on

_WORD = re.compile(r"\d+:\d{2}|\d+|[^\W\d_]+(?:'[^\W\d_]+)?")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,234
    text = re.sub(r"\b([ap])\.?\s?m\b\.?", r"\1m", text)  # p.m. / a m
    return re.sub(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)", " ", text)  # 3pm, 5th


# --- English numbers ----------------------------------------------------------------------------


def _en_kind(words: Sequence[str], i: int) -> tuple[str, int] | None:
    w = words[i]
    if w.isdigit():
        return "num", int(w)
    if w in _EN_SMALL:
        return ("unit" if _EN_SMALL[w] < 10 else "teen"), _EN_SMALL[w]
    if w in _EN_TENS:
        return "tens", _EN_TENS[w]
    if w in _EN_SCALES:
        return "scale", _EN_SCALES[w]
    if w == "a" and i + 1 < len(words) and words[i + 1] in _EN_SCALES:
        return "a", 1
    nxt = words[i + 1] if i + 1 < len(words) else ""
    if w == "and" and (nxt in _EN_SMALL or nxt in _EN_TENS):
        return "and", 0
    return None


_EN_AFTER: dict[str, set[str | None]] = {  # which kinds may follow which inside one number
    "unit": {None, "tens", "hundred", "scale", "and"},
    "teen": {None, "hundred", "scale", "and"},
    "tens": {None, "hundred", "scale", "and"},
    "hundred": {"unit", "teen", "a", "num"},
    "scale": {"unit", "teen", "tens", "hundred", "a", "num"},
    "and": {"hundred", "scale"},
    "a": {None},
    "num": {None},
}


def _en_numbers(words: Sequence[str]) -> list[tuple[int, int, int]]:
    """``(value, start, end)`` of every number phrase in ``words`` (end exclusive)."""
    out: list[tuple[int, int, int]] = []
    i = 0
    while i < len(words):
        start, total, current = i, 0, 0
        last: str | None = None
        while i < len(words):
            found = _en_kind(words, i)
            if found is None:
                break
            kind, value = found
            if kind == "scale" and value == 100:
                kind = "hundred"
            if last not in _EN_AFTER[kind] or (kind == "hundred" and current >= 100):
                break
            if kind == "hundred":
                current = (current or 1) * 100
            elif kind == "scale":
                total, current = total + (current or 1) * value, 0
            else:
                current += value
            last = kind
            i += 1
        if last is None:
            i += 1
        elif last != "and":
            out.append((total + current, start, i))
    return out


# --- Korean numbers -----------------------------------------------------------------------------


def _prefix(s: str, j: int, table: dict[str, int]) -> tuple[str, int] | None:
    for size in (2, 1):
        piece = s[j : j + size]
        if len(piece) == size and piece in table:
            return piece, table[piece]
    return None


def _ko_candidates(s: str, i: int) -> list[tuple[int, int]]:
    """Every ``(value, end)`` such that ``s[i:end]`` reads as one number (digits, Sino-Korean or
    native Korean)."""
    out: list[tuple[int, int]] = []
    digits = re.match(r"\d+", s[i:])
    if digits:
        out.append((int(digits.group()), i + digits.end()))
    total = section = 0
    digit: int | None = None
    last_unit, j = 10**9, i
    while j < len(s):  # Sino-Korean: 이십삼, 천구백팔십, 이만 삼천
        ch = s[j]
        if ch in _SINO_DIGITS and digit is None:
            digit = _SINO_DIGITS[ch]
        elif ch in _SINO_UNITS and _SINO_UNITS[ch] < last_unit:
            section += (1 if digit is None else digit) * _SINO_UNITS[ch]
            digit, last_unit = None, _SINO_UNITS[ch]
        elif ch == "만" and total == 0:
            total, section, digit, last_unit = (section + (digit or 0) or 1) * 10000, 0, None, 10**4
        else:
            break
        j += 1
        out.append((total + section + (digit or 0), j))
    j, value = i, 0
    tens = _prefix(s, j, _NATIVE_TENS)  # native Korean: 스물셋, 열두, 세
    if tens is not None:
        j, value = j + len(tens[0]), tens[1]
        out.append((value, j))
    unit = _prefix(s, j, _NATIVE_UNITS)
    if unit is not None and not (tens is not None and tens[0] == "스무"):
        out.append((value + unit[1], j + len(unit[0])))
    return out


def _strip_any(rest: str, options: Sequence[str]) -> str | None:
    for option in options:
        if rest.startswith(option):
            return rest[len(option) :]
    return None


def _suffix_ok(rest: str) -> bool:
    """Whether what follows a number in a word is a counter and/or particles (명이요, 이에요)."""
    after_counter = _strip_any(rest, _KO_COUNTERS)
    if after_counter is not None:
        rest = after_counter
    while rest:
        stripped = _strip_any(rest, _KO_PARTICLES)
        if stripped is None:
            return False
        rest = stripped
    return True


def _starts_with_counter(word: str) -> bool:
    return _strip_any(word, _KO_COUNTERS) is not None


def _ko_numbers(tokens: Sequence[str]) -> list[int]:
    out: list[int] = []
    i = 0
    while i < len(tokens):
        for j in range(min(len(tokens), i + 4), i, -1):
            s = "".join(tokens[i:j])
            boundary = len("".join(tokens[i : j - 1]))
            fits = [(e, v) for v, e in _ko_candidates(s, 0) if e > boundary and _suffix_ok(s[e:])]
            if not fits:
                continue
            end, value = max(fits)
            if s[:end] == "네":  # also "yes": a number only with a counter (네 명)
                after = s[end:] or (tokens[j] if j < len(tokens) else "")
                if not _starts_with_counter(after):
                    continue
            out.append(value)
            i = j
            break
        else:
            i += 1
    return out


def numbers_in(text: str) -> list[int]:
    """Every number said in ``text``, in order (English and Korean, words or digits)."""
    out: list[int] = []
    korean: list[str] = []
    plain: list[str] = []
    for token in _clean(text).split():
        if _HANGUL.search(token):
            out.extend(v for v, _, _ in _en_numbers(_WORD.findall(" ".join(plain))))
            plain = []
            korean.append(re.sub(r"[^\w]", "", token))
        else:
            out.extend(_ko_numbers(korean))
            korean = []
            plain.append(token)
    out.extend(v for v, _, _ in _en_numbers(_WORD.findall(" ".join(plain))))
    out.extend(_ko_numbers(korean))
    return out


def parse_number(text: str) -> int | None:
    """The number said in ``text``; None when there is none, or several different ones."""
    numbers = set(numbers_in(text))
    return numbers.pop() if len(numbers) == 1 else None


def parse_digits(text: str) -> str | None:
    """A digit string read out digit by digit (``oh double five``, ``일 이 삼``, ``123``), or said
    as numbers (``twenty one`` is ``"21"``); None when nothing in ``text`` is a digit."""
    out: list[str] = []
    repeat = 1
    words = [re.sub(r"[^\w]", "", w) for w in _clean(text).split()]
    for n, word in enumerate(words):
        near = {words[k] for k in (n - 1, n + 1) if 0 <= k < len(words)}
        value: str | None = None
        if word in ("double", "triple"):
            repeat = 2 if word == "double" else 3
            continue
        if word.isdigit():
            value = word
        elif word in ("oh", "o") and near & (set(_EN_SMALL) | {"oh", "o", "double", "triple"}):
            value = "0"
        elif _EN_SMALL.get(word, 10) < 10:
            value = str(_EN_SMALL[word])
        elif _HANGUL.search(word):
            value = _ko_digit_run(word)
            if value is None and _ko_numbers([word]):
                value = "?"
        elif word in _EN_SMALL or word in _EN_TENS or word in _EN_SCALES:
            value = "?"
        if value == "?":  # numbers, not digits: "twenty one", "스물하나"
            numbers = numbers_in(text)
            return "".join(str(v) for v in numbers) if numbers else None
        if value is not None:
            out.append(value * repeat)
        repeat = 1
    return "".join(out) or None


def _ko_digit_run(word: str) -> str | None:
    """``공일공`` → ``"010"``; a particle may follow (``삼이요``); else None."""
    out = ""
    for k, ch in enumerate(word):
        if ch not in _SINO_DIGITS:
            return out if out and _suffix_ok(word[k:]) else None
        out += str(_SINO_DIGITS[ch])
    return out or None
