"""Who is asking, in which org, with which role: resolved from the session cookie or API token."""

from __future__ import annotations

from dataclasses import dataclass

from callwright.accounts.audit import Actor
from callwright.accounts.roles import Permission, Role, allows
from callwright.store.tokens import SessionRow, TokenRow
from callwright.store.users import Membership, OrgAccess, User


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
