"""Campaigns and contacts in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from callwright.campaigns.contacts_csv import Contact
from callwright.errors import NotFound
from callwright.store.campaigns import Campaign, CampaignRepository
from tests.callwright.store.conftest import MakeAssistant, MakeDb, MakeOrg


async def test_create_claim_settle_and_count(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant
) -> None:
    db = await make_db()
    org = await make_org(db)
    assistant = await make_assistant(db, org.id)
    repo = CampaignRepository(db)
    contacts = [Contact(2, "+15550100100", {"first_name": "Ana"}),
                Contact(3, "+15550100101", {}, "Europe/Paris")]
    c = await repo.create(Campaign(0, org.id, "  Flu  shots ", assistant.id), contacts)
    assert (c.name, c.status, c.max_concurrent) == ("Flu shots", "draft", 5)
    assert [x.variables for x in await repo.contacts(c.id)] == [{"first_name": "Ana"}, {}]
    assert await repo.active() == []
    await repo.change(org.id, c.id, "start")
    assert [x.id for x in await repo.active()] == [c.id]
    [first, second] = await repo.due(c.id, "2026-12-07T12:00:00.000Z", 10)
    assert await repo.claim(first.id) and not await repo.claim(first.id)
    await repo.settle(first.id, "pending", "busy", "17 User busy", "2026-12-07T13:00:00.000Z")
    assert [x.id for x in await repo.due(c.id, "2026-12-07T12:30:00.000Z", 10)] == [second.id]
    counts = await repo.counts(c.id)
    assert (counts["pending"], counts["outcome:busy"]) == (2, 1)
    with pytest.raises(NotFound):
        await repo.get(c.id, org_id=org.id + 1)
    assert [x.id for x in await repo.list_for_org(org.id)] == [c.id]


@pytest.mark.parametrize(("field", "value"), [
    ("name", " "), ("max_concurrent", 0), ("calls_per_minute", 10_000), ("max_attempts", "3"),
    ("window_start", "9am"), ("window_days", "0"), ("timezone", "Paris"),
])
async def test_bad_settings(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant, field: str, value: object
) -> None:
    db = await make_db()
    org = await make_org(db)
    assistant = await make_assistant(db, org.id)
    settings = Campaign(0, org.id, "C", assistant.id)
    with pytest.raises(ValueError, match=field.split("_")[0]):
        await CampaignRepository(db).create(
            Campaign(**{**settings.to_json(), field: value}), [])
