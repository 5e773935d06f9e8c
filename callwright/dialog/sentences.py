"""An incremental sentence splitter for streamed LLM text, so speech can start early.

``push`` takes each streamed delta and returns the sentences it completed; ``flush`` returns what
is left at the end of the stream. A sentence ends at ``.`` ``!`` ``?`` ``…`` (with any closing
quotes or brackets after them) once the next character shows it really ended: a space or a
newline, not a digit (``3.5``), not a letter (``e.g``). It also ends at ``。！？`` and at a line
break. It does not end after a known abbreviation (``Dr.``, ``e.g.``), a single-letter initial
(``J. Smith``) or inside a number (``1,000.50``).

Pieces shorter than ``min_chars`` are merged with what follows (``Hi. I'm Ana.`` is one utterance
for the speech engine); a piece longer than ``max_chars`` without a sentence end is cut at its last
comma, or else its last space, so speech starts before a long sentence is finished.
"""

from __future__ import annotations

__all__ = ["SentenceSplitter", "ABBREVIATIONS"]

#: Lower-cased words (without their final dot) after which a dot does not end a sentence.
# fmt: off
ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "etc", "e.g", "i.e",
        "eg", "ie", "approx", "dept", "inc", "ltd", "corp", "tel", "ext", "fig", "vol", "pp",
        "a.m", "p.m", "u.s", "u.k", "jan", "feb", "apr", "aug", "sept", "oct", "nov",
    }
)
# fmt: on

_AMBIGUOUS_END = ".!?…"
_HARD_END = "。！？\n"
_CLOSERS = "\"')]}»”’」』"
_SOFT_BREAKS = ",;:、，；："


class SentenceSplitter:
    """Turns a stream of text deltas into speakable sentences. Pure: no I/O, no clock."""

    def __init__(self, *, min_chars: int = 6, max_chars: int = 160) -> None:
        if min_chars < 0 or max_chars <= min_chars:
            raise ValueError("need 0 <= min_chars < max_chars")
        self.min_chars = min_chars
        self.max_chars = max_chars
        self._buf = ""
        self._scan = 0  # boundaries before this index were already rejected as too short

    def push(self, delta: str) -> list[str]:
        """Add streamed text; return the sentences it completed, in order."""
        self._buf += delta
        out: list[str] = []
        while True:
            cut = self._next_cut()
            if cut is None:
                break
            piece = _clean(self._buf[:cut])
            self._buf = self._buf[cut:]
            self._scan = 0
            if piece:
                out.append(piece)
        return out

    def flush(self) -> str | None:
        """The rest of the text at the end of the stream, or None when nothing is left."""
        piece = _clean(self._buf)
        self._buf = ""
        self._scan = 0
        return piece or None

    @property
    def pending(self) -> str:
        """Text received but not yet returned as a sentence."""
        return self._buf

    def _next_cut(self) -> int | None:
        buf = self._buf
        i = self._scan
        while i < len(buf):
            end = self._boundary_at(i)
            if end is None:
                if i == len(buf) - 1 and buf[i] in _AMBIGUOUS_END:
                    break  # wait for the next character to decide
                i += 1
                continue
            if len(_clean(buf[:end])) >= self.min_chars:
                return end
            i = end
            self._scan = end
        return self._forced_cut()

    def _boundary_at(self, i: int) -> int | None:
        """If a sentence ends with the character at ``i``, the index just after the end."""
        buf = self._buf
        ch = buf[i]
        if ch in _HARD_END:
            j = i + 1
            while j < len(buf) and buf[j] in _CLOSERS:
                j += 1
            return j
        if ch not in _AMBIGUOUS_END:
            return None
        j = i + 1
        while j < len(buf) and buf[j] in _AMBIGUOUS_END:
            j += 1  # "..." or "?!"
        while j < len(buf) and buf[j] in _CLOSERS:
            j += 1
        if j >= len(buf):
            return None  # the next character is not known yet
        if not buf[j].isspace():
            return None  # 3.5, e.g, example.com
        if ch == "." and j == i + 1 and self._is_abbreviation(i):
            return None
        return j

    def _is_abbreviation(self, dot: int) -> bool:
        start = dot
        while start > 0 and not self._buf[start - 1].isspace():
            start -= 1
        word = self._buf[start:dot].lstrip(_CLOSERS + "(\"'").casefold()
        if not word:
            return False
        if word in ABBREVIATIONS:
            return True
        return len(word) == 1 and word.isalpha() and word.isascii()  # an initial: "J. Smith"

    def _forced_cut(self) -> int | None:
        buf = self._buf
        if len(buf.strip()) <= self.max_chars:
            return None
        window = buf[: self.max_chars]
        for breaks in (_SOFT_BREAKS, " \t"):
            pos = max(window.rfind(b) for b in breaks)
            if pos >= self.min_chars and not _inside_number(buf, pos):
                return pos + 1
        return self.max_chars


def _inside_number(buf: str, pos: int) -> bool:
    return 0 < pos < len(buf) - 1 and buf[pos - 1].isdigit() and buf[pos + 1].isdigit()


def _clean(text: str) -> str:
    return " ".join(text.split())
