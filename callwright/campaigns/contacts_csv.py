"""A campaign's contact list from CSV (sans-IO): one contact a line, errors listed by line.

The header names the columns: ``number`` (or ``phone``) is required and must hold an E.164
number (``+`` and 8-15 digits; separators are dropped) or an extension; ``timezone`` (an IANA
name such as ``Europe/Paris``) is optional; every other column is a per-contact variable
(``first_name`` fills ``{first_name}`` in the greeting and the flow). A bad line is reported
with its line number and reason and left out; a number given twice is reported too.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callwright.store.numbers import InvalidNumber, normalise_number

NUMBER_COLUMNS = ("number", "phone", "phone_number", "to")
MAX_CONTACTS = 100_000
MAX_BYTES = 20 * 1024 * 1024
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


@dataclass(frozen=True, slots=True)
class Contact:
    line: int
    number: str
    variables: dict[str, str] = field(default_factory=dict)
    timezone: str = ""


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class ParsedContacts:
    contacts: list[Contact]
    errors: list[LineError]


def valid_timezone(name: str) -> bool:
    if not name or "/" not in name and name != "UTC":
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def parse_contacts(data: bytes | str) -> ParsedContacts:
    """Parse an uploaded CSV; a problem with the whole file is one error on line 1."""
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            return ParsedContacts([], [LineError(1, f"the file is over {MAX_BYTES} bytes")])
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return ParsedContacts([], [LineError(1, "the file is not UTF-8 text")])
    else:
        text = data.lstrip("\ufeff")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], ",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return ParsedContacts([], [LineError(1, "the file is empty")])
    except csv.Error as exc:
        return ParsedContacts([], [LineError(1, f"not CSV: {exc}")])
    lowered = [h.lower() for h in header]
    number_at = next((lowered.index(n) for n in NUMBER_COLUMNS if n in lowered), None)
    if number_at is None:
        return ParsedContacts([], [LineError(1, "the header has no 'number' column")])
    tz_at = lowered.index("timezone") if "timezone" in lowered else None
    bad = [h for i, h in enumerate(header)
           if i not in (number_at, tz_at) and not _VARIABLE.match(h)]
    if bad:
        return ParsedContacts([], [LineError(1, f"column name {bad[0]!r}: letters, digits "
                                                "and _ only (it becomes a {variable})")])
    contacts: list[Contact] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(contacts) >= MAX_CONTACTS:
                errors.append(LineError(line, f"more than {MAX_CONTACTS} contacts"))
                break
            if len(row) != len(header):
                errors.append(LineError(line, f"{len(row)} fields, the header has {len(header)}"))
                continue
            try:
                number = normalise_number(row[number_at])
            except InvalidNumber as exc:
                errors.append(LineError(line, str(exc)))
                continue
            if number in seen:
                errors.append(LineError(line, f"{number} is already on line {seen[number]}"))
                continue
            timezone = row[tz_at].strip() if tz_at is not None else ""
            if timezone and not valid_timezone(timezone):
                errors.append(LineError(line, f"unknown time zone {timezone!r}"))
                continue
            seen[number] = line
            variables = {header[i]: row[i].strip() for i in range(len(header))
                         if i not in (number_at, tz_at)}
            contacts.append(Contact(line, number, variables, timezone))
    except csv.Error as exc:
        errors.append(LineError(reader.line_num, f"not CSV: {exc}"))
    return ParsedContacts(contacts, errors)
