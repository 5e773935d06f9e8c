from __future__ import annotations

import pytest

from callwright.errors import NotFound
from callwright.store.orgs import OrgRepository, SlugTaken
from tests.callwright.store.conftest import MakeDb


async def test_create_get_list(make_db: MakeDb) -> None:
    db = await make_db()
    repo = OrgRepository(db, now=lambda: "2026-01-02T03:04:05.006Z")
    acme = await repo.create("Acme Corp", "acme")
    beta = await repo.create("Beta", "beta", require_totp=True)
    assert acme.name == "Acme Corp" and acme.slug == "acme"
    assert acme.created_at == "2026-01-02T03:04:05.006Z"
    assert not acme.require_totp and beta.require_totp
    assert await repo.get(acme.id) == acme
    assert await repo.get_by_slug("beta") == beta
    assert [o.slug for o in await repo.list()] == ["acme", "beta"]


async def test_missing_org_is_not_found(make_db: MakeDb) -> None:
    repo = OrgRepository(await make_db())
    with pytest.raises(NotFound):
        await repo.get(42)
    with pytest.raises(NotFound):
        await repo.get_by_slug("nobody")


async def test_slug_is_unique_and_validated(make_db: MakeDb) -> None:
    repo = OrgRepository(await make_db())
    await repo.create("Acme", "acme")
    with pytest.raises(SlugTaken):
        await repo.create("Acme again", "acme")
    for bad in ["", "Acme", "-acme", "acme-", "a b", "x" * 65]:
        with pytest.raises(ValueError, match="slug"):
            await repo.create("Bad", bad)
    with pytest.raises(ValueError, match="name"):
        await repo.create("  ", "blank")


async def test_update_flags_and_name(make_db: MakeDb) -> None:
    repo = OrgRepository(await make_db())
    org = await repo.create("Acme", "acme")
    changed = await repo.update(org.id, name="Acme Ltd", encrypt_recordings=True)
    assert changed.name == "Acme Ltd" and changed.encrypt_recordings and changed.slug == "acme"
    with pytest.raises(NotFound):
        await repo.update(999, name="x")


async def test_a_new_org_encrypts_its_recordings_unless_told_otherwise(
    make_db: MakeDb,
) -> None:
    db = await make_db()
    repo = OrgRepository(db)
    assert (await repo.create("New", "new")).encrypt_recordings is True
    plain = await repo.create("Plain", "plain", encrypt_recordings=False)
    assert plain.encrypt_recordings is False
