"""The keyring: a data key per org wrapped by the master key; rotation keeps old data readable;
credentials sealed with the master key before the keyring (the legacy key id) still open."""

from __future__ import annotations

import pytest

from callwright.privacy.keyring import Keyring, MasterKeyMismatch, UnknownKey
from callwright.privacy.secrets import DecryptionFailed, MasterKey
from callwright.store.credentials import CredentialRepository, credential_aad
from callwright.store.db import Database
from tests.callwright.store.conftest import MakeDb, MakeOrg

SECRET = "sk-live-0123456789abcdefWXYZ"


async def test_a_data_key_per_org_made_on_first_use_and_stored_wrapped(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    org_a, org_b = await make_org(db), await make_org(db)
    master = MasterKey.generate()
    ring = Keyring(db, master)
    assert await ring.current_id(org_a.id) is None
    key_a = await ring.current(org_a.id)
    assert (await ring.current(org_a.id)).key_id == key_a.key_id
    key_b = await ring.current(org_b.id)
    assert key_a.key_id != key_b.key_id and key_a.material != key_b.material
    row = await db.fetch_one("SELECT wrapped, master_key_id FROM data_keys WHERE id = ?",
                             (key_a.key_id,))
    assert row is not None and row["master_key_id"] == master.key_id
    assert key_a.material not in bytes(row["wrapped"])
    # A fresh keyring (another process) unwraps the same key.
    again = await Keyring(db, master).key(key_a.key_id)
    assert again.material == key_a.material
    # Another master key cannot.
    with pytest.raises(MasterKeyMismatch):
        await Keyring(db, MasterKey.generate()).key(key_a.key_id)
    with pytest.raises(UnknownKey):
        await ring.key("d000000000000")


async def test_a_wrapped_key_moved_to_another_org_does_not_open(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    org_a, org_b = await make_org(db), await make_org(db)
    master = MasterKey.generate()
    key = await Keyring(db, master).current(org_a.id)
    await db.execute("UPDATE data_keys SET org_id = ? WHERE id = ?", (org_b.id, key.key_id))
    with pytest.raises(DecryptionFailed):
        await Keyring(db, master).key(key.key_id)


async def test_rotation_makes_a_new_current_key_and_keeps_the_old_one(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    org = await make_org(db)
    master = MasterKey.generate()
    ring = Keyring(db, master)
    repo = CredentialRepository(db, ring)
    first = await repo.put(org.id, "api_key", "openai", SECRET)
    new = await ring.rotate(org.id)
    assert new.key_id != first.key_id
    assert await ring.current_id(org.id) == new.key_id
    second = await repo.put(org.id, "api_key", "crm", "tok-abcdefgh1234")
    assert second.key_id == new.key_id
    states = {info.id: info.state for info in await ring.list(org.id)}
    assert states == {first.key_id: "retired", new.key_id: "current"}
    # Both readable, also from a new process (nothing cached).
    fresh = CredentialRepository(db, master)
    assert await fresh.reveal(org.id, "openai") == SECRET
    assert await fresh.reveal(org.id, "crm") == "tok-abcdefgh1234"
    assert await fresh.count_not_current(org.id) == 1


async def _legacy_credential(db: Database, org_id: int, master: MasterKey, name: str,
                             secret: str) -> None:
    """A credential as the code before the keyring stored it: sealed with the master key."""
    await db.execute(
        "INSERT INTO credentials (org_id, kind, name, secret_enc, key_id, last_four, created_at,"
        " updated_at) VALUES (?, 'api_key', ?, ?, ?, '', '2026-01-01T00:00:00Z',"
        " '2026-01-01T00:00:00Z')",
        (org_id, name, master.encrypt(secret.encode(), credential_aad(org_id, name)),
         master.key_id),
    )


async def test_legacy_credentials_stay_readable_and_are_resealed(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    org = await make_org(db)
    master = MasterKey.generate()
    for index in range(5):
        await _legacy_credential(db, org.id, master, f"old-{index}", f"{SECRET}-{index}")
    repo = CredentialRepository(db, master)
    assert await repo.reveal(org.id, "old-3") == f"{SECRET}-3"
    assert await repo.count_not_current(org.id) == 5
    assert await repo.reseal_batch(org.id, limit=2) == 2
    assert await repo.count_not_current(org.id) == 3
    while await repo.reseal_batch(org.id, limit=2):
        pass
    assert await repo.count_not_current(org.id) == 0
    current = await Keyring(db, master).current_id(org.id)
    key_ids = {row[0] for row in await db.fetch_all("SELECT key_id FROM credentials")}
    assert key_ids == {current}
    for index in range(5):
        assert await repo.reveal(org.id, f"old-{index}") == f"{SECRET}-{index}"
