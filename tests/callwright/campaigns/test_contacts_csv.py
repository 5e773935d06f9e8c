"""Contact lists from CSV: E.164 checks, variables, time zones, errors by line."""

from __future__ import annotations

from callwright.campaigns.contacts_csv import parse_contacts


def test_contacts_and_errors_by_line() -> None:
    text = (
        "number,first_name,appointment,timezone\n"
        "+1 (555) 010-0199,Ana,Tuesday 3 pm,America/Chicago\n"
        "abc,Bo,Monday,\n"
        "+15550100199,Ana again,Monday,\n"
        "\n"
        "+33 1 23 45 67 89,Claire,Friday,\n"
        "+442071234567,Dee,Sunday,Mars/Olympus\n"
        "+4420,Eve,Sunday,\n"
        "+4915112345678,Fritz\n"
    )
    parsed = parse_contacts(text.encode())
    assert [(c.line, c.number, c.variables["first_name"], c.timezone)
            for c in parsed.contacts] == [
        (2, "+15550100199", "Ana", "America/Chicago"), (6, "+33123456789", "Claire", ""),
    ]
    assert parsed.contacts[0].variables == {"first_name": "Ana", "appointment": "Tuesday 3 pm"}
    assert [e.line for e in parsed.errors] == [3, 4, 7, 8, 9]
    messages = [str(e) for e in parsed.errors]
    assert "line 3:" in messages[0] and "not a number" in messages[0]
    assert "already on line 2" in messages[1]
    assert "unknown time zone" in messages[2]
    assert "8 to 15 digits" in messages[3]
    assert "2 fields, the header has 4" in messages[4]


def test_whole_file_problems() -> None:
    assert str(parse_contacts(b"").errors[0]) == "line 1: the file is empty"
    assert "no 'number' column" in str(parse_contacts(b"name\nAna\n").errors[0])
    assert "not UTF-8" in str(parse_contacts(b"number\n\xff\xfe\x00").errors[0])
    assert "column name" in str(parse_contacts(b"number,first name\n+15550100199,A\n").errors[0])
    semicolons = parse_contacts("\ufeffphone;name\n+15550100199;Ana\n")
    assert [(c.number, c.variables) for c in semicolons.contacts] == [
        ("+15550100199", {"name": "Ana"})]
