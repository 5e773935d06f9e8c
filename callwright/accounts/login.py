"""Signing in: password, rate limit, then (if the user has one) the second factor.

Outcomes are values, not exceptions, and their messages are written for the person at the login
form. A wrong e-mail and a wrong password give the same message and cost the same time.

:meth:`Authenticator.confirm_password` is the same check for a user who is already signed in and
must give their password again (changing it, turning two-step sign-in off): rate limited too, so
a stolen session cannot be used to guess the password.
"""

from __future__ import annotations

from dataclasses import dataclass

from callwright.accounts.audit import Actor, AuditWriter
from callwright.accounts.passwords import Passwords
from callwright.accounts.ratelimit import (
    Lockout,
    LoginRateLimiter,
    login_keys,
    password_check_keys,
)
from callwright.accounts.second_factor import SecondFactor
from callwright.accounts.security_alerts import SecurityAlerts
from callwright.accounts.sessions import SessionManager, StartedSession
from callwright.errors import CallwrightError
from callwright.store.tokens import SessionRow
from callwright.store.users import User, UserRepo

WRONG_CREDENTIALS = "Wrong e-mail or password."
WRONG_CODE = "That code is not right (or was already used). Try the next code."
NO_ORG = (
    "This account is not a member of any organisation yet. Ask an owner to invite you, or open "
    "the invitation link you were given to accept it."
)
WRONG_PASSWORD = "The password is not right."


class PasswordNotConfirmed(CallwrightError):
    """A signed-in user's password was wrong (or checks are locked); the message says which."""

    def __init__(self, message: str, locked: bool = False) -> None:
        super().__init__(message)
        self.locked = locked


def _checks_locked(lock: Lockout) -> PasswordNotConfirmed:
    return PasswordNotConfirmed(
        f"Too many wrong passwords: password checks are locked for this account; {lock.retry}.",
        locked=True,
    )


@dataclass(frozen=True)
class LoginOutcome:
    """``session`` is set when a (full or half-open) session was started; else ``message``."""

    session: StartedSession | None = None
    needs_totp: bool = False
    message: str = ""
    locked: bool = False


