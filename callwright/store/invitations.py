"""Invitations to join an org (table ``invitations``; 0011). Storage only: the rules are in
:mod:`callwright.accounts.invitations`."""

from __future__ import annotations

from dataclasses import dataclass

from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Row

PENDING = "pending"


@dataclass(frozen=True)
class Invitation:
    id: int
    org_id: int
    org_name: str
    email: str
    role: str
    invited_by: int | None
    status: str
    created_at: str
    expires_at: str
    decided_at: str | None

    def open_at(self, now_iso: str) -> bool:
        """Still waiting for an answer, and not expired at ``now_iso``."""
        return self.status == PENDING and now_iso < self.expires_at


_SELECT = (
    "SELECT i.id, i.org_id, o.name AS org_name, i.email, i.role, i.invited_by, i.status,"
    " i.created_at, i.expires_at, i.decided_at FROM invitations i JOIN orgs o ON o.id = i.org_id"
)


def _invitation(row: Row) -> Invitation:
    return Invitation(
        id=int(row["id"]),
        org_id=int(row["org_id"]),
        org_name=str(row["org_name"]),
        email=str(row["email"]),
        role=str(row["role"]),
        invited_by=row["invited_by"],
        status=str(row["status"]),
        created_at=str(row["created_at"]),
        expires_at=str(row["expires_at"]),
        decided_at=row["decided_at"],
    )


class InvitationRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        org_id: int,
        email: str,
        role: str,
        token_hash: str,
        invited_by: int | None,
        expires_at: str,
    ) -> tuple[int, list[int]]:
        """A new pending invitation; a pending one for the same org and address is revoked.
        Returns the new id and the ids it replaced."""
        now = utc_now_iso()
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT id FROM invitations WHERE org_id = ? AND email = ? AND status = ?",
                (org_id, email, PENDING),
            ) as cur:
                replaced = [int(row[0]) for row in await cur.fetchall()]
            await conn.execute(
                "UPDATE invitations SET status = 'revoked', decided_at = ?"
                " WHERE org_id = ? AND email = ? AND status = ?",
                (now, org_id, email, PENDING),
            )
            cursor = await conn.execute(
                "INSERT INTO invitations (org_id, email, role, token_hash, invited_by, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (org_id, email, role, token_hash, invited_by, now, expires_at),
            )
            new_id = int(cursor.lastrowid or 0)
            await cursor.close()
        return new_id, replaced

    async def get(self, invitation_id: int) -> Invitation | None:
        row = await self._db.fetch_one(f"{_SELECT} WHERE i.id = ?", (invitation_id,))
        return None if row is None else _invitation(row)

    async def by_token_hash(self, token_hash: str) -> Invitation | None:
        row = await self._db.fetch_one(f"{_SELECT} WHERE i.token_hash = ?", (token_hash,))
        return None if row is None else _invitation(row)

    async def pending_in_org(self, org_id: int, now_iso: str) -> list[Invitation]:
        rows = await self._db.fetch_all(
            f"{_SELECT} WHERE i.org_id = ? AND i.status = ? AND i.expires_at > ?"
            " ORDER BY i.email, i.id",
            (org_id, PENDING, now_iso),
        )
        return [_invitation(row) for row in rows]

    async def pending_for_email(self, email: str, now_iso: str) -> list[Invitation]:
        rows = await self._db.fetch_all(
            f"{_SELECT} WHERE i.email = ? AND i.status = ? AND i.expires_at > ?"
            " ORDER BY o.name, i.id",
            (email, PENDING, now_iso),
        )
        return [_invitation(row) for row in rows]

    async def decide(self, invitation_id: int, status: str, user_id: int | None) -> bool:
        """Close a pending invitation as ``status``; False if it was no longer pending (an
        invitation is answered once)."""
        changed = await self._db.execute_rowcount(
            "UPDATE invitations SET status = ?, decided_at = ?, decided_by = ?"
            " WHERE id = ? AND status = ?",
            (status, utc_now_iso(), user_id, invitation_id, PENDING),
        )
        return changed == 1
