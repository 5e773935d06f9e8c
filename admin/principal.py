"""Who is asking, in which org, with which role: resolved from the session cookie or API token.

An API token is worth no more than its issuer is worth now: :func:`token_principal` looks up the
issuer on every request and acts with the lesser of the token's role and the issuer's current role
in the token's org. A token whose issuer is gone, disabled, or no longer an active member of that
org is worth nothing (the caller answers 401).
"""

from __future__ import annotations

from dataclasses import dataclass

from callwright.accounts.audit import Actor
from callwright.accounts.roles import Permission, Role, allows, lesser
from callwright.store.tokens import SessionRow, TokenRow
from callwright.store.users import Membership, OrgAccess, User, UserRepo


@dataclass(frozen=True)
class Principal:
    actor: Actor
    org: OrgAccess
    role: Role
    user: User | None = None
    session: SessionRow | None = None
    token: TokenRow | None = None
    memberships: tuple[Membership, ...] = ()

    @property
    def org_id(self) -> int:
        return self.org.id

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user else None

    @property
    def display(self) -> str:
        if self.user is not None:
            return self.user.display_name or self.user.email
        if self.token is not None:
            return f"API token {self.token.name}"
        return self.actor.label

    def can(self, permission: Permission) -> bool:
        return allows(
            self.role, permission, viewers_hear_recordings=self.org.viewers_hear_recordings
        )

    @property
    def needs_second_factor_setup(self) -> bool:
        """The org requires TOTP for owners and admins, and this user has none yet."""
        return (
            self.user is not None
            and self.org.require_totp
            and self.role.at_least(Role.ADMIN)
            and not self.user.has_totp
        )


async def token_principal(users: UserRepo, row: TokenRow, ip: str) -> Principal | None:
    """The principal an API token acts as, or None when its issuer no longer backs it."""
    if row.user_id is None:
        return None
    issuer = await users.get(row.user_id)
    if issuer is None or issuer.disabled:
        return None
    membership = await users.membership(row.user_id, row.org_id)
    if membership is None or membership.disabled:
        return None
    actor = Actor("token", user_id=row.user_id, token_id=row.id, ip=ip)
    role = lesser(Role(row.role), Role(membership.role))
    return Principal(actor=actor, org=membership.org, role=role, token=row)
