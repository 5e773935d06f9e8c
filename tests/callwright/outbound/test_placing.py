"""OutboundPlacer: the caller-id number, the endpoint template, the do-not-call list."""

from __future__ import annotations

from pathlib import Path

import pytest

from callwright.errors import NotFound
from callwright.outbound.placing import OutboundPlacer, RestrictionsDoNotCall
from callwright.outbound.request import RequestError
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from callwright.store.orgs import OrgRepository
from callwright.store.outbound_calls import OutboundCallRepository


async def test_queue(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "store.db")
    try:
        org = await OrgRepository(db).create("Acme", "acme")
        other = await OrgRepository(db).create("Other", "other")
        assistants = AssistantRepository(db)
        first = await assistants.create(org.id, "One", "en", "Hi")
        second = await assistants.create(org.id, "Two", "en", "Hi")
        numbers = NumberRepository(db)
        await numbers.create(org.id, "+15550110", direction="both",
                             outbound_endpoint="PJSIP/{number}@a")
        await numbers.create(org.id, "+15550111", direction="outbound", assistant_id=second.id,
                             outbound_endpoint="PJSIP/{number}@b")
        restrictions = CallerRestrictionRepository(db, MasterKey.load_or_create(
            tmp_path / "master.key"))
        placer = OutboundPlacer(assistants, numbers, OutboundCallRepository(db),
                                RestrictionsDoNotCall(restrictions))
        row = await placer.queue(org.id, first.id, "+15550100199")
        assert (row.endpoint, row.caller_id) == ("PJSIP/+15550100199@a", "+15550110")
        row = await placer.queue(org.id, second.id, "+15550100199", variables={"x": "1"})
        assert (row.endpoint, row.caller_id, row.variables) == (
            "PJSIP/+15550100199@b", "+15550111", {"x": "1"})
        await restrictions.restrict(org.id, "+15550100199", frozenset({"object"}))
        with pytest.raises(RequestError, match="do-not-call"):
            await placer.queue(org.id, first.id, "+15550100199")
        await restrictions.restrict(org.id, "+15550100200", frozenset({"record"}))
        assert (await placer.queue(org.id, first.id, "+15550100200")).to_number == "+15550100200"
        with pytest.raises(NotFound):
            await placer.queue(other.id, first.id, "+15550100201")
        with pytest.raises(RequestError, match="no endpoint"):
            await placer.queue(other.id, await _assistant(assistants, other.id), "+15550100201")
    finally:
        await db.close()


async def _assistant(assistants: AssistantRepository, org_id: int) -> int:
    return (await assistants.create(org_id, "Other", "en", "Hi")).id