class Authenticator:
    def __init__(
        self,
        users: UserRepo,
        passwords: Passwords,
        limiter: LoginRateLimiter,
        sessions: SessionManager,
        second_factor: SecondFactor,
        audit: AuditWriter,
        alerts: SecurityAlerts | None = None,
    ) -> None:
        self._users = users
        self._alerts = alerts
        self._passwords = passwords
        self._limiter = limiter
        self._sessions = sessions
        self._second_factor = second_factor
        self._audit = audit

    async def _failed(self, email: str, ip: str, user_id: int | None, why: str) -> LoginOutcome:
        lock = await self._limiter.failed(login_keys(email, ip))
        await self._audit.record(
            Actor("user" if user_id else "system", user_id=user_id, ip=ip),
            "login.failed",
            org_id=None,
            target=f"user:{user_id}" if user_id else "",
            detail={"email": email[:200], "reason": why, "locked": lock is not None},
        )
        if lock is not None:
            if self._alerts is not None and user_id is not None:
                await self._alerts.locked_out(user_id, ip)
            return LoginOutcome(message=lock.message, locked=True)
        return LoginOutcome(message=WRONG_CODE if why == "code" else WRONG_CREDENTIALS)

    async def password_step(self, email: str, password: str, ip: str) -> LoginOutcome:
        email = email.strip()
        lock = await self._limiter.check(login_keys(email, ip))
        if lock is not None:
            return LoginOutcome(message=lock.message, locked=True)
        user = await self._users.by_email(email) if email else None
        ok = await self._passwords.verify(user.password_hash if user else None, password)
        if user is None or not ok or user.disabled:
            return await self._failed(email, ip, user.id if user else None, "password")
        if self._passwords.needs_rehash(user.password_hash):
            await self._users.set_password_hash(user.id, await self._passwords.hash(password))
        memberships = await self._users.memberships(user.id)
        if not memberships:
            return LoginOutcome(message=NO_ORG)
        org_id = memberships[0].org_id
        if user.has_totp:
            session = await self._sessions.start(
                user_id=user.id, org_id=org_id, totp_ok=False, ip=ip
            )
            return LoginOutcome(session=session, needs_totp=True)
        await self._limiter.succeeded(login_keys(email, ip))
        session = await self._sessions.start(user_id=user.id, org_id=org_id, totp_ok=True, ip=ip)
        if self._alerts is not None:
            await self._alerts.signed_in(user.id, ip)
        await self._audit.record(
            Actor("user", user_id=user.id, ip=ip), "login.succeeded", org_id=org_id
        )
        return LoginOutcome(session=session)

    async def code_step(self, pending: SessionRow, code: str, ip: str) -> LoginOutcome:
        """Check the second factor for a half-open session; on success replace the session."""
        user = await self._users.get(pending.user_id)
        if user is None or user.disabled:
            await self._sessions.end(pending)
            return LoginOutcome(message=WRONG_CREDENTIALS)
        lock = await self._limiter.check(login_keys(user.email, ip))
        if lock is not None:
            return LoginOutcome(message=lock.message, locked=True)
        how = await self._second_factor.check(user, code)
        if how is None:
            return await self._failed(user.email, ip, user.id, "code")
        await self._limiter.succeeded(login_keys(user.email, ip))
        await self._sessions.end(pending)
        session = await self._sessions.start(
            user_id=user.id, org_id=pending.org_id, totp_ok=True, ip=ip
        )
        if self._alerts is not None:
            await self._alerts.signed_in(user.id, ip)
        await self._audit.record(
            Actor("user", user_id=user.id, ip=ip),
            "login.succeeded",
            org_id=pending.org_id,
            detail={"second_factor": how},
        )
        return LoginOutcome(session=session)

    async def verify_credentials(self, email: str, password: str, code: str, ip: str) -> User:
        """The account, when ``password`` (and ``code``, if it has a second factor) are right.

        For acting as an account without a session (accepting an invitation through its link):
        rate limited and audited exactly like signing in; raises :class:`PasswordNotConfirmed`
        with the sign-in form's messages.
        """
        email = email.strip()
        lock = await self._limiter.check(login_keys(email, ip))
        if lock is not None:
            raise PasswordNotConfirmed(lock.message, locked=True)
        user = await self._users.by_email(email) if email else None
        ok = await self._passwords.verify(user.password_hash if user else None, password)
        if user is None or not ok or user.disabled:
            failed = await self._failed(email, ip, user.id if user else None, "password")
            raise PasswordNotConfirmed(failed.message, locked=failed.locked)
        if user.has_totp and await self._second_factor.check(user, code) is None:
            failed = await self._failed(email, ip, user.id, "code")
            raise PasswordNotConfirmed(failed.message, locked=failed.locked)
        await self._limiter.succeeded(login_keys(email, ip))
        return user

    async def confirm_password(self, user: User, password: str, ip: str, purpose: str) -> None:
        """Raise :class:`PasswordNotConfirmed` unless ``password`` is ``user``'s; failures count
        against the user and the address and lock further checks at the limit."""
        keys = password_check_keys(user.id, ip)
        lock = await self._limiter.check(keys)
        if lock is not None:
            raise _checks_locked(lock)
        if await self._passwords.verify(user.password_hash, password):
            await self._limiter.succeeded(keys)
            return
        lock = await self._limiter.failed(keys)
        await self._audit.record(
            Actor("user", user_id=user.id, ip=ip),
            "user.password_check_failed",
            org_id=None,
            target=f"user:{user.id}",
            detail={"purpose": purpose, "locked": lock is not None},
        )
        if lock is not None:
            raise _checks_locked(lock)
        raise PasswordNotConfirmed(WRONG_PASSWORD)
