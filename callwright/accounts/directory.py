"""The team of an org: adding people, changing roles, removing them, changing one's password.

The rules: only owners and admins manage people; an admin cannot create, change or remove an owner;
an org always keeps at least one (enabled) owner. ``actor_role`` None means the CLI, run by whoever
administers the machine, which may do anything. Every change is written to the audit log.

A member's API tokens never outlive what the member may do: removing or disabling a member revokes
every token they issued in the org, and demoting one revokes their tokens above the new role (each
revocation is in the audit log; the admin also checks the issuer on every request).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callwright.accounts.audit import Actor, AuditWriter
from callwright.accounts.passwords import PasswordPolicyError, Passwords, check_policy
from callwright.accounts.roles import Forbidden, Role, may_grant, roles_above
from callwright.accounts.sessions import SessionManager
from callwright.errors import CallwrightError
from callwright.store.tokens import SessionRow, TokenRepo
from callwright.store.users import UserRepo

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class TeamError(CallwrightError):
    """A team change was refused; the message says why, for the user."""


@dataclass(frozen=True)
class AddedMember:
    user_id: int
    created_user: bool


def check_email(email: str) -> str:
    email = email.strip()
    if not _EMAIL.match(email) or "." not in email.split("@", 1)[1]:
        raise TeamError(f"{email!r} is not an e-mail address")
    return email


class Directory:
    def __init__(
        self,
        users: UserRepo,
        passwords: Passwords,
        sessions: SessionManager,
        audit: AuditWriter,
        tokens: TokenRepo,
    ) -> None:
        self._users = users
        self._passwords = passwords
        self._sessions = sessions
        self._audit = audit
        self._tokens = tokens

    @staticmethod
    def _require_grant(actor_role: Role | None, role: Role) -> None:
        if actor_role is not None and not may_grant(actor_role, role):
            raise Forbidden(f"your role ({actor_role.value}) cannot manage {role.value}s")

    async def add_member(
        self,
        actor: Actor,
        actor_role: Role | None,
        org_id: int,
        email: str,
        role: Role,
        password: str | None,
    ) -> AddedMember:
        email = check_email(email)
        self._require_grant(actor_role, role)
        user = await self._users.by_email(email)
        created = False
        if user is None:
            if not password:
                raise TeamError(f"{email} has no account yet: give an initial password")
            try:
                check_policy(password)
            except PasswordPolicyError as exc:
                raise TeamError(str(exc)) from exc
            user_id = await self._users.create(email, await self._passwords.hash(password))
            created = True
        else:
            user_id = user.id
            if await self._users.membership(user_id, org_id) is not None:
                raise TeamError(f"{email} is already a member; change their role instead")
        await self._users.add_membership(user_id, org_id, role.value)
        await self._audit.record(
            actor,
            "member.add",
            org_id=org_id,
            target=f"user:{user_id}",
            detail={"email": email, "role": role.value, "new_account": created},
        )
        return AddedMember(user_id, created)

    async def _current_role(self, org_id: int, user_id: int) -> Role:
        membership = await self._users.membership(user_id, org_id)
        if membership is None:
            raise TeamError("no such member in this organisation")
        return Role(membership.role)

    async def change_role(
        self, actor: Actor, actor_role: Role | None, org_id: int, user_id: int, role: Role
    ) -> None:
        current = await self._current_role(org_id, user_id)
        self._require_grant(actor_role, current)
        self._require_grant(actor_role, role)
        if current is Role.OWNER and role is not Role.OWNER:
            if await self._users.count_owners(org_id) <= 1:
                raise TeamError(
                    "an organisation needs at least one owner: make someone else owner first"
                )
        await self._users.set_role(user_id, org_id, role.value)
        await self._audit.record(
            actor,
            "member.role",
            org_id=org_id,
            target=f"user:{user_id}",
            detail={"from": current.value, "to": role.value},
        )
        above = [r.value for r in roles_above(role)]
        await self._revoke_tokens(actor, org_id, user_id, above, f"member demoted to {role.value}")

    async def remove_member(
        self, actor: Actor, actor_role: Role | None, org_id: int, user_id: int
    ) -> None:
        current = await self._current_role(org_id, user_id)
        self._require_grant(actor_role, current)
        if current is Role.OWNER and await self._users.count_owners(org_id) <= 1:
            raise TeamError("the last owner cannot be removed")
        await self._users.remove_membership(user_id, org_id)
        await self._audit.record(
            actor,
            "member.remove",
            org_id=org_id,
            target=f"user:{user_id}",
            detail={"role": current.value},
        )
        await self._revoke_tokens(actor, org_id, user_id, None, "member removed")

    async def set_disabled(
        self,
        actor: Actor,
        actor_role: Role | None,
        org_id: int,
        user_id: int,
        disabled: bool,
    ) -> bool:
        """Disable (or enable again) a member in this org; False if it already was so.

        A disabled member keeps their role but has no access here: their sessions in the org end
        and their tokens there are revoked (re-enabling does not bring those back).
        """
        current = await self._users.membership(user_id, org_id)
        if current is None:
            raise TeamError("no such member in this organisation")
        role = Role(current.role)
        self._require_grant(actor_role, role)
        if disabled and actor.user_id == user_id:
            raise TeamError("you cannot disable yourself")
        if current.disabled == disabled:
            return False
        if disabled and role is Role.OWNER and await self._users.count_owners(org_id) <= 1:
            raise TeamError("the last owner cannot be disabled: make someone else owner first")
        await self._users.set_membership_disabled(user_id, org_id, disabled)
        if not disabled:
            await self._audit.record(
                actor, "member.enable", org_id=org_id, target=f"user:{user_id}"
            )
            return True
        ended = await self._sessions.end_all_in_org(user_id, org_id)
        await self._audit.record(
            actor,
            "member.disable",
            org_id=org_id,
            target=f"user:{user_id}",
            detail={"role": role.value, "sessions_ended": ended},
        )
        await self._revoke_tokens(actor, org_id, user_id, None, "member disabled")
        return True

    async def set_account_disabled(self, actor: Actor, user_id: int, disabled: bool) -> bool:
        """Disable (or enable again) a whole account, in every org; False if it already was so.

        For whoever administers the machine (the CLI): a disabled account cannot sign in, all its
        sessions end and its tokens in every org are revoked (re-enabling brings none back).
        """
        user = await self._users.get(user_id)
        if user is None:
            raise TeamError("no such user")
        if user.disabled == disabled:
            return False
        memberships = await self._users.memberships(user_id)
        if disabled:
            for membership in memberships:
                if (
                    membership.role == Role.OWNER.value
                    and not membership.disabled
                    and await self._users.count_owners(membership.org.id) <= 1
                ):
                    raise TeamError(
                        f"{user.email} is the last owner of org {membership.org.slug!r}:"
                        " make someone else owner first"
                    )
        await self._users.set_disabled(user_id, disabled)
        if not disabled:
            await self._audit.record(actor, "user.enable", org_id=None, target=f"user:{user_id}")
            return True
        ended = await self._sessions.end_all_for_user(user_id)
        await self._audit.record(
            actor,
            "user.disable",
            org_id=None,
            target=f"user:{user_id}",
            detail={"sessions_ended": ended},
        )
        for membership in memberships:
            await self._revoke_tokens(actor, membership.org.id, user_id, None, "account disabled")
        return True

    async def _revoke_tokens(
        self, actor: Actor, org_id: int, user_id: int, roles: list[str] | None, reason: str
    ) -> tuple[int, ...]:
        """Revoke ``user_id``'s tokens in the org (those with ``roles``, or all), each audited."""
        revoked = await self._tokens.revoke_for_member(org_id, user_id, roles)
        for token_id in revoked:
            await self._audit.record(
                actor,
                "token.revoke",
                org_id=org_id,
                target=f"token:{token_id}",
                detail={"reason": reason, "issuer_id": user_id},
            )
        return revoked

    async def set_password(
        self, actor: Actor, session: SessionRow | None, user_id: int, new: str
    ) -> None:
        """Give ``user_id`` a new password and end their other sessions. The caller has
        confirmed the current one (``Authenticator.confirm_password``, which is rate limited)."""
        try:
            check_policy(new)
        except PasswordPolicyError as exc:
            raise TeamError(str(exc)) from exc
        await self._users.set_password_hash(user_id, await self._passwords.hash(new))
        ended = await self._sessions.end_all_for_user(user_id, keep=session)
        await self._audit.record(
            actor,
            "user.password",
            org_id=None,
            target=f"user:{user_id}",
            detail={"other_sessions_ended": ended},
        )
