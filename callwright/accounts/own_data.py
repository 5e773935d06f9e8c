"""A staff member's own data, for their right of access and portability (issue 12).

:func:`export_own_data` gathers, as one JSON-ready object, what the store holds about one admin
account: the account itself (never its password hash, second-factor secret or recovery codes:
only whether a second factor is set), its memberships in every org, its sessions (when, from
where; never the cookie's hash or CSRF token), the API tokens it created (name, role, last four
characters), its entries in the audit log and the notes it wrote on calls. The admin's
``GET /account/export`` serves it to the signed-in user and ``callwright user export EMAIL`` prints
it; both append an ``account.export`` audit entry.
"""

from __future__ import annotations

import json
from typing import Any

from callwright.accounts.audit import Actor, AuditWriter
from callwright.errors import NotFound
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database

FORMAT = "callwright-account-export/1"


def _detail(text: object) -> Any:
    try:
        return json.loads(str(text))
    except ValueError:
        return str(text)


async def export_own_data(db: Database, user_id: int) -> dict[str, Any]:
    """Everything stored about account ``user_id`` (see the module). Raises NotFound."""
    user = await db.fetch_one(
        "SELECT id, email, display_name, disabled, created_at, totp_secret_enc IS NOT NULL"
        " AS has_totp FROM users WHERE id = ?", (user_id,))
    if user is None:
        raise NotFound(f"no account {user_id}")
    memberships = await db.fetch_all(
        "SELECT o.id AS org_id, o.slug, o.name, m.role, m.disabled, m.created_at"
        " FROM memberships m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ?"
        " ORDER BY o.id", (user_id,))
    sessions = await db.fetch_all(
        "SELECT org_id, created_at, expires_at, ip, totp_ok FROM sessions WHERE user_id = ?"
        " ORDER BY created_at", (user_id,))
    tokens = await db.fetch_all(
        "SELECT org_id, name, role, last_four, created_at, last_used_at, revoked_at"
        " FROM api_tokens WHERE user_id = ? ORDER BY id", (user_id,))
    audit = await db.fetch_all(
        "SELECT id, at, org_id, actor, action, target, detail, ip FROM audit_log"
        " WHERE user_id = ? ORDER BY id", (user_id,))
    notes = await db.fetch_all(
        "SELECT n.created_at, n.body, c.uid AS call_uid, c.org_id FROM call_notes n"
        " JOIN calls c ON c.id = n.call_id WHERE n.user_id = ? ORDER BY n.id", (user_id,))
    return {
        "format": FORMAT,
        "exported_at": utc_now_iso(),
        "account": {"id": int(user["id"]), "email": str(user["email"]),
                    "display_name": str(user["display_name"]),
                    "disabled": bool(user["disabled"]), "created_at": str(user["created_at"]),
                    "second_factor": bool(user["has_totp"])},
        "memberships": [{**dict(m), "disabled": bool(m["disabled"])} for m in memberships],
        "sessions": [{**dict(s), "totp_ok": bool(s["totp_ok"])} for s in sessions],
        "api_tokens": [dict(t) for t in tokens],
        "audit_entries": [{**dict(a), "detail": _detail(a["detail"])} for a in audit],
        "notes": [dict(n) for n in notes],
    }


async def export_audited(db: Database, audit: AuditWriter, actor: Actor, user_id: int,
                         org_id: int | None) -> dict[str, Any]:
    """:func:`export_own_data`, then an ``account.export`` audit entry (with the counts)."""
    data = await export_own_data(db, user_id)
    await audit.record(
        actor, "account.export", org_id=org_id, target=f"user:{user_id}",
        detail={k: len(data[k]) for k in ("memberships", "sessions", "api_tokens",
                                            "audit_entries", "notes")},
    )
    return data
