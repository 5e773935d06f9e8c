"""A tiny HTML helper: everything is escaped unless it is already :class:`Html`.

``h("<p>{name}</p>", name=user_text)`` escapes ``user_text``; ``Html`` values (other fragments)
go in as they are; lists and tuples of fragments are joined. Templates are Python strings, so the
type checker sees every placeholder's value.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any


class Html(str):
    """A string of markup that is safe to insert as it is."""

    __slots__ = ()


def esc(value: Any) -> Html:
    if isinstance(value, Html):
        return value
    if value is None:
        return Html("")
    if isinstance(value, list | tuple):
        return join(esc(item) for item in value)
    return Html(html.escape(str(value), quote=True))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    return Html(sep.join(esc(part) for part in parts))


def h(template: str, **values: Any) -> Html:
    """``template`` with each ``{name}`` replaced by the escaped value."""
    return Html(template.format(**{key: esc(value) for key, value in values.items()}))


def attrs(**values: Any) -> Html:
    """HTML attributes: ``True`` gives a bare attribute, ``False``/``None`` leaves it out."""
    parts = []
    for key, value in values.items():
        name = key.rstrip("_").replace("_", "-")
        if value is True:
            parts.append(f" {name}")
        elif value is False or value is None:
            continue
        else:
            parts.append(f' {name}="{esc(value)}"')
    return Html("".join(parts))


def options(choices: Iterable[tuple[Any, Any]], selected: Any) -> Html:
    """``<option>`` elements for ``(value, label)`` pairs, marking ``selected``."""
    out = []
    for value, label in choices:
        chosen = str(value) == str(selected) if selected is not None else False
        out.append(
            h("<option{a}>{label}</option>", a=attrs(value=value, selected=chosen), label=label)
        )
    return join(out)
