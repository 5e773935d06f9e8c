"""Cutting a knowledge document into passages small enough to retrieve and to put in a prompt.

A document (plain text or markdown) is read as paragraphs (separated by blank lines), lines and
sentences. Passages are packed from whole sentences, greedily, up to ``max_chars``; a passage also
ends at a paragraph break once it holds ``min_chars``, so passages follow the document's own
structure. When a cut falls inside a paragraph, the next passage repeats the last sentence before
the cut (if it is at most ``overlap_chars`` long), so a fact split across the cut keeps its
context. A markdown heading never ends a passage: it moves to the next one, with its section.

Sentences end at ``. ! ? …`` followed by a space (not after an abbreviation such as ``Dr.`` or an
initial), at ``。！？`` and at line ends, which suits English and Korean (``…입니다. 다음…``).
A sentence longer than ``max_chars`` is cut between words, and a word longer than that (a URL, or
text in a script written without spaces) is cut where it must be.

The text is normalised to Unicode NFC first (Hangul typed on some systems arrives decomposed, and
would then never match a query). Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from callwright.dialog.sentences import ABBREVIATIONS

__all__ = ["DEFAULT_MAX_CHARS", "DEFAULT_MIN_CHARS", "chunk_text", "split_sentences"]

DEFAULT_MIN_CHARS = 400
DEFAULT_MAX_CHARS = 800
DEFAULT_OVERLAP_CHARS = 200

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
_SPACES = re.compile(r"[^\S\n]+")
_HEADING = re.compile(r"^#{1,6}\s")
_CLOSERS = "\"')]}»”’」』"
_SENTENCE_END = re.compile(
    rf"[.!?…]+[{re.escape(_CLOSERS)}]*(?=\s)|[。！？]+[{re.escape(_CLOSERS)}]*"
)
_WORD_BEFORE = re.compile(r"(\S+)$")


@dataclass(frozen=True, slots=True)
class _Unit:
    """A sentence (or a piece of one) with what separates it from the unit before it."""

    text: str
    sep: str  # "\n\n" starts a paragraph, "\n" starts a line, " " continues a line
    heading: bool = False

    @property
    def opens_section(self) -> bool:
        """A paragraph or a heading starts here: a good place to end a passage."""
        return self.sep == "\n\n" or (self.heading and self.sep == "\n")


def chunk_text(
    text: str,
    *,
    min_chars: int = DEFAULT_MIN_CHARS,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap_chars: int = DEFAULT_OVERLAP_CHARS,
) -> list[str]:
    """The passages of ``text``, in order; none longer than ``max_chars``; [] for blank text."""
    if not 0 < min_chars <= max_chars:
        raise ValueError("need 0 < min_chars <= max_chars")
    if not 0 <= overlap_chars < max_chars:
        raise ValueError("need 0 <= overlap_chars < max_chars")
    chunks: list[list[_Unit]] = []
    current: list[_Unit] = []
    size = 0
    for unit in _units(text, max_chars):
        if current:
            grown = size + len(unit.sep) + len(unit.text)
            if grown > max_chars or (unit.opens_section and size >= min_chars):
                carried = _carry(current, unit, max_chars, overlap_chars)
                chunks.append(current)
                current = carried
                size = _size(current)
        current.append(unit)
        size = _size(current)
    if current:
        chunks.append(current)
    return [_join(chunk) for chunk in chunks]


def split_sentences(line: str) -> list[str]:
    """The sentences of one line of text (no line breaks inside), stripped, without empties."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(line):
        if match.group().startswith(".") and _after_abbreviation(line, match.start()):
            continue
        piece = line[start : match.end()].strip()
        if piece:
            sentences.append(piece)
        start = match.end()
    tail = line[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _after_abbreviation(line: str, dot: int) -> bool:
    found = _WORD_BEFORE.search(line, 0, dot)
    if found is None:
        return False
    word = found.group(1).lstrip("(\"'[").lower()
    return word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _units(text: str, max_chars: int) -> list[_Unit]:
    normal = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    units: list[_Unit] = []
    for paragraph in _PARAGRAPH_BREAK.split(normal):
        lines = [_SPACES.sub(" ", line).strip() for line in paragraph.split("\n")]
        sep = "\n\n"
        for line in (line for line in lines if line):
            heading = bool(_HEADING.match(line))
            for sentence in split_sentences(line):
                for piece in _cut(sentence, max_chars):
                    units.append(_Unit(piece, sep if units else "", heading))
                    sep = " "
            sep = "\n"
    return units


def _cut(sentence: str, max_chars: int) -> list[str]:
    """``sentence`` in pieces of at most ``max_chars``, cut between words where possible."""
    if len(sentence) <= max_chars:
        return [sentence]
    pieces: list[str] = []
    current = ""
    for word in sentence.split(" "):
        while len(word) > max_chars:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:max_chars])
            word = word[max_chars:]
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= max_chars:
            current += " " + word
        else:
            pieces.append(current)
            current = word
    if current:
        pieces.append(current)
    return pieces


def _carry(chunk: list[_Unit], nxt: _Unit, max_chars: int, overlap_chars: int) -> list[_Unit]:
    """What the next passage starts with: a trailing heading (moved), or the overlap sentence
    when the cut is inside a paragraph. Removes a moved heading from ``chunk``."""
    last = chunk[-1]
    fits = len(last.text) + len(nxt.sep) + len(nxt.text) <= max_chars
    if len(chunk) == 1 or not fits:
        return []
    if last.heading:
        return [chunk.pop()]
    if not nxt.opens_section and len(last.text) <= overlap_chars:
        return [last]
    return []


def _size(units: list[_Unit]) -> int:
    return sum(len(u.text) for u in units) + sum(len(u.sep) for u in units[1:])


def _join(units: list[_Unit]) -> str:
    parts = [units[0].text]
    for unit in units[1:]:
        parts.append(unit.sep)
        parts.append(unit.text)
    return "".join(parts)
