"""Reading inputs that arrive as a JSON body (API) or as form fields (pages)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from admin.errors import UserError
from callwright.errors import NotFound, StoreError


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
    value = data.get(name)
    if value in (None, "", "none"):
        return None
    if isinstance(value, bool):
        raise UserError(f"{name}: expected an id", field=name)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    raise UserError(f"{name}: expected an id", field=name)


def whole(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value) < 10:
        return int(value)
    raise UserError(f"{name}: expected a whole number", field=name)


def json_value(data: dict[str, Any], name: str, kind: type[Any], api: bool) -> Any:
    """A JSON field: native in the API, JSON text in a form's textarea."""
    value = data.get(name)
    if value is None or value == "":
        return kind()
    if not api and isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise UserError(f"{name}: not valid JSON ({exc})", field=name) from exc
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
