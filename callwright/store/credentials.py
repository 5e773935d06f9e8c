"""Credentials: secrets an org stores for its assistants (LLM API keys, webhook URLs, ...).

A secret is sealed with its org's current data key (AES-256-GCM; the keys live in the keyring,
callwright.privacy.keyring, wrapped by the instance master key); the row's ``key_id`` names the
key, so a secret sealed before a rotation, or with the master key before the keyring existed (the
legacy key id), still opens. It is never returned by listing: only its kind, name and last four
characters (none at all for a secret shorter than 8 characters, where four would give too much
away). The associated data binds
the sealed value to its org and name, so a row copied into another org, or renamed, does not open.
:meth:`CredentialRepository.reveal` is for internal use only (the LLM client); never log its
result, never put it in a prompt, never send it to a browser.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from callwright.errors import NotFound, StoreError
from callwright.privacy.keyring import Keyring
from callwright.privacy.secrets import MasterKey
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Row

KINDS = ("api_key", "access_token", "webhook_url", "password")
MIN_LEN_FOR_LAST_FOUR = 8
_COLUMNS = "id, org_id, kind, name, key_id, last_four, created_at, updated_at"


class CredentialExists(StoreError):
    """The org already has a credential with this name."""


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential's public face: everything but the secret."""

    id: int
    org_id: int
    kind: str
    name: str
    key_id: str
    last_four: str
    created_at: str
    updated_at: str


def _from_row(row: Row) -> Credential:
    return Credential(
        id=int(row["id"]), org_id=int(row["org_id"]), kind=str(row["kind"]),
        name=str(row["name"]), key_id=str(row["key_id"]), last_four=str(row["last_four"]),
        created_at=str(row["created_at"]), updated_at=str(row["updated_at"]),
    )


def credential_aad(org_id: int, name: str) -> bytes:
    """The associated data that ties a sealed secret to its org and name."""
    return f"callwright/credential/v1\x00{org_id}\x00{name}".encode()


def last_four(secret: str) -> str:
    return secret[-4:] if len(secret) >= MIN_LEN_FOR_LAST_FOUR else ""


