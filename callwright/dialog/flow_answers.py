"""What a caller's answer to an ``ask`` node means: the slot value that a spoken answer or a
keypad entry gives, and the phrases the recogniser should expect.

Pure functions, no I/O. Spoken answers are matched against the choices
(:mod:`callwright.dialog.matching`) or parsed (:mod:`callwright.dialog.spoken_numbers`,
:mod:`callwright.dialog.spoken_dates`); keypad entries are gathered key by key (:func:`press`) and
read by :func:`interpret_keys`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time

from callwright.dialog.flow import AskNode, SlotValue
from callwright.dialog.matching import (
    Choice,
    digit_words,
    match_choice,
    match_dtmf,
    normalise,
    number_words,
    yes_no_words,
)
from callwright.dialog.spoken_dates import parse_date, parse_datetime, parse_time
from callwright.dialog.spoken_numbers import parse_digits, parse_number

__all__ = [
    "answer_choices",
    "grammar",
    "in_bounds",
    "interpret",
    "interpret_keys",
    "iso",
    "press",
]


# --- what an ask node's answer means ------------------------------------------------------------

#: Largest number range whose words are put in the recogniser's grammar.
MAX_GRAMMAR_NUMBERS = 100


def answer_choices(ask: AskNode, language: str) -> Sequence[Choice]:
    """The choices of a ``choice`` or ``yes_no`` question (yes/no in ``language``)."""
    return yes_no_words(language).choices() if ask.answer == "yes_no" else ask.choices


def in_bounds(ask: AskNode, value: int | str) -> bool:
    """Whether a number lies within ``min``/``max``, or a digit string has an allowed length."""
    if isinstance(value, int):
        low, high = ask.min_value, ask.max_value
    elif ask.length is not None:
        return len(value) == ask.length
    else:
        value, low, high = len(value), ask.min_length, ask.max_length
    return (low is None or value >= low) and (high is None or value <= high)


def iso(value: date | time | datetime | None) -> str | None:
    """``YYYY-MM-DD``, ``HH:MM`` or ``YYYY-MM-DDTHH:MM``."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return value.isoformat() if value is not None else None


def interpret(ask: AskNode, text: str, language: str, now: datetime) -> SlotValue | None:
    """The slot value a spoken answer gives ``ask``, or None when it gives none (or one out of
    bounds). Dates and times are ISO strings (see :func:`iso`), relative to ``now``."""
    said = " ".join(text.split())
    answer = ask.answer
    if not said or answer == "free_text":
        return said or None
    if answer in ("yes_no", "choice"):
        found = match_choice(said, answer_choices(ask, language))
        return found.value if found else None
    if answer in ("number", "digits"):
        value = parse_number(said) if answer == "number" else parse_digits(said)
        return value if value is not None and in_bounds(ask, value) else None
    if answer == "date":
        return iso(parse_date(said, now))
    return iso(parse_time(said) if answer == "time" else parse_datetime(said, now))


def grammar(ask: AskNode, language: str) -> tuple[str, ...] | None:
    """The phrases the recogniser should expect for ``ask`` (closed answers, and numbers in a
    small range); None for free speech."""
    low, high = ask.min_value, ask.max_value
    if ask.answer in ("yes_no", "choice"):
        phrases: Iterable[str] = (p for c in answer_choices(ask, language) for p in c.phrases)
    elif ask.answer == "digits":
        phrases = digit_words(language)
    elif ask.answer == "number" and low is not None and high is not None:
        if low < 0 or high - low >= MAX_GRAMMAR_NUMBERS:
            return None
        phrases = (w for n in range(low, high + 1) for w in number_words(n, language))
    else:
        return None
    cleaned = (normalise(p) for p in phrases)
    return tuple(dict.fromkeys(p for p in cleaned if p)) or None


# --- keypad entries ------------------------------------------------------------------------------


_KEYED_LENGTH = {"date": 8, "time": 4, "datetime": 12}


def _keys_of(ask: AskNode, language: str) -> list[str]:
    choices = answer_choices(ask, language)
    declared = any(c.dtmf for c in choices)
    return [(c.dtmf or "") if declared else str(i) for i, c in enumerate(choices, start=1)]


def press(ask: AskNode, keys: str, key: str, language: str) -> tuple[str, bool]:
    """One more keypad ``key`` in an entry of ``keys``: the new entry, and whether it is complete.

    ``#`` completes an entry and ``*`` starts it again (unless a choice declares them as keys); a
    choice is complete once no other key starts with the entry, a number once another digit
    would pass ``max``, digits at their (maximum) length, dates at 8 keys and times at 4.
    """
    closed = ask.answer in ("yes_no", "choice")
    if closed and any(k.startswith(keys + key) for k in _keys_of(ask, language)):
        keys += key
    elif key == "#":
        return keys, True
    elif key == "*" and not closed:
        return "", False
    else:
        keys += key
    if ask.answer == "free_text":
        return keys, True
    if closed:
        return keys, not any(k != keys and k.startswith(keys) for k in _keys_of(ask, language))
    if ask.answer == "number":
        top = ask.max_value
        return keys, len(keys) >= 9 or (top is not None and keys.isdigit() and int(keys) * 10 > top)
    if ask.answer == "digits":
        return keys, ask.keyed_max is not None and len(keys) >= ask.keyed_max
    return keys, len(keys) >= _KEYED_LENGTH[ask.answer]


def _keyed_date(keys: str, now: datetime) -> date | None:
    try:
        if len(keys) == 8:
            return date(int(keys[:4]), int(keys[4:6]), int(keys[6:]))
        found = date(now.year, int(keys[:2]), int(keys[2:]))
        return found.replace(year=now.year + 1) if found < now.date() else found
    except ValueError:
        return None


def _keyed_time(keys: str) -> time | None:
    hour, minute = int(keys[:-2] or "0"), int(keys[-2:])
    return time(hour, minute) if hour < 24 and minute < 60 else None


def interpret_keys(ask: AskNode, keys: str, language: str, now: datetime) -> SlotValue | None:
    """The slot value a complete keypad entry gives ``ask``, or None. Dates are keyed ``MMDD`` or
    ``YYYYMMDD``, times ``HHMM`` (24 h), date-times ``MMDDHHMM`` or ``YYYYMMDDHHMM``."""
    if ask.answer == "free_text" or not keys:
        return keys or None
    if ask.answer in ("yes_no", "choice"):
        found = match_dtmf(keys, answer_choices(ask, language))
        return found.value if found else None
    if not keys.isdigit():
        return None
    if ask.answer in ("number", "digits"):
        value = int(keys) if ask.answer == "number" else keys
        return value if in_bounds(ask, value) else None
    if ask.answer == "time" and len(keys) in (3, 4):
        return iso(_keyed_time(keys))
    if ask.answer == "date" and len(keys) in (4, 8):
        return iso(_keyed_date(keys, now))
    if ask.answer == "datetime" and len(keys) in (8, 12):
        day, at = _keyed_date(keys[:-4], now), _keyed_time(keys[-4:])
        return iso(datetime.combine(day, at)) if day and at else None
    return None
