"""An outbound call asked for: where it goes, from which number, with which variables (sans-IO).

``callwright call place``, ``POST /api/v1/calls``, the admin's Call button and the campaign
dialler all build an :class:`OutboundRequest` with :func:`build_request`: the destination is
normalised (E.164 or an extension, :func:`callwright.store.numbers.normalise_number`), the
endpoint comes from the ``--endpoint`` template or the caller-id number's ``outbound_endpoint``
(``PJSIP/{number}@trunk``, ``Local/{number}@callwright-outbound``), and per-call variables are
``key=value`` pairs that fill ``{key}`` in the greeting and the flow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from callwright.errors import CallwrightError
from callwright.store.numbers import InvalidNumber, normalise_number

_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
#: The most variables one call may carry, and the longest value.
MAX_VARIABLES = 40
MAX_VALUE_LEN = 500
#: What an endpoint template may contain besides ``{number}``.
_ENDPOINT = re.compile(r"^[A-Za-z][A-Za-z0-9]*/[^\s,]+$")


class RequestError(CallwrightError, ValueError):
    """A request that cannot be placed (a bad number, endpoint or variable); the message says
    why. A ValueError, as InvalidNumber is: bad input, answered 400 by the admin."""


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    assistant_id: int
    to_number: str
    endpoint: str
    caller_id: str
    variables: dict[str, str] = field(default_factory=dict)


def parse_variables(pairs: Iterable[str]) -> dict[str, str]:
    """``["first_name=Ana", "appointment=Tuesday 3 pm"]`` -> dict; RequestError on a bad one."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise RequestError(f"variable {pair!r}: write it as key=value")
        out[key.strip()] = value
    return check_variables(out)


def check_variables(values: Mapping[str, object]) -> dict[str, str]:
    if len(values) > MAX_VARIABLES:
        raise RequestError(f"at most {MAX_VARIABLES} variables, got {len(values)}")
    out: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not _VAR_NAME.match(key):
            raise RequestError(
                f"variable name {key!r}: letters, digits and _ (not first), up to 40")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise RequestError(f"variable {key}: the value must be text")
        text = str(value)
        if len(text) > MAX_VALUE_LEN:
            raise RequestError(f"variable {key}: longer than {MAX_VALUE_LEN} characters")
        out[key] = text
    return out


def render_endpoint(template: str, number: str) -> str:
    """``PJSIP/{number}@trunk`` + ``+15551234`` -> ``PJSIP/+15551234@trunk``."""
    template = template.strip()
    if "{number}" not in template:
        raise RequestError(
            f"endpoint template {template!r} must contain {{number}} "
            "(e.g. PJSIP/{number}@trunk or Local/{number}@callwright-outbound)")
    endpoint = template.replace("{number}", number)
    if not _ENDPOINT.match(endpoint) or "{" in endpoint:
        raise RequestError(f"endpoint {endpoint!r} is not TECH/resource")
    return endpoint


def build_request(
    *,
    assistant_id: int,
    to: str,
    caller_number: str,
    endpoint_template: str,
    variables: Mapping[str, object] | None = None,
    caller_name: str = "",
) -> OutboundRequest:
    """Check and build a request; RequestError with the reason otherwise."""
    try:
        number = normalise_number(to)
    except InvalidNumber as exc:
        raise RequestError(f"destination: {exc}") from None
    if not endpoint_template.strip():
        raise RequestError(
            "no endpoint: give one (--endpoint) or set the outbound endpoint of the number "
            "calls go out from")
    endpoint = render_endpoint(endpoint_template, number)
    caller_id = f'"{caller_name}" <{caller_number}>' if caller_name else caller_number
    return OutboundRequest(assistant_id, number, endpoint, caller_id,
                           check_variables(variables or {}))
