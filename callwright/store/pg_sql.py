"""The SQLite-flavoured SQL of the repositories, as PostgreSQL wants it. Pure, cached per
statement text.

:func:`translate` makes these changes, outside string literals, quoted names and comments:

- ``?`` placeholders become ``$1``, ``$2``, ... in order, and named ones (``:name``) one number
  per name (:class:`Translated` says which);
- ``INSERT OR IGNORE INTO ...`` becomes ``INSERT INTO ... ON CONFLICT DO NOTHING``;
- ``x IS ?`` / ``x IS NOT ?`` become ``IS NOT DISTINCT FROM $n`` / ``IS DISTINCT FROM $n`` (SQLite's
  ``IS`` compares NULLs as equal, which is what the repositories mean by it);
- the two-argument scalar ``MAX(a, b)`` / ``MIN(a, b)`` become ``GREATEST`` / ``LEAST``.

``COLLATE NOCASE`` needs no change (the engine creates a collation named ``nocase``), nor do
``ON CONFLICT ... DO UPDATE ... excluded.x``, ``COALESCE`` or ``||``. Statements that only SQLite
can run (FTS5 ``MATCH``, ``PRAGMA``) are chosen by the repository from ``Database.engine``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Translated", "lex", "returns_rows", "strip_comments", "translate",
           "translate_statement"]

_TOKEN = re.compile(
    r"""(?P<string>'(?:[^']|'')*'?)
      | (?P<ident>"(?:[^"]|"")*"?)
      | (?P<comment>--[^\n]*|/\*.*?(?:\*/|$))
      | (?P<dollar>\$(?P<tag>[A-Za-z_]*)\$.*?(?:\$(?P=tag)\$|$))
      | (?P<code>[^'"\-/$]+|[-/$])""",
    re.S | re.X,
)


def lex(sql: str) -> list[tuple[str, str]]:
    """``sql`` cut into (kind, text) pieces: kind is ``code``, ``string``, ``ident``, ``comment``
    or ``dollar`` (a PostgreSQL dollar-quoted body)."""
    pieces: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(sql):
        kind = next(name for name in ("string", "ident", "comment", "dollar", "code")
                    if match.group(name) is not None)
        text = match.group(0)
        if kind == "code" and pieces and pieces[-1][0] == "code":
            pieces[-1] = ("code", pieces[-1][1] + text)
        else:
            pieces.append((kind, text))
    return pieces


def strip_comments(sql: str) -> str:
    return "".join(text for kind, text in lex(sql) if kind != "comment")


_INSERT_OR_IGNORE = re.compile(r"\bINSERT\s+OR\s+IGNORE\s+INTO\b", re.I)
_PARAM = re.compile(r"(\bIS\s+(NOT\s+)?)?(?:\?|(?<![:\w]):([A-Za-z_]\w*))", re.I)
_PAIR = re.compile(r"\b(MAX|MIN)\(([^(),]+),([^(),]+)\)", re.I)
_RETURNING = re.compile(r"\bRETURNING\b", re.I)


def _greatest_or_least(match: re.Match[str]) -> str:
    name = "GREATEST" if match.group(1).upper() == "MAX" else "LEAST"
    return f"{name}({match.group(2)},{match.group(3)})"


@dataclass(frozen=True, slots=True)
class Translated:
    """A statement in PostgreSQL's dialect; ``names``: for SQLite's named parameters
    (``:name``), the name of each ``$n`` in order (empty for ``?`` placeholders)."""

    sql: str
    names: tuple[str, ...] = ()


@lru_cache(maxsize=2048)
def translate_statement(sql: str) -> Translated:
    """``sql`` (one statement, SQLite flavour) in PostgreSQL's (see the module docstring).
    Named parameters (``:name``, SQLite's other style) become ``$n`` too, one number per name."""
    pieces = [(kind, " " if kind == "comment" else text) for kind, text in lex(sql)]
    ignore = any(kind == "code" and _INSERT_OR_IGNORE.search(text) for kind, text in pieces)
    out: list[str] = []
    names: list[str] = []
    number = 0

    def placeholder(match: re.Match[str]) -> str:
        nonlocal number
        name = match.group(3)
        if name is None:
            number += 1
            n = number
        elif name in names:
            n = names.index(name) + 1
        else:
            names.append(name)
            n = len(names)
        if match.group(1) is None:
            return f"${n}"
        return ("IS DISTINCT FROM" if match.group(2) else "IS NOT DISTINCT FROM") + f" ${n}"

    for kind, text in pieces:
        if kind == "code":
            text = _INSERT_OR_IGNORE.sub("INSERT INTO", text)
            text = _PAIR.sub(_greatest_or_least, text)
            text = _PARAM.sub(placeholder, text)
        out.append(text)
    if number and names:
        raise ValueError("a statement mixes ? and :name parameters")
    result = "".join(out).strip()
    if ignore:
        body = result.rstrip(";").rstrip()
        tail = ""
        returning = _RETURNING.search(body)
        if returning:
            body, tail = body[: returning.start()].rstrip(), " " + body[returning.start():]
        result = f"{body} ON CONFLICT DO NOTHING{tail}"
    return Translated(result, tuple(names))


def translate(sql: str) -> str:
    """The PostgreSQL text of ``sql`` (:func:`translate_statement`)."""
    return translate_statement(sql).sql


def returns_rows(sql: str) -> bool:
    """Whether the translated statement ``sql`` answers with rows (a query, or RETURNING)."""
    head = strip_comments(sql).lstrip().split(None, 1)
    first = head[0].upper() if head else ""
    return first in ("SELECT", "WITH", "VALUES", "SHOW", "TABLE") or bool(
        _RETURNING.search(" ".join(t for k, t in lex(sql) if k == "code")))
