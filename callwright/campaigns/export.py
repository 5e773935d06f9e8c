"""A campaign's results as CSV (sans-IO): one line per contact, its variables, where it stands."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from callwright.store.campaigns import CampaignContact

FIXED = ("line", "number", "status", "attempts", "last_outcome", "last_cause",
         "next_attempt_at", "timezone")


def _safe(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (=, +, -, @ first: quoted with ')."""
    return "'" + value if value[:1] in ("=", "@", "\t", "\r") or (
        value[:1] in ("+", "-") and not value[1:].replace(" ", "").isdigit()) else value


def contacts_csv(contacts: Sequence[CampaignContact]) -> str:
    names: list[str] = []
    for contact in contacts:
        for key in contact.variables:
            if key not in names:
                names.append(key)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*FIXED, *names])
    for c in contacts:
        writer.writerow([c.line, c.number, c.status, c.attempts, c.last_outcome,
                         _safe(c.last_cause), c.next_attempt_at or "", c.timezone,
                         *(_safe(c.variables.get(n, "")) for n in names)])
    return out.getvalue()
