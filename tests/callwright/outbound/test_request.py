"""Outbound requests: destination, endpoint template, variables."""

from __future__ import annotations

import pytest

from callwright.outbound.request import (
    RequestError,
    build_request,
    parse_variables,
    render_endpoint,
)


def test_build_request() -> None:
    req = build_request(assistant_id=3, to="+1 (555) 010-0199", caller_number="+15550100",
                        endpoint_template="PJSIP/{number}@trunk",
                        variables={"first_name": "Ana"}, caller_name="Clinic")
    assert req.to_number == "+15550100199"
    assert req.endpoint == "PJSIP/+15550100199@trunk"
    assert req.caller_id == '"Clinic" <+15550100>'
    assert req.variables == {"first_name": "Ana"}


@pytest.mark.parametrize(("to", "template", "message"), [
    ("12", "", "no endpoint"),
    ("abc", "PJSIP/{number}@trunk", "destination"),
    ("+0123456789", "PJSIP/{number}@trunk", "destination"),
    ("100", "PJSIP/trunk", "must contain {number}"),
    ("100", "{number}", "TECH/resource"),
    ("100", "Local/{number}@out {x}", "TECH/resource"),
])
def test_bad_requests(to: str, template: str, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        build_request(assistant_id=1, to=to, caller_number="", endpoint_template=template)


def test_variables() -> None:
    assert parse_variables(["a=1", "appointment=Tuesday 3 pm = ok"]) == {
        "a": "1", "appointment": "Tuesday 3 pm = ok"}
    for bad in (["novalue"], ["1x=2"], ["a b=2"], [f"k={'x' * 501}"]):
        with pytest.raises(RequestError):
            parse_variables(bad)
    assert render_endpoint("Local/{number}@callwright-outbound", "100") == (
        "Local/100@callwright-outbound")
