"""Inviting people into an org: an owner or admin invites an address, the account accepts.

Adding someone from the admin never attaches an existing account by itself: it creates a pending
invitation, and the answer is the same whether or not the address has an account (nothing about
any account, nor about its other orgs, is shown until it accepts). The account accepts or declines
when signed in (its pending invitations are listed on its account page), or through the invitation
link: an address with no account yet chooses a password there, which creates the account, and one
with an account proves it (password and second factor, checked by the admin as at sign-in).

An invitation is only as good as its inviter: it is accepted only while the inviter is still an
enabled member who may grant its role (the rule API tokens follow too). ``callwright user add``
(the CLI, run by whoever administers the machine) stays a direct path: see
:meth:`callwright.accounts.directory.Directory.add_member`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from callwright.accounts.audit import Actor, AuditWriter
from callwright.accounts.directory import TeamError, check_email
from callwright.accounts.passwords import PasswordPolicyError, Passwords, check_policy
from callwright.accounts.roles import Forbidden, Role, may_grant
from callwright.store.clock import format_iso, utc_now
from callwright.store.invitations import Invitation, InvitationRepo
from callwright.store.users import DuplicateUser, User, UserRepo

PREFIX = "cwi_"
VALID_FOR = timedelta(days=7)
GONE = "This invitation is not valid any more (answered, withdrawn or expired): ask for a new one."


def invitation_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class InvitationGone(TeamError):
    """No open invitation with this id or token for this account (or it no longer holds)."""


class AccountExists(TeamError):
    """The invitation link cannot create an account for an address that has one already."""


@dataclass(frozen=True)
class IssuedInvitation:
    id: int
    token: str  # the only time the plain token exists: it goes into the link for the invitee
    expires_at: str


class Invitations:
    def __init__(
        self,
        users: UserRepo,
        repo: InvitationRepo,
        passwords: Passwords,
        audit: AuditWriter,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._users = users
        self._repo = repo
        self._passwords = passwords
        self._audit = audit
        self._clock = clock

    def _now(self) -> str:
        return format_iso(self._clock())

    # -- the org's side -------------------------------------------------------------------------

    async def invite(
        self, actor: Actor, actor_role: Role | None, org_id: int, email: str, role: Role
    ) -> IssuedInvitation:
        """Invite ``email`` with ``role``. The same answer for any address, with or without an
        account; only an address already in this org is refused (the team page lists it)."""
        email = check_email(email)
        if actor_role is not None and not may_grant(actor_role, role):
            raise Forbidden(f"your role ({actor_role.value}) cannot invite {role.value}s")
        user = await self._users.by_email(email)
        if user is not None and await self._users.membership(user.id, org_id) is not None:
            raise TeamError(f"{email} is already a member; change their role instead")
        token = PREFIX + secrets.token_urlsafe(32)
        expires_at = format_iso(self._clock() + VALID_FOR)
        invitation_id, replaced = await self._repo.create(
            org_id=org_id,
            email=email,
            role=role.value,
            token_hash=invitation_digest(token),
            invited_by=actor.user_id,
            expires_at=expires_at,
        )
        await self._audit.record(
            actor,
            "invitation.create",
            org_id=org_id,
            target=f"invitation:{invitation_id}",
            detail={"email": email, "role": role.value, "replaced_id": replaced or None},
        )
        return IssuedInvitation(invitation_id, token, expires_at)

    async def pending_in_org(self, org_id: int) -> list[Invitation]:
        return await self._repo.pending_in_org(org_id, self._now())

    async def revoke(self, actor: Actor, org_id: int, invitation_id: int) -> None:
        invitation = await self._repo.get(invitation_id)
        if invitation is None or invitation.org_id != org_id:
            raise InvitationGone(GONE)
        if not await self._repo.decide(invitation_id, "revoked", actor.user_id):
            raise InvitationGone(GONE)
        await self._audit.record(
            actor,
            "invitation.revoke",
            org_id=org_id,
            target=f"invitation:{invitation_id}",
            detail={"email": invitation.email, "role": invitation.role},
        )

    # -- the invitee's side ---------------------------------------------------------------------

    async def pending_for(self, user: User) -> list[Invitation]:
        return await self._repo.pending_for_email(user.email, self._now())

    async def _open_for(self, user: User, invitation_id: int) -> Invitation:
        invitation = await self._repo.get(invitation_id)
        if (
            invitation is None
            or invitation.email.lower() != user.email.lower()
            or not invitation.open_at(self._now())
        ):
            raise InvitationGone(GONE)
        return invitation

    async def _inviter_backs(self, invitation: Invitation) -> bool:
        if invitation.invited_by is None:
            return False
        inviter = await self._users.get(invitation.invited_by)
        membership = await self._users.membership(invitation.invited_by, invitation.org_id)
        return (
            inviter is not None
            and not inviter.disabled
            and membership is not None
            and not membership.disabled
            and may_grant(Role(membership.role), Role(invitation.role))
        )

    async def accept(
        self, user: User, invitation_id: int, ip: str, *, new_account: bool = False
    ) -> Invitation:
        """``user`` joins the org with the invited role (their own answer)."""
        invitation = await self._open_for(user, invitation_id)
        if user.disabled or not await self._inviter_backs(invitation):
            raise InvitationGone(GONE)
        if not await self._repo.decide(invitation.id, "accepted", user.id):
            raise InvitationGone(GONE)
        if await self._users.membership(user.id, invitation.org_id) is None:
            await self._users.add_membership(user.id, invitation.org_id, invitation.role)
        await self._audit.record(
            Actor("user", user_id=user.id, ip=ip),
            "invitation.accept",
            org_id=invitation.org_id,
            target=f"invitation:{invitation.id}",
            detail={
                "email": invitation.email,
                "role": invitation.role,
                "member_id": user.id,
                "new_account": new_account,
            },
        )
        return invitation

    async def decline(self, user: User, invitation_id: int, ip: str) -> Invitation:
        invitation = await self._open_for(user, invitation_id)
        if not await self._repo.decide(invitation.id, "declined", user.id):
            raise InvitationGone(GONE)
        await self._audit.record(
            Actor("user", user_id=user.id, ip=ip),
            "invitation.decline",
            org_id=invitation.org_id,
            target=f"invitation:{invitation.id}",
            detail={"email": invitation.email, "role": invitation.role},
        )
        return invitation

    # -- the invitation link --------------------------------------------------------------------

    async def by_token(self, token: str) -> Invitation:
        """The open invitation this link's token names, or :class:`InvitationGone`."""
        if not token.startswith(PREFIX) or len(token) > 200:
            raise InvitationGone(GONE)
        invitation = await self._repo.by_token_hash(invitation_digest(token))
        if invitation is None or not invitation.open_at(self._now()):
            raise InvitationGone(GONE)
        return invitation

    async def accept_with_new_account(self, token: str, password: str, ip: str) -> Invitation:
        """Create the invited address's account with ``password`` and accept the invitation.

        Raises :class:`AccountExists` when the address has an account (it proves it is that
        account instead), :class:`TeamError` for a password the policy refuses.
        """
        invitation = await self.by_token(token)
        if await self._users.by_email(invitation.email) is not None:
            raise AccountExists("This address already has a Callwright account.")
        try:
            check_policy(password)
        except PasswordPolicyError as exc:
            raise TeamError(str(exc)) from exc
        if not await self._inviter_backs(invitation):
            raise InvitationGone(GONE)
        try:
            user_id = await self._users.create(
                invitation.email, await self._passwords.hash(password)
            )
        except DuplicateUser as exc:
            raise AccountExists(str(exc)) from exc
        user = await self._users.get(user_id)
        if user is None:
            raise InvitationGone(GONE)
        await self._audit.record(
            Actor("user", user_id=user_id, ip=ip),
            "user.create",
            org_id=invitation.org_id,
            target=f"user:{user_id}",
            detail={"email": invitation.email, "invitation_id": invitation.id},
        )
        return await self.accept(user, invitation.id, ip, new_account=True)
