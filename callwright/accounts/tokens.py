"""API tokens for automation: shown once when issued, stored as sha256, revocable, with a role.

A token looks like ``cwt_<43 url-safe characters>`` (256 random bits). It is sent as
``Authorization: Bearer cwt_…`` and acts in its org with its role, never more than the role of the
person who issued it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from callwright.accounts.roles import Role
from callwright.store.clock import format_iso, parse_iso, utc_now
from callwright.store.tokens import TokenRepo, TokenRow

PREFIX = "cwt_"
_TOUCH_EVERY = timedelta(minutes=5)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    id: int
    token: str  # the only time the plain token exists outside the client
    last_four: str


class ApiTokens:
    def __init__(self, repo: TokenRepo, clock: Callable[[], datetime] = utc_now) -> None:
        self._repo = repo
        self._clock = clock

    async def issue(
        self, *, org_id: int, user_id: int | None, name: str, role: Role
    ) -> IssuedToken:
        token = PREFIX + secrets.token_urlsafe(32)
        token_id = await self._repo.create(
            org_id=org_id,
            user_id=user_id,
            name=name,
            token_hash=token_digest(token),
            role=role.value,
            last_four=token[-4:],
        )
        return IssuedToken(token_id, token, token[-4:])

    async def authenticate(self, token: str) -> TokenRow | None:
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        row = await self._repo.by_hash(token_digest(token))
        if row is None:
            return None
        now = self._clock()
        if row.last_used_at is None or parse_iso(row.last_used_at) + _TOUCH_EVERY < now:
            await self._repo.touch(row.id, format_iso(now))
        return row

    async def list(self, org_id: int) -> list[TokenRow]:
        return await self._repo.list(org_id)

    async def revoke(self, org_id: int, token_id: int) -> bool:
        return await self._repo.revoke(org_id, token_id)
