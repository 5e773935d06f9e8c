"""API token rows: revoking a member's tokens, and 0007 revoking tokens that have no issuer."""

from __future__ import annotations

import json

from callwright.store.tokens import TokenRepo
from callwright.store.users import UserRepo
from tests.callwright.store.conftest import MakeDb, MakeOrg


async def test_revoke_for_member_takes_only_that_members_live_tokens_with_the_roles_given(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    org = await make_org(db)
    other = await make_org(db)
    users = UserRepo(db)
    ann = await users.create("ann@x.example", "hash")
    bob = await users.create("bob@x.example", "hash")
    repo = TokenRepo(db)

    async def token(org_id: int, user_id: int, role: str, name: str) -> int:
        return await repo.create(
            org_id=org_id, user_id=user_id, name=name, token_hash=name, role=role, last_four="x"
        )

    ann_admin = await token(org.id, ann, "admin", "a1")
    ann_viewer = await token(org.id, ann, "viewer", "a2")
    ann_elsewhere = await token(other.id, ann, "admin", "a3")
    bob_admin = await token(org.id, bob, "admin", "b1")
    assert await repo.revoke_for_member(org.id, ann, ["owner", "admin"]) == (ann_admin,)
    assert await repo.revoke_for_member(org.id, ann, ["owner", "admin"]) == ()
    assert await repo.revoke_for_member(org.id, ann, []) == ()
    assert await repo.revoke_for_member(org.id, ann) == (ann_viewer,)
    live = {t.id for t in await repo.list(org.id) + await repo.list(other.id) if not t.revoked_at}
    assert live == {ann_elsewhere, bob_admin}


async def test_migration_0007_revokes_tokens_without_an_issuer(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    org = await make_org(db)
    ann = await UserRepo(db).create("ann@x.example", "hash")
    repo = TokenRepo(db)
    orphan = await repo.create(
        org_id=org.id, user_id=None, name="o", token_hash="o", role="owner", last_four="o"
    )
    backed = await repo.create(
        org_id=org.id, user_id=ann, name="b", token_hash="b", role="owner", last_four="b"
    )
    # Run 0007 again, as on a store that had these rows before it.
    await db.execute("DROP INDEX api_tokens_org_user")
    await db.execute("DELETE FROM schema_migrations WHERE number = 7")
    assert 7 in await db.migrate()
    rows = {t.id: t for t in await repo.list(org.id)}
    assert rows[orphan].revoked_at is not None and rows[backed].revoked_at is None
    audit = await db.fetch_all("SELECT org_id, actor, target, detail FROM audit_log")
    assert [(r["org_id"], r["actor"], r["target"]) for r in audit] == [
        (org.id, "system", f"token:{orphan}")
    ]
    assert json.loads(audit[0]["detail"]) == {"reason": "no issuer"}
