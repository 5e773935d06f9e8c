from __future__ import annotations

import pytest

from callwright.errors import NotFound
from callwright.privacy.keyring import Keyring
from callwright.privacy.secrets import DecryptionFailed, MasterKey
from callwright.store.credentials import CredentialExists, CredentialRepository
from tests.callwright.store.conftest import MakeDb, MakeOrg

SECRET = "sk-live-0123456789abcdefWXYZ"


async def test_put_list_reveal(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    key = MasterKey.generate()
    repo = CredentialRepository(db, key)
    cred = await repo.put(org.id, "api_key", "openai", SECRET)
    # Sealed with the org's data key (the keyring), not the master key itself.
    assert (cred.kind, cred.name, cred.last_four, cred.key_id) == (
        "api_key", "openai", "WXYZ", await Keyring(db, key).current_id(org.id))
    assert cred.key_id != key.key_id
    listed = await repo.list(org.id)
    assert listed == [cred]
    assert SECRET not in repr(listed)
    assert not hasattr(cred, "secret") and not hasattr(cred, "secret_enc")
    assert await repo.reveal(org.id, "openai") == SECRET
    assert await repo.reveal_by_id(org.id, cred.id) == SECRET
    stored = await db.fetch_value("SELECT secret_enc FROM credentials WHERE id = ?", (cred.id,))
    assert SECRET.encode() not in bytes(stored)


async def test_short_secrets_show_no_last_four(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    repo = CredentialRepository(db, MasterKey.generate())
    cred = await repo.put(org.id, "password", "pbx", "hunter2")
    assert cred.last_four == ""
    assert await repo.reveal(org.id, "pbx") == "hunter2"


async def test_org_scoping(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org_a, org_b = await make_org(db), await make_org(db)
    repo = CredentialRepository(db, MasterKey.generate())
    cred = await repo.put(org_a.id, "api_key", "openai", SECRET)
    assert await repo.list(org_b.id) == []
    with pytest.raises(NotFound):
        await repo.reveal(org_b.id, "openai")
    with pytest.raises(NotFound):
        await repo.reveal_by_id(org_b.id, cred.id)
    with pytest.raises(NotFound):
        await repo.replace(org_b.id, "openai", "stolen-stolen")
    assert not await repo.delete(org_b.id, "openai")
    # the same name in another org is a separate credential
    await repo.put(org_b.id, "api_key", "openai", "sk-other-org-key-1111")
    assert await repo.reveal(org_a.id, "openai") == SECRET
    assert await repo.reveal(org_b.id, "openai") == "sk-other-org-key-1111"


async def test_a_row_copied_to_another_org_does_not_decrypt(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    org_a, org_b = await make_org(db), await make_org(db)
    repo = CredentialRepository(db, MasterKey.generate())
    await repo.put(org_a.id, "api_key", "openai", SECRET)
    await db.execute(
        "INSERT INTO credentials (org_id, kind, name, secret_enc, key_id, last_four, created_at,"
        " updated_at) SELECT ?, kind, name, secret_enc, key_id, last_four, created_at, updated_at"
        " FROM credentials WHERE org_id = ?",
        (org_b.id, org_a.id),
    )
    with pytest.raises(DecryptionFailed):
        await repo.reveal(org_b.id, "openai")
    # renamed within the same org: also refused
    await db.execute("UPDATE credentials SET name = 'renamed' WHERE org_id = ?", (org_a.id,))
    with pytest.raises(DecryptionFailed):
        await repo.reveal(org_a.id, "renamed")


async def test_tampered_row_and_other_key_fail(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    key = MasterKey.generate()
    repo = CredentialRepository(db, key)
    await repo.put(org.id, "access_token", "crm", SECRET)
    blob = bytearray(await db.fetch_value("SELECT secret_enc FROM credentials"))
    blob[-1] ^= 0x80
    await db.execute("UPDATE credentials SET secret_enc = ?", (bytes(blob),))
    with pytest.raises(DecryptionFailed, match="altered"):
        await repo.reveal(org.id, "crm")
    with pytest.raises(DecryptionFailed, match="master key"):
        await CredentialRepository(db, MasterKey.generate()).reveal(org.id, "crm")


async def test_replace_and_delete(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    repo = CredentialRepository(db, MasterKey.generate())
    first = await repo.put(org.id, "api_key", "openai", SECRET)
    with pytest.raises(CredentialExists):
        await repo.put(org.id, "api_key", "openai", "another-secret-value")
    replaced = await repo.replace(org.id, "openai", "sk-new-secret-9876")
    assert replaced.id == first.id and replaced.last_four == "9876"
    assert await repo.reveal(org.id, "openai") == "sk-new-secret-9876"
    assert await repo.delete(org.id, "openai")
    with pytest.raises(NotFound):
        await repo.reveal(org.id, "openai")
    with pytest.raises(NotFound):
        await repo.replace(org.id, "openai", "whatever-secret")


@pytest.mark.parametrize(
    ("kind", "name", "secret"),
    [("pgp", "x", "secret-value"), ("api_key", "", "secret-value"),
     ("api_key", "a\nb", "secret-value"), ("api_key", "x", "")],
)
async def test_bad_input(
    make_db: MakeDb, make_org: MakeOrg, kind: str, name: str, secret: str
) -> None:
    db = await make_db()
    org = await make_org(db)
    with pytest.raises(ValueError):
        await CredentialRepository(db, MasterKey.generate()).put(org.id, kind, name, secret)


async def test_unknown_org(make_db: MakeDb) -> None:
    repo = CredentialRepository(await make_db(), MasterKey.generate())
    with pytest.raises(NotFound):
        await repo.put(404, "api_key", "x", SECRET)
