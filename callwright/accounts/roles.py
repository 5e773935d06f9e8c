"""Roles and what each may do.

Four roles per org membership (and per API token): owner, admin, editor, viewer. Every admin page
and API route names one :class:`Permission`; :func:`allows` is the single place that decides.

- viewer: calls only (dashboard, list, page, transcript, notes); hears recordings only if the org
  allows it.
- editor: what a viewer may, plus assistants, flows, knowledge documents (and reading numbers),
  and recordings.
- admin: what an editor may, plus numbers, credentials, retention, API tokens, users below owner,
  and data-subject requests (export, erase, rectify, restrict, object).
- owner: everything, including owners, org security settings and the audit log.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls(value)
        except ValueError:
            raise ValueError(
                f"unknown role {value!r}: expected one of owner, admin, editor, viewer"
            ) from None


_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3, Role.OWNER: 4}


def lesser(a: Role, b: Role) -> Role:
    """The lower of two roles: what an API token is worth is ``lesser(token, issuer's role)``."""
    return a if a.rank <= b.rank else b


def roles_above(role: Role) -> list[Role]:
    """Every role ranked above ``role`` (what a member demoted to ``role`` may no longer hold)."""
    return [r for r in Role if r.rank > role.rank]


class Permission(StrEnum):
    CALLS_READ = "calls.read"
    CALLS_NOTE = "calls.note"
    RECORDINGS_LISTEN = "recordings.listen"
    ASSISTANTS_READ = "assistants.read"
    ASSISTANTS_WRITE = "assistants.write"
    NUMBERS_READ = "numbers.read"
    NUMBERS_WRITE = "numbers.write"
    CREDENTIALS_READ = "credentials.read"
    CREDENTIALS_WRITE = "credentials.write"
    RETENTION_READ = "retention.read"
    RETENTION_WRITE = "retention.write"
    USERS_READ = "users.read"
    USERS_WRITE = "users.write"
    TOKENS_MANAGE = "tokens.manage"
    ORG_SETTINGS = "org.settings"
    AUDIT_READ = "audit.read"
    PRIVACY_REQUESTS = "privacy.requests"


_MINIMUM: dict[Permission, Role] = {
    Permission.CALLS_READ: Role.VIEWER,
    Permission.CALLS_NOTE: Role.VIEWER,
    Permission.RECORDINGS_LISTEN: Role.EDITOR,
    Permission.ASSISTANTS_READ: Role.EDITOR,
    Permission.ASSISTANTS_WRITE: Role.EDITOR,
    Permission.NUMBERS_READ: Role.EDITOR,
    Permission.NUMBERS_WRITE: Role.ADMIN,
    Permission.CREDENTIALS_READ: Role.ADMIN,
    Permission.CREDENTIALS_WRITE: Role.ADMIN,
    Permission.RETENTION_READ: Role.ADMIN,
    Permission.RETENTION_WRITE: Role.ADMIN,
    Permission.USERS_READ: Role.ADMIN,
    Permission.USERS_WRITE: Role.ADMIN,
    Permission.TOKENS_MANAGE: Role.ADMIN,
    Permission.ORG_SETTINGS: Role.OWNER,
    Permission.AUDIT_READ: Role.OWNER,
    Permission.PRIVACY_REQUESTS: Role.ADMIN,
}


def minimum_role(permission: Permission) -> Role:
    return _MINIMUM[permission]


def allows(role: Role, permission: Permission, *, viewers_hear_recordings: bool = False) -> bool:
    """True if ``role`` may do ``permission`` (the org's viewer-recording switch included)."""
    if (
        permission is Permission.RECORDINGS_LISTEN
        and role is Role.VIEWER
        and viewers_hear_recordings
    ):
        return True
    return role.at_least(_MINIMUM[permission])


def may_grant(granter: Role, role: Role) -> bool:
    """Owners may grant any role; admins any role below owner; others none."""
    if granter is Role.OWNER:
        return True
    if granter is Role.ADMIN:
        return role is not Role.OWNER
    return False


class Forbidden(Exception):
    """The actor's role does not allow this; the message says what is missing, for the user."""
