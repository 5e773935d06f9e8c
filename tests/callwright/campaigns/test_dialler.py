"""The campaign dialler against a real store: pacing, concurrency, windows, retries, restarts
(nobody called twice), do-not-call, cancel, completion. The call service is played by
finishing the queued outbound rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callwright.campaigns.contacts_csv import parse_contacts
from callwright.campaigns.dialler import CampaignDialler
from callwright.outbound.dial_result import DialResult
from callwright.outbound.placing import OutboundPlacer, RestrictionsDoNotCall
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from callwright.store.assistants import AssistantRepository
from callwright.store.campaigns import Campaign, CampaignRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from callwright.store.orgs import OrgRepository
from callwright.store.outbound_calls import OutboundCallRepository

MONDAY_NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@dataclass
class Rig:
    db: Database
    campaigns: CampaignRepository
    outbound: OutboundCallRepository
    restrictions: CallerRestrictionRepository
    org_id: int
    assistant_id: int
    now: datetime = MONDAY_NOON
    mono: float = 0.0

    def dialler(self) -> CampaignDialler:
        placer = OutboundPlacer(AssistantRepository(self.db), NumberRepository(self.db),
                                self.outbound, RestrictionsDoNotCall(self.restrictions))
        return CampaignDialler(self.campaigns, self.outbound, placer,
                               now=lambda: self.now, monotonic=lambda: self.mono)

    async def campaign(self, csv: str, **settings: object) -> Campaign:
        parsed = parse_contacts(csv)
        assert parsed.errors == []
        made = await self.campaigns.create(Campaign(
            0, self.org_id, "Reminders", self.assistant_id, timezone="UTC",
            window_days="1,2,3,4,5,6,7", **settings), parsed.contacts)  # type: ignore[arg-type]
        return await self.campaigns.change(self.org_id, made.id, "start")

    async def answer_all(self, outcome: str = "answered", cause: int | None = None) -> int:
        rows = await self.db.fetch_all("SELECT id FROM outbound_calls WHERE status != 'ended'")
        for row in rows:
            await self.outbound.finish(int(row["id"]), DialResult(outcome, cause, "", 100))
        return len(rows)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    db = await Database.open(tmp_path / "store.db")
    org = await OrgRepository(db).create("Acme", "acme")
    assistant = await AssistantRepository(db).create(org.id, "Reminders", "en", "Hi {first_name}")
    await NumberRepository(db).create(org.id, "+15550111", direction="outbound",
                                      outbound_endpoint="Local/{number}@callwright-outbound")
    restrictions = CallerRestrictionRepository(db, MasterKey.load_or_create(tmp_path / "k"))
    yield Rig(db, CampaignRepository(db), OutboundCallRepository(db), restrictions, org.id,
              assistant.id)
    await db.close()


def numbers(n: int, start: int = 100) -> str:
    return "number,first_name\n" + "".join(f"+1555010{start + i:04d},N{i}\n" for i in range(n))


async def test_pacing_and_concurrency(rig: Rig) -> None:
    c = await rig.campaign(numbers(30), max_concurrent=4, calls_per_minute=60)
    dialler = rig.dialler()
    assert (await dialler.tick()).queued == 1  # the bucket starts with one call
    rig.mono += 10
    assert (await dialler.tick()).queued == 3  # 4 at once at most
    rig.mono += 10
    assert (await dialler.tick()).queued == 0
    assert await rig.answer_all() == 4
    report = await dialler.tick()
    assert (report.settled, report.queued) == (4, 4)
    row = (await rig.outbound.list_recent(rig.org_id, 1))[0]
    assert row.variables["first_name"].startswith("N") and row.campaign_id == c.id
    counts = await rig.campaigns.counts(c.id)
    assert (counts["done"], counts["calling"], counts["outcome:answered"]) == (4, 4, 4)


async def test_retries_with_backoff_then_failed(rig: Rig) -> None:
    c = await rig.campaign(numbers(1), max_attempts=2, retry_minutes=10)
    dialler = rig.dialler()
    assert (await dialler.tick()).queued == 1
    await rig.answer_all("busy", 17)
    await dialler.tick()
    [contact] = await rig.campaigns.contacts(c.id)
    assert (contact.status, contact.attempts, contact.last_outcome) == ("pending", 1, "busy")
    rig.mono += 60
    assert (await dialler.tick()).queued == 0  # not before the backoff
    rig.now += timedelta(minutes=10)
    assert (await dialler.tick()).queued == 1
    await rig.answer_all("no_answer", 19)
    report = await dialler.tick()
    [contact] = await rig.campaigns.contacts(c.id)
    assert (contact.status, contact.attempts) == ("failed", 2)
    assert report.completed == [c.id]
    assert (await rig.campaigns.get(c.id)).status == "completed"


async def test_window_closed_waits_for_the_opening(rig: Rig) -> None:
    c = await rig.campaign(numbers(1), window_start="13:00", window_end="14:00")
    dialler = rig.dialler()
    assert (await dialler.tick()).queued == 0
    [contact] = await rig.campaigns.contacts(c.id)
    assert contact.next_attempt_at is not None and contact.next_attempt_at.startswith(
        "2026-12-07T13:00")
    rig.now += timedelta(hours=1)
    rig.mono += 60
    assert (await dialler.tick()).queued == 1


async def test_a_restart_calls_nobody_twice(rig: Rig) -> None:
    c = await rig.campaign(numbers(3), calls_per_minute=600)
    first = rig.dialler()
    assert (await first.tick()).queued == 1
    rig.mono += 10
    assert (await first.tick()).queued == 2
    # the service that placed the first call stopped mid-call; a contact claimed, never queued
    row = (await rig.outbound.list_recent(rig.org_id, 3))[-1]
    await rig.db.execute("UPDATE outbound_calls SET status = 'dialing', node = 'n1'"
                         " WHERE id = ?", (row.id,))
    await rig.outbound.interrupt_left_over("n1")
    again = rig.dialler()  # a new process
    rig.mono += 10
    report = await again.tick()
    assert report.queued == 0 and report.settled == 1
    await rig.answer_all()
    await again.tick()
    contacts = await rig.campaigns.contacts(c.id)
    assert sorted(x.status for x in contacts) == ["done", "done", "failed"]
    per_number = await rig.db.fetch_all(
        "SELECT to_number, COUNT(*) AS n FROM outbound_calls GROUP BY to_number")
    assert all(int(r["n"]) == 1 for r in per_number)


async def test_cancel_skips_what_is_left(rig: Rig) -> None:
    c = await rig.campaign(numbers(3))
    dialler = rig.dialler()
    assert (await dialler.tick()).queued == 1
    await rig.campaigns.change(rig.org_id, c.id, "cancel")
    await rig.answer_all()
    await dialler.tick()  # the call in progress is still recorded
    assert sorted((x.status, x.last_outcome) for x in await rig.campaigns.contacts(c.id)) == [
        ("done", "answered"), ("skipped", "cancelled"), ("skipped", "cancelled")]
    assert (await rig.campaigns.get(c.id)).status == "cancelled"
    assert (await dialler.tick()).queued == 0


async def test_claimed_but_never_queued_is_retried_once(rig: Rig) -> None:
    c = await rig.campaign(numbers(1))
    [contact] = await rig.campaigns.contacts(c.id)
    assert await rig.campaigns.claim(contact.id)  # then the dialler died before queueing
    dialler = rig.dialler()
    report = await dialler.tick()
    assert (report.settled, report.queued) == (1, 1)
    [contact] = await rig.campaigns.contacts(c.id)
    assert (contact.status, contact.attempts) == ("calling", 1)


async def test_do_not_call_pause_resume_cancel(rig: Rig) -> None:
    await rig.restrictions.restrict(rig.org_id, "+15550100100", frozenset({"object"}))
    c = await rig.campaign(numbers(3), calls_per_minute=600)
    dialler = rig.dialler()
    report = await dialler.tick()
    assert (report.queued, report.skipped) == (1, 1)
    rig.mono += 10
    assert (await dialler.tick()).queued == 1
    await rig.campaigns.change(rig.org_id, c.id, "pause")
    with pytest.raises(ValueError, match="cannot pause a campaign that is paused"):
        await rig.campaigns.change(rig.org_id, c.id, "pause")
    await rig.answer_all()
    await dialler.tick()  # outcomes are still recorded while paused
    assert (await rig.campaigns.counts(c.id))["done"] == 2
    await rig.campaigns.change(rig.org_id, c.id, "resume")
    assert (await dialler.tick()).completed == [c.id]
    with pytest.raises(ValueError, match="cannot cancel a campaign that is completed"):
        await rig.campaigns.change(rig.org_id, c.id, "cancel")
    statuses = {x.number: (x.status, x.last_outcome) for x in await rig.campaigns.contacts(c.id)}
    assert statuses["+15550100100"] == ("skipped", "do_not_call")
