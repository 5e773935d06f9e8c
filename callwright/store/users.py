"""Users and their memberships in orgs (tables ``users``, ``memberships``; 0001, 0003, 0010).

A user is a login (e-mail, argon2 password hash, optional TOTP secret sealed with the master key);
a membership gives a user one role in one org, and can be disabled by the org (0010) without
being removed. Everything here is storage only: the rules (who may grant what, the last owner)
live in :mod:`callwright.accounts.directory`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from callwright.errors import StoreError
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Row


class DuplicateUser(StoreError):
    """A user with this e-mail already exists."""


@dataclass(frozen=True)
class User:
    id: int
    email: str
    display_name: str
    password_hash: str
    totp_secret_enc: bytes | None
    totp_pending_enc: bytes | None
    totp_last_step: int
    recovery_hashes: list[str]
    disabled: bool
    created_at: str

    @property
    def has_totp(self) -> bool:
        return self.totp_secret_enc is not None


@dataclass(frozen=True)
class OrgAccess:
    """What access control needs to know about an org."""

    id: int
    slug: str
    name: str
    require_totp: bool
    viewers_hear_recordings: bool


@dataclass(frozen=True)
class Membership:
    user_id: int
    role: str
    org: OrgAccess
    disabled: bool = False

    @property
    def org_id(self) -> int:
        return self.org.id


@dataclass(frozen=True)
class Member:
    user_id: int
    email: str
    display_name: str
    role: str
    has_totp: bool
    disabled: bool  # this membership is disabled by the org
    created_at: str
    account_disabled: bool = False  # the whole account is disabled (CLI, store)


def _user(row: Row) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        password_hash=row["password_hash"],
        totp_secret_enc=row["totp_secret_enc"],
        totp_pending_enc=row["totp_pending_enc"],
        totp_last_step=int(row["totp_last_step"]),
        recovery_hashes=list(json.loads(row["recovery_codes"] or "[]")),
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
    )


_MEMBERSHIP_SQL = (
    "SELECT m.user_id, m.org_id, o.slug, o.name, m.role, m.disabled, o.require_totp,"
    " o.viewers_hear_recordings FROM memberships m JOIN orgs o ON o.id = m.org_id"
)


def _org_access(row: Row) -> OrgAccess:
    return OrgAccess(
        id=row["org_id"],
        slug=row["slug"],
        name=row["name"],
        require_totp=bool(row["require_totp"]),
        viewers_hear_recordings=bool(row["viewers_hear_recordings"]),
    )


def _membership(row: Row) -> Membership:
    return Membership(
        user_id=row["user_id"],
        role=row["role"],
        org=_org_access(row),
        disabled=bool(row["disabled"]),
    )


class UserRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- users ----------------------------------------------------------------------------------

    async def create(self, email: str, password_hash: str, display_name: str = "") -> int:
        email = email.strip()
        if await self.by_email(email) is not None:
            raise DuplicateUser(f"a user with e-mail {email} already exists")
        return await self._db.execute(
            "INSERT INTO users (email, display_name, password_hash, created_at)"
            " VALUES (?, ?, ?, ?)",
            (email, display_name, password_hash, utc_now_iso()),
        )

    async def get(self, user_id: int) -> User | None:
        row = await self._db.fetch_one("SELECT * FROM users WHERE id = ?", (user_id,))
        return None if row is None else _user(row)

    async def by_email(self, email: str) -> User | None:
        row = await self._db.fetch_one("SELECT * FROM users WHERE email = ?", (email.strip(),))
        return None if row is None else _user(row)

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self._db.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
        )

    async def set_disabled(self, user_id: int, disabled: bool) -> None:
        await self._db.execute(
            "UPDATE users SET disabled = ? WHERE id = ?", (int(disabled), user_id)
        )

    # -- second factor --------------------------------------------------------------------------

    async def set_totp_pending(self, user_id: int, sealed: bytes | None) -> None:
        await self._db.execute(
            "UPDATE users SET totp_pending_enc = ? WHERE id = ?", (sealed, user_id)
        )

    async def enable_totp(
        self, user_id: int, sealed: bytes, step: int, recovery_hashes: list[str]
    ) -> None:
        await self._db.execute(
            "UPDATE users SET totp_secret_enc = ?, totp_pending_enc = NULL, totp_last_step = ?,"
            " recovery_codes = ? WHERE id = ?",
            (sealed, step, json.dumps(recovery_hashes), user_id),
        )

    async def disable_totp(self, user_id: int) -> None:
        await self._db.execute(
            "UPDATE users SET totp_secret_enc = NULL, totp_pending_enc = NULL, totp_last_step = 0,"
            " recovery_codes = NULL WHERE id = ?",
            (user_id,),
        )

    async def use_totp_step(self, user_id: int, step: int) -> bool:
        """Record ``step`` as used; False if it (or a later one) was used already (a replay)."""
        changed = await self._db.execute_rowcount(
            "UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?",
            (step, user_id, step),
        )
        return changed == 1

    async def replace_recovery_hashes(
        self, user_id: int, expected: list[str], remaining: list[str]
    ) -> bool:
        """Swap the recovery hashes if they are still ``expected`` (a code is used only once)."""
        changed = await self._db.execute_rowcount(
            "UPDATE users SET recovery_codes = ? WHERE id = ? AND recovery_codes = ?",
            (json.dumps(remaining), user_id, json.dumps(expected)),
        )
        return changed == 1

    async def set_recovery_hashes(self, user_id: int, hashes: list[str]) -> None:
        await self._db.execute(
            "UPDATE users SET recovery_codes = ? WHERE id = ?", (json.dumps(hashes), user_id)
        )

    # -- memberships ----------------------------------------------------------------------------

    async def memberships(self, user_id: int) -> list[Membership]:
        """The memberships that give access: those the org has not disabled."""
        rows = await self._db.fetch_all(
            f"{_MEMBERSHIP_SQL} WHERE m.user_id = ? AND m.disabled = 0 ORDER BY o.name, o.id",
            (user_id,),
        )
        return [_membership(row) for row in rows]

    async def membership(self, user_id: int, org_id: int) -> Membership | None:
        """The membership of ``user_id`` in ``org_id``, disabled or not (see ``disabled``)."""
        row = await self._db.fetch_one(
            f"{_MEMBERSHIP_SQL} WHERE m.user_id = ? AND m.org_id = ?", (user_id, org_id)
        )
        return None if row is None else _membership(row)

    async def members(self, org_id: int) -> list[Member]:
        rows = await self._db.fetch_all(
            "SELECT u.id, u.email, u.display_name, m.role, u.totp_secret_enc IS NOT NULL AS totp,"
            " m.disabled, u.disabled AS account_disabled, m.created_at"
            " FROM memberships m JOIN users u ON u.id = m.user_id"
            " WHERE m.org_id = ? ORDER BY u.email",
            (org_id,),
        )
        return [
            Member(
                user_id=r["id"],
                email=r["email"],
                display_name=r["display_name"],
                role=r["role"],
                has_totp=bool(r["totp"]),
                disabled=bool(r["disabled"]),
                created_at=r["created_at"],
                account_disabled=bool(r["account_disabled"]),
            )
            for r in rows
        ]

    async def add_membership(self, user_id: int, org_id: int, role: str) -> None:
        await self._db.execute(
            "INSERT INTO memberships (user_id, org_id, role, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id, org_id) DO UPDATE SET role = excluded.role",
            (user_id, org_id, role, utc_now_iso()),
        )

    async def set_role(self, user_id: int, org_id: int, role: str) -> bool:
        changed = await self._db.execute_rowcount(
            "UPDATE memberships SET role = ? WHERE user_id = ? AND org_id = ?",
            (role, user_id, org_id),
        )
        return changed == 1

    async def set_membership_disabled(self, user_id: int, org_id: int, disabled: bool) -> bool:
        changed = await self._db.execute_rowcount(
            "UPDATE memberships SET disabled = ? WHERE user_id = ? AND org_id = ?",
            (int(disabled), user_id, org_id),
        )
        return changed == 1

    async def remove_membership(self, user_id: int, org_id: int) -> bool:
        changed = await self._db.execute_rowcount(
            "DELETE FROM memberships WHERE user_id = ? AND org_id = ?", (user_id, org_id)
        )
        return changed == 1

    async def count_owners(self, org_id: int) -> int:
        return int(
            await self._db.fetch_value(
                "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id"
                " WHERE m.org_id = ? AND m.role = 'owner' AND u.disabled = 0 AND m.disabled = 0",
                (org_id,),
            )
        )

    # -- the org's recording access switch (0003; the rest of an org is in store/orgs.py) --------

    async def org_access(self, org_id: int) -> OrgAccess | None:
        row = await self._db.fetch_one(
            "SELECT id AS org_id, slug, name, require_totp, viewers_hear_recordings FROM orgs"
            " WHERE id = ?",
            (org_id,),
        )
        return None if row is None else _org_access(row)

    async def set_viewers_hear_recordings(self, org_id: int, allowed: bool) -> None:
        await self._db.execute(
            "UPDATE orgs SET viewers_hear_recordings = ? WHERE id = ?", (int(allowed), org_id)
        )