def _check(kind: str | None, name: str, secret: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise ValueError(f"credential kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not name.strip() or len(name) > 100 or any(ord(ch) < 32 for ch in name):
        raise ValueError("a credential name is 1-100 printable characters")
    if secret is not None and not secret:
        raise ValueError("a credential secret cannot be empty")


class CredentialRepository:
    def __init__(
        self, db: Database, keys: MasterKey | Keyring, now: Callable[[], str] = utc_now_iso
    ) -> None:
        self._db = db
        self._keys = keys if isinstance(keys, Keyring) else Keyring(db, keys, now)
        self._now = now

    async def _seal(self, org_id: int, name: str, secret: str) -> tuple[bytes, str]:
        """The sealed secret and the id of the key that sealed it (the org's current key)."""
        key = await self._keys.current(org_id)
        return key.encrypt(secret.encode("utf-8"), credential_aad(org_id, name)), key.key_id

    async def put(self, org_id: int, kind: str, name: str, secret: str) -> Credential:
        """Store a new credential. Raises ValueError, CredentialExists, NotFound (unknown org)."""
        _check(kind, name, secret)
        now = self._now()
        if await self._db.fetch_one("SELECT 1 FROM orgs WHERE id = ?", (org_id,)) is None:
            raise NotFound(f"org {org_id} not found")
        sealed, key_id = await self._seal(org_id, name, secret)
        try:
            async with self._db.transaction() as conn:
                async with conn.execute("SELECT 1 FROM orgs WHERE id = ?", (org_id,)) as cur:
                    if await cur.fetchone() is None:
                        raise NotFound(f"org {org_id} not found")
                await conn.execute(
                    "INSERT INTO credentials (org_id, kind, name, secret_enc, key_id, last_four,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (org_id, kind, name, sealed, key_id, last_four(secret), now, now),
                )
        except sqlite3.IntegrityError as exc:
            raise CredentialExists(f"a credential named {name!r} already exists") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot store credential: {exc}") from exc
        return await self.get(org_id, name)

    async def replace(self, org_id: int, name: str, secret: str) -> Credential:
        """Replace the secret of an existing credential (re-sealed with the current key)."""
        _check(None, name, secret)
        await self.get(org_id, name)
        sealed, key_id = await self._seal(org_id, name, secret)
        changed = await self._db.execute_rowcount(
            "UPDATE credentials SET secret_enc = ?, key_id = ?, last_four = ?, updated_at = ?"
            " WHERE org_id = ? AND name = ?",
            (sealed, key_id, last_four(secret), self._now(), org_id, name),
        )
        if changed == 0:
            raise NotFound(f"credential {name!r} not found")
        return await self.get(org_id, name)

    async def delete(self, org_id: int, name: str) -> bool:
        changed = await self._db.execute_rowcount(
            "DELETE FROM credentials WHERE org_id = ? AND name = ?", (org_id, name)
        )
        return changed > 0

    async def get(self, org_id: int, name: str) -> Credential:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM credentials WHERE org_id = ? AND name = ?", (org_id, name)
        )
        if row is None:
            raise NotFound(f"credential {name!r} not found")
        return _from_row(row)

    async def get_by_id(self, org_id: int, credential_id: int) -> Credential:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM credentials WHERE org_id = ? AND id = ?",
            (org_id, credential_id),
        )
        if row is None:
            raise NotFound(f"credential {credential_id} not found")
        return _from_row(row)

    async def list(self, org_id: int) -> list[Credential]:
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM credentials WHERE org_id = ? ORDER BY name", (org_id,)
        )
        return [_from_row(row) for row in rows]

    async def reveal(self, org_id: int, name: str) -> str:
        """The plaintext secret. Internal use only. Raises NotFound or DecryptionFailed."""
        return await self._reveal("name = ?", name, org_id, repr(name))

    async def reveal_by_id(self, org_id: int, credential_id: int) -> str:
        """As :meth:`reveal`, by id (an assistant's ``llm.credential_id``)."""
        return await self._reveal("id = ?", credential_id, org_id, str(credential_id))

    async def _reveal(self, where: str, key: object, org_id: int, shown: str) -> str:
        row = await self._db.fetch_one(
            f"SELECT name, secret_enc, key_id FROM credentials WHERE org_id = ? AND {where}",
            (org_id, key),
        )
        if row is None:
            raise NotFound(f"credential {shown} not found")
        key = await self._keys.key(str(row["key_id"]))
        plain = key.decrypt(bytes(row["secret_enc"]), credential_aad(org_id, row["name"]))
        return plain.decode("utf-8")

    async def reseal_batch(self, org_id: int, limit: int = 50) -> int:
        """Re-seal up to ``limit`` of the org's credentials that another key than the current
        one sealed; return how many were re-sealed (0: none is left). A row changed meanwhile
        (replaced, renamed, deleted) is left as it is now."""
        current = await self._keys.current(org_id)
        rows = await self._db.fetch_all(
            "SELECT id, name, secret_enc, key_id FROM credentials"
            " WHERE org_id = ? AND key_id != ? ORDER BY id LIMIT ?",
            (org_id, current.key_id, limit),
        )
        done = 0
        for row in rows:
            aad = credential_aad(org_id, row["name"])
            old = await self._keys.key(str(row["key_id"]))
            sealed = current.encrypt(old.decrypt(bytes(row["secret_enc"]), aad), aad)
            done += await self._db.execute_rowcount(
                "UPDATE credentials SET secret_enc = ?, key_id = ?"
                " WHERE id = ? AND key_id = ? AND secret_enc = ?",
                (sealed, current.key_id, row["id"], row["key_id"], row["secret_enc"]),
            )
        return done

    async def count_not_current(self, org_id: int) -> int:
        """How many of the org's credentials another key than its current one sealed."""
        current = await self._keys.current_id(org_id)
        value = await self._db.fetch_value(
            "SELECT COUNT(*) FROM credentials WHERE org_id = ? AND key_id != ?",
            (org_id, current or ""),
        )
        return int(value or 0)
