"""The ``security.alert`` event's payload (pure: no I/O).

Sent through the org's endpoints subscribed to ``security.alert`` (signed webhooks and Slack) when
an account of the org is locked after a burst of failed sign-ins (``login_lockout``) or an admin
or owner signs in from an address never used for their sign-ins before (``new_address``).
The envelope is the post-call events' (:func:`callwright.webhooks.events.envelope`); see
docs/webhooks.md.
"""

from __future__ import annotations

import secrets
from typing import Any

from callwright.webhooks.events import envelope

SECURITY_ALERT = "security.alert"
KINDS = {
    "login_lockout": "Sign-in locked after repeated failed attempts",
    "new_address": "Sign-in from a new address",
}


def alert_id() -> str:
    """A fresh event id (one per alert; the same on every endpoint and retry)."""
    return f"evt_security_{secrets.token_hex(12)}"


def security_alert(ident: str, created_at: str, *, kind: str, user_id: int | None, email: str,
                   role: str, ip: str, detail: str = "") -> dict[str, Any]:
    """The ``security.alert`` envelope: what happened, to which account, from where."""
    if kind not in KINDS:
        raise ValueError(f"unknown security alert kind {kind!r}")
    return envelope(SECURITY_ALERT, ident, created_at, {
        "kind": kind,
        "description": KINDS[kind],
        "user": {"id": user_id, "email": email, "role": role},
        "ip": ip,
        "detail": detail,
    })
