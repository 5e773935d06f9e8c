"""The shared readers of request values: whole numbers, ids and JSON text (admin/forms.py)."""

from __future__ import annotations

import json

import pytest

from admin.errors import UserError
from admin.forms import (
    MAX_ID,
    MAX_JSON_DEPTH,
    optional_id,
    parse_id,
    parse_json,
    whole,
    whole_number,
)

NOT_NUMBERS = [
    "²",  # str.isdigit() says yes, int() says no
    "①",
    "١٢",  # Arabic-Indic digits: int() would take them, the admin does not
    "１２",  # full-width
    "-1",
    "+1",
    "1.0",
    "1e3",
    " 1",
    "1_000",
    "",
    "0x10",
    True,
    1.0,
    None,
    [],
    {},
]


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_only_ascii_digits_and_integers_are_whole_numbers(value: object) -> None:
    with pytest.raises(UserError) as raised:
        whole_number(value, "limit")
    assert raised.value.status == 400 and raised.value.field == "limit"
    assert "limit: expected a whole number" in raised.value.message


def test_whole_numbers_are_range_checked_without_converting_huge_text() -> None:
    assert whole_number("007", "n") == 7
    assert whole_number(str(MAX_ID), "n") == MAX_ID
    for value in (str(MAX_ID + 1), MAX_ID + 1, "9" * 5000, "1" + "0" * 100_000):
        with pytest.raises(UserError, match="from 0 to 9223372036854775807"):
            whole_number(value, "n")
    with pytest.raises(UserError, match="from 1 to 200"):
        whole_number("0", "limit", lo=1, hi=200)
    assert whole_number("0" * 50 + "5", "n", lo=1, hi=9) == 5


def test_ids_run_from_1_to_2_63_minus_1_and_carry_the_status_asked_for() -> None:
    assert parse_id("1", "id") == 1 and parse_id(MAX_ID, "id") == MAX_ID
    for value in ("0", 0, -5, 2**63, str(2**63), "²", "abc"):
        with pytest.raises(UserError, match="expected an id") as raised:
            parse_id(value, "assistant_id", status=404)
        assert raised.value.status == 404 and raised.value.field == "assistant_id"


def test_form_fields_use_the_same_parser() -> None:
    assert optional_id({"a": ""}, "a") is None and optional_id({"a": "none"}, "a") is None
    assert optional_id({}, "a") is None and optional_id({"a": "12"}, "a") == 12
    assert whole({"rate": " 170 "}, "rate") == 170
    for bad in ("²", "①", str(2**63), 2**64, True):
        with pytest.raises(UserError):
            optional_id({"a": bad}, "a")
    with pytest.raises(UserError):
        whole({"rate": "²"}, "rate")


def test_json_nested_too_deeply_is_a_400_not_a_recursion_error() -> None:
    for depth in (MAX_JSON_DEPTH + 1, 5_000, 100_000):
        for text in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
            with pytest.raises(UserError, match="nested more than 64 levels") as raised:
                parse_json(text, "definition")
            assert raised.value.status == 400 and raised.value.field == "definition"
    fine = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert parse_json(fine) == json.loads(fine)
    assert parse_json(b'{"a": {"b": [1, "x"]}}') == {"a": {"b": [1, "x"]}}


def test_json_that_is_not_json_or_not_text_is_a_400() -> None:
    for raw in (b"{", b"\xff\xfe", "nope", '{"a": "\\ud800"}', '{"\\udfff": 1}'):
        with pytest.raises(UserError) as raised:
            parse_json(raw)
        assert raised.value.status == 400
    assert parse_json('{"a": "\\u00e9\\ud83d\\ude00"}') == {"a": "é😀"}
