"""The keyring: an AES-256 data key per org, each stored wrapped by the instance master key.

An org's credentials, and the per-file keys of its encrypted recordings, are sealed with the org's
*current* data key; every ciphertext names the id of the key that sealed it (the credential row's
``key_id``, the recording file's header). A rotation (:meth:`Keyring.rotate`) retires the current
key and makes a new one for new data: retired keys stay in the keyring, so everything sealed
before stays readable until it is re-encrypted (:mod:`callwright.privacy.key_rotation`).

Data sealed before the keyring existed was sealed with the master key itself and names the master
key's id (the *legacy* key id): :meth:`Keyring.key` answers that id with the master key, or, after
a master key rotation, with the former master key kept wrapped in the keyring (a row without org).

Keys never change once made, so unwrapped keys are cached for the life of the process; which key
is current is read from the store each time (another process may have rotated it).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from callwright.errors import StoreError
from callwright.privacy.secrets import KEY_BYTES, DecryptionFailed, MasterKey, SealingKey
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Row

_COLUMNS = "id, org_id, wrapped, master_key_id, state, created_at, retired_at"


class UnknownKey(DecryptionFailed):
    """A ciphertext names a key this keyring does not hold (another instance's, or deleted)."""


class MasterKeyMismatch(DecryptionFailed):
    """The data keys are wrapped by another master key than the one loaded."""


@dataclass(frozen=True, slots=True)
class DataKeyInfo:
    """A keyring entry without its key."""

    id: str
    org_id: int | None
    master_key_id: str
    state: str
    created_at: str
    retired_at: str | None


def wrap_aad(key_id: str, org_id: int | None) -> bytes:
    """The associated data that ties a wrapped key to its id and org."""
    return f"callwright/data-key/v1\x00{key_id}\x00{'' if org_id is None else org_id}".encode()


def new_key_id() -> str:
    """A fresh data key id: ``d`` and 12 random hex digits (never 8, the length of a master id)."""
    return "d" + secrets.token_hex(6)


def _info(row: Row) -> DataKeyInfo:
    return DataKeyInfo(
        id=str(row["id"]), org_id=None if row["org_id"] is None else int(row["org_id"]),
        master_key_id=str(row["master_key_id"]), state=str(row["state"]),
        created_at=str(row["created_at"]),
        retired_at=None if row["retired_at"] is None else str(row["retired_at"]),
    )


class Keyring:
    """The data keys of every org, in the store, unwrapped with ``master_key`` when used."""

    def __init__(
        self, db: Database, master_key: MasterKey, now: Callable[[], str] = utc_now_iso
    ) -> None:
        self._db = db
        self.master_key = master_key
        self._now = now
        self._cache: dict[str, SealingKey] = {}

    def _unwrap(self, row: Row) -> SealingKey:
        key_id = str(row["id"])
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        if row["master_key_id"] != self.master_key.key_id:
            raise MasterKeyMismatch(
                f"data key {key_id} is wrapped by master key {row['master_key_id']}, but the "
                f"loaded master key is {self.master_key.key_id}: load the right master key file "
                "(or finish an interrupted rotation: callwright privacy rotate-key --master)"
            )
        org_id = None if row["org_id"] is None else int(row["org_id"])
        material = self.master_key.decrypt(bytes(row["wrapped"]), wrap_aad(key_id, org_id))
        key = SealingKey(material, key_id)
        self._cache[key_id] = key
        return key

    async def key(self, key_id: str) -> SealingKey:
        """The key named ``key_id`` (a data key, or the master key for legacy data).

        Raises :class:`UnknownKey`, :class:`MasterKeyMismatch` or DecryptionFailed."""
        if key_id == self.master_key.key_id:
            return self.master_key
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM data_keys WHERE id = ?", (key_id,))
        if row is None:
            raise UnknownKey(
                f"no key {key_id} in this instance's keyring (sealed by another instance, or by "
                "a master key that was replaced without a rotation)"
            )
        return self._unwrap(row)

    async def resolver(self) -> Callable[[str], SealingKey]:
        """A look-up from key id to key for synchronous code (worker threads): every key of
        the keyring is unwrapped now; an id it does not know raises :class:`UnknownKey`."""
        rows = await self._db.fetch_all(f"SELECT {_COLUMNS} FROM data_keys")
        known: dict[str, SealingKey] = {self.master_key.key_id: self.master_key}
        for row in rows:
            if row["id"] != self.master_key.key_id:
                known[str(row["id"])] = self._unwrap(row)

        def find(key_id: str) -> SealingKey:
            try:
                return known[key_id]
            except KeyError:
                raise UnknownKey(f"no key {key_id} in this instance's keyring") from None

        return find

    async def current(self, org_id: int) -> SealingKey:
        """The org's current data key, made on first use."""
        row = await self._current_row(org_id)
        if row is not None:
            return self._unwrap(row)
        try:
            return await self._insert(org_id, retire=False)
        except StoreError:
            row = await self._current_row(org_id)  # another writer made it meanwhile
            if row is None:
                raise
            return self._unwrap(row)

    async def current_id(self, org_id: int) -> str | None:
        """The id of the org's current data key, None before its first."""
        row = await self._current_row(org_id)
        return None if row is None else str(row["id"])

    async def rotate(self, org_id: int) -> SealingKey:
        """Retire the org's current data key (it keeps opening what it sealed) and make a new
        current one for new data."""
        return await self._insert(org_id, retire=True)

    async def list(self, org_id: int | None = None) -> list[DataKeyInfo]:
        """Every entry (of one org, when given), oldest first."""
        if org_id is None:
            rows = await self._db.fetch_all(
                f"SELECT {_COLUMNS} FROM data_keys ORDER BY created_at, rowid"
            )
        else:
            rows = await self._db.fetch_all(
                f"SELECT {_COLUMNS} FROM data_keys WHERE org_id = ? ORDER BY created_at, rowid",
                (org_id,),
            )
        return [_info(row) for row in rows]

    async def _current_row(self, org_id: int) -> Row | None:
        return await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM data_keys WHERE org_id = ? AND state = 'current'", (org_id,)
        )

    async def _insert(self, org_id: int, *, retire: bool) -> SealingKey:
        key = SealingKey(secrets.token_bytes(KEY_BYTES), new_key_id())
        now = self._now()
        wrapped = self.master_key.encrypt(key.material, wrap_aad(key.key_id, org_id))
        try:
            async with self._db.transaction() as conn:
                async with conn.execute(
                    "SELECT master_key_id FROM data_keys WHERE master_key_id != ? LIMIT 1",
                    (self.master_key.key_id,),
                ) as cur:
                    other = await cur.fetchone()
                if other is not None:
                    raise MasterKeyMismatch(
                        f"the keyring is wrapped by master key {other[0]}, not the loaded "
                        f"{self.master_key.key_id}: restart with the current master key file"
                    )
                if retire:
                    await conn.execute(
                        "UPDATE data_keys SET state = 'retired', retired_at = ?"
                        " WHERE org_id = ? AND state = 'current'",
                        (now, org_id),
                    )
                await conn.execute(
                    "INSERT INTO data_keys (id, org_id, wrapped, master_key_id, state, created_at)"
                    " VALUES (?, ?, ?, ?, 'current', ?)",
                    (key.key_id, org_id, wrapped, self.master_key.key_id, now),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot add a data key for org {org_id}: {exc}") from exc
        self._cache[key.key_id] = key
        return key
