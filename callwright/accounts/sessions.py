"""Browser sessions: a random cookie value, stored only as its sha256, with an absolute expiry.

A session starts after the password is right. If the user has a second factor, it starts "half
open" (``totp_ok`` false, a 10-minute life) and is only good for the TOTP page; the code opens a
fresh session (a new cookie value, so a value planted before sign-in is worth nothing) that lives
``hours``. Each session carries its own CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from callwright.store.clock import format_iso, utc_now
from callwright.store.tokens import SessionRepo, SessionRow

PENDING_TOTP_MINUTES = 10


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class StartedSession:
    cookie_value: str
    row: SessionRow
    max_age_s: int


class SessionManager:
    def __init__(
        self,
        repo: SessionRepo,
        *,
        hours: float = 12.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._repo = repo
        self._hours = hours
        self._clock = clock

    async def start(
        self, *, user_id: int, org_id: int | None, totp_ok: bool, ip: str
    ) -> StartedSession:
        cookie_value = secrets.token_urlsafe(32)
        lifetime = (
            timedelta(hours=self._hours) if totp_ok else timedelta(minutes=PENDING_TOTP_MINUTES)
        )
        expires = format_iso(self._clock() + lifetime)
        id_hash = digest(cookie_value)
        await self._repo.create(
            id_hash,
            user_id=user_id,
            org_id=org_id,
            csrf_token=secrets.token_urlsafe(32),
            totp_ok=totp_ok,
            expires_at=expires,
            ip=ip,
        )
        row = await self._repo.get(id_hash)
        assert row is not None
        return StartedSession(cookie_value, row, int(lifetime.total_seconds()))

    async def load(self, cookie_value: str) -> SessionRow | None:
        """The live session for this cookie value; an expired one is deleted and not returned."""
        if not cookie_value or len(cookie_value) > 200:
            return None
        id_hash = digest(cookie_value)
        row = await self._repo.get(id_hash)
        if row is None:
            return None
        if row.expires_at <= format_iso(self._clock()):
            await self._repo.delete(id_hash)
            return None
        return row

    async def switch_org(self, row: SessionRow, org_id: int) -> None:
        await self._repo.set_org(row.id, org_id)

    async def end(self, row: SessionRow) -> None:
        await self._repo.delete(row.id)

    async def end_all_for_user(self, user_id: int, keep: SessionRow | None = None) -> int:
        return await self._repo.delete_for_user(user_id, keep.id if keep else None)

    async def end_all_in_org(self, user_id: int, org_id: int) -> int:
        return await self._repo.delete_for_user_in_org(user_id, org_id)

    async def purge_expired(self) -> int:
        return await self._repo.purge_expired(format_iso(self._clock()))
