"""Reading request inputs: a JSON body (API), form fields (pages), path and query values.

Every whole number a request carries (an id in the path, ``limit`` or a filter in the query, a
field of a form or of a JSON body) goes through :func:`whole_number`: ASCII digits only (``²`` and
``①`` pass ``str.isdigit()`` but are not numbers), range-checked, so a bad value is a 4xx with a
message and never reaches ``int()`` or SQLite (whose integers stop at 2^63-1). Ids are
:func:`parse_id`. JSON text goes through :func:`parse_json`, which refuses documents nested deeper
than :data:`MAX_JSON_DEPTH`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from admin.errors import UserError
from callwright.errors import NotFound, StoreError

#: The largest id (and whole number) the store holds: SQLite's INTEGER is a signed 64-bit value.
MAX_ID = 2**63 - 1
#: How deeply a JSON document may nest (objects and lists); deeper is refused with a 400.
MAX_JSON_DEPTH = 64
_DIGITS = frozenset("0123456789")


def whole_number(
    value: Any,
    name: str,
    *,
    lo: int = 0,
    hi: int = MAX_ID,
    status: int = 400,
    what: str = "a whole number",
) -> int:
    """``value`` (ASCII digits, or a JSON integer) as an int in ``[lo, hi]``.

    Raises :class:`UserError` (``status``, naming the field) for anything else: other characters
    (``"²"``, ``"-1"``, ``" 7"``), booleans, floats, or a number out of range.
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value and _DIGITS.issuperset(value):
        significant = value.lstrip("0") or "0"
        # More digits than ``hi`` has is out of range; this also keeps int() away from huge text.
        number = int(significant) if len(significant) <= len(str(hi)) else hi + 1
    if number is None:
        raise UserError(f"{name}: expected {what}", field=name, status=status)
    if not lo <= number <= hi:
        raise UserError(f"{name}: expected {what} from {lo} to {hi}", field=name, status=status)
    return number


def parse_id(value: Any, name: str, *, status: int = 400) -> int:
    """An id: a whole number from 1 to :data:`MAX_ID` (see :func:`whole_number`)."""
    return whole_number(value, name, lo=1, hi=MAX_ID, status=status, what="an id")


def parse_json(text: str | bytes, name: str = "body") -> Any:
    """JSON text as Python values.

    Raises :class:`UserError` (naming ``name``) if it is not JSON, nests deeper than
    :data:`MAX_JSON_DEPTH` or holds a string that is not Unicode text (a lone ``\\ud800``
    escape: nothing could store or show it).
    """
    too_deep = f"{name}: the JSON is nested more than {MAX_JSON_DEPTH} levels deep"
    try:
        value = json.loads(text)
    except RecursionError:
        raise UserError(too_deep, field=name) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise UserError(f"{name}: not valid JSON ({exc})", field=name) from exc
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise UserError(
                        f"{name}: the JSON has a string that is not valid Unicode text", field=name
                    ) from None
        elif isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise UserError(too_deep, field=name)
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return value


def flag(value: Any) -> bool:
    """A checkbox (``"on"``) or a JSON boolean."""
    return value is True or value in ("on", "true", "1", "yes")


def text(data: dict[str, Any], name: str, *, max_len: int = 20_000, default: str = "") -> str:
    value = data.get(name, default)
    if value is None:
        value = default
    if not isinstance(value, str):
        raise UserError(f"{name}: expected text", field=name)
    if len(value) > max_len:
        raise UserError(f"{name}: at most {max_len} characters", field=name)
    return value


def optional_id(data: dict[str, Any], name: str) -> int | None:
    """The id field ``name``; None when absent, empty or ``"none"`` (a form's "none" choice)."""
    value = data.get(name)
    if value is None or value in ("", "none"):
        return None
    return parse_id(value, name)


def whole(data: dict[str, Any], name: str, *, lo: int = 0, hi: int = MAX_ID) -> int:
    """The whole-number field ``name`` (a form's value may have spaces around it)."""
    value = data.get(name)
    if isinstance(value, str):
        value = value.strip()
    return whole_number(value, name, lo=lo, hi=hi)


def json_value(data: dict[str, Any], name: str, kind: type[Any], api: bool) -> Any:
    """A JSON field: native in the API, JSON text in a form's textarea."""
    value = data.get(name)
    if value is None or value == "":
        return kind()
    if not api and isinstance(value, str):
        value = parse_json(value, name)
    if not isinstance(value, kind):
        raise UserError(f"{name}: expected a JSON {kind.__name__}", field=name)
    return value


@contextmanager
def user_errors(field: str | None = None) -> Iterator[None]:
    """Turn the store's validation errors (ValueError, name taken…) into a 400 message."""
    try:
        yield
    except UserError:
        raise
    except NotFound:
        raise
    except StoreError as exc:
        raise UserError(str(exc), field=field) from exc
    except ValueError as exc:
        raise UserError(str(exc), field=field) from exc
