from __future__ import annotations

import pytest

from callwright.errors import NotFound
from callwright.store.retention import RetentionRepository
from tests.callwright.store.conftest import MakeAssistant, MakeDb, MakeOrg


async def test_defaults_without_rows(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    repo = RetentionRepository(db)
    assert await repo.get(org.id) is None
    policy = await repo.effective(org.id, assistant_id=5)
    assert (policy.metadata_days, policy.transcript_days, policy.recording_days) == (365, 365, 90)
    assert policy.source == "default" and policy.updated_at is None


async def test_org_default_then_assistant_override(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant
) -> None:
    db = await make_db()
    org = await make_org(db)
    a1, a2 = await make_assistant(db, org.id), await make_assistant(db, org.id)
    repo = RetentionRepository(db)
    org_row = await repo.set(org.id, metadata_days=730, transcript_days=180, recording_days=30)
    assert (org_row.source, org_row.assistant_id) == ("org", None)
    override = await repo.set(org.id, a1.id, metadata_days=60, transcript_days=30,
                              recording_days=7)
    assert override.source == "assistant"

    assert (await repo.effective(org.id, a1.id)).recording_days == 7
    assert (await repo.effective(org.id, a2.id)).recording_days == 30
    assert (await repo.effective(org.id)).metadata_days == 730

    # setting again replaces the row instead of adding one
    await repo.set(org.id, metadata_days=400, transcript_days=400, recording_days=400)
    await repo.set(org.id, a1.id, metadata_days=61, transcript_days=30, recording_days=7)
    rows = await repo.list(org.id)
    assert [(p.assistant_id, p.metadata_days) for p in rows] == [(None, 400), (a1.id, 61)]

    assert await repo.clear(org.id, a1.id)
    assert (await repo.effective(org.id, a1.id)).source == "org"
    assert not await repo.clear(org.id, a1.id)


async def test_org_scoping(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant
) -> None:
    db = await make_db()
    org_a, org_b = await make_org(db), await make_org(db)
    theirs = await make_assistant(db, org_b.id)
    repo = RetentionRepository(db)
    with pytest.raises(NotFound):
        await repo.set(org_a.id, theirs.id, metadata_days=10, transcript_days=10,
                       recording_days=10)
    with pytest.raises(NotFound):
        await repo.set(999)
    await repo.set(org_a.id, metadata_days=10, transcript_days=10, recording_days=10)
    assert await repo.list(org_b.id) == []
    assert (await repo.effective(org_b.id)).source == "default"


@pytest.mark.parametrize(
    "days",
    [(0, 0, 0), (365, 365, -1), (40000, 1, 1), (30, 60, 1), (30, 1, 60)],
)
async def test_bad_day_counts(
    make_db: MakeDb, make_org: MakeOrg, days: tuple[int, int, int]
) -> None:
    db = await make_db()
    org = await make_org(db)
    with pytest.raises(ValueError, match="days"):
        await RetentionRepository(db).set(
            org.id, metadata_days=days[0], transcript_days=days[1], recording_days=days[2]
        )
