"""Browser sessions and API tokens (tables ``sessions`` and ``api_tokens``).

Neither table holds a usable secret: a session row is keyed by the sha256 of the cookie value, a
token row by the sha256 of the token. Someone who reads the database cannot sign in with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Row


@dataclass(frozen=True)
class SessionRow:
    id: str
    user_id: int
    org_id: int | None
    csrf_token: str
    totp_ok: bool
    created_at: str
    expires_at: str
    ip: str


@dataclass(frozen=True)
class TokenRow:
    id: int
    org_id: int
    user_id: int | None
    name: str
    role: str
    last_four: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


def _session(row: Row) -> SessionRow:
    return SessionRow(
        id=row["id"],
        user_id=row["user_id"],
        org_id=row["org_id"],
        csrf_token=row["csrf_token"],
        totp_ok=bool(row["totp_ok"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        ip=row["ip"],
    )


def _token(row: Row) -> TokenRow:
    return TokenRow(
        id=row["id"],
        org_id=row["org_id"],
        user_id=row["user_id"],
        name=row["name"],
        role=row["role"],
        last_four=row["last_four"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


class SessionRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        id_hash: str,
        *,
        user_id: int,
        org_id: int | None,
        csrf_token: str,
        totp_ok: bool,
        expires_at: str,
        ip: str,
    ) -> None:
        await self._db.execute(
            "INSERT INTO sessions (id, user_id, org_id, csrf_token, totp_ok, created_at,"
            " expires_at, ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (id_hash, user_id, org_id, csrf_token, int(totp_ok), utc_now_iso(), expires_at, ip),
        )

    async def get(self, id_hash: str) -> SessionRow | None:
        row = await self._db.fetch_one("SELECT * FROM sessions WHERE id = ?", (id_hash,))
        return None if row is None else _session(row)

    async def set_org(self, id_hash: str, org_id: int) -> None:
        await self._db.execute("UPDATE sessions SET org_id = ? WHERE id = ?", (org_id, id_hash))

    async def delete(self, id_hash: str) -> None:
        await self._db.execute("DELETE FROM sessions WHERE id = ?", (id_hash,))

    async def delete_for_user(self, user_id: int, keep: str | None = None) -> int:
        """End every session of ``user_id`` except ``keep`` (password change, user disabled)."""
        return await self._db.execute_rowcount(
            "DELETE FROM sessions WHERE user_id = ? AND id != ?", (user_id, keep or "")
        )

    async def delete_for_user_in_org(self, user_id: int, org_id: int) -> int:
        """End ``user_id``'s sessions in ``org_id`` (their membership there was disabled)."""
        return await self._db.execute_rowcount(
            "DELETE FROM sessions WHERE user_id = ? AND org_id = ?", (user_id, org_id)
        )

    async def purge_expired(self, now_iso: str) -> int:
        return await self._db.execute_rowcount(
            "DELETE FROM sessions WHERE expires_at <= ?", (now_iso,)
        )


class TokenRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        org_id: int,
        user_id: int | None,
        name: str,
        token_hash: str,
        role: str,
        last_four: str,
    ) -> int:
        return await self._db.execute(
            "INSERT INTO api_tokens (org_id, user_id, name, token_hash, role, last_four,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (org_id, user_id, name, token_hash, role, last_four, utc_now_iso()),
        )

    async def by_hash(self, token_hash: str) -> TokenRow | None:
        """The live (not revoked) token with this hash."""
        row = await self._db.fetch_one(
            "SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL", (token_hash,)
        )
        return None if row is None else _token(row)

    async def list(self, org_id: int) -> list[TokenRow]:
        rows = await self._db.fetch_all(
            "SELECT * FROM api_tokens WHERE org_id = ? ORDER BY revoked_at IS NOT NULL, id DESC",
            (org_id,),
        )
        return [_token(row) for row in rows]

    async def get(self, org_id: int, token_id: int) -> TokenRow | None:
        row = await self._db.fetch_one(
            "SELECT * FROM api_tokens WHERE org_id = ? AND id = ?", (org_id, token_id)
        )
        return None if row is None else _token(row)

    async def revoke(self, org_id: int, token_id: int) -> bool:
        changed = await self._db.execute_rowcount(
            "UPDATE api_tokens SET revoked_at = ? WHERE org_id = ? AND id = ?"
            " AND revoked_at IS NULL",
            (utc_now_iso(), org_id, token_id),
        )
        return changed == 1

    async def revoke_for_member(
        self, org_id: int, user_id: int, roles: Sequence[str] | None = None
    ) -> tuple[int, ...]:
        """Revoke the live tokens ``user_id`` issued in ``org_id`` (only those with one of
        ``roles``, when given); return their ids, for the audit log."""
        if roles is not None and not roles:
            return ()  # no role wanted: nothing to revoke (and no empty IN () list to send)
        wanted = "" if roles is None else f" AND role IN ({', '.join('?' for _ in roles)})"
        params: tuple[object, ...] = (org_id, user_id, *(roles or ()))
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT id FROM api_tokens WHERE org_id = ? AND user_id = ?"
                f" AND revoked_at IS NULL{wanted} ORDER BY id",
                params,
            ) as cur:
                ids = tuple(int(row[0]) for row in await cur.fetchall())
            if ids:
                marks = ", ".join("?" for _ in ids)
                await conn.execute(
                    f"UPDATE api_tokens SET revoked_at = ? WHERE id IN ({marks})",
                    (utc_now_iso(), *ids),
                )
        return ids

    async def touch(self, token_id: int, at: str) -> None:
        await self._db.execute(
            "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (at, token_id)
        )
