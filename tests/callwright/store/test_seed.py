from __future__ import annotations

import pytest

from callwright.store.assistants import AssistantRepository
from callwright.store.numbers import NumberRepository, NumberTaken
from callwright.store.orgs import OrgRepository
from callwright.store.seed import seed_demo
from tests.callwright.store.conftest import MakeDb, MakeOrg

FLOW = {"start": "greet", "nodes": {"greet": {"say": "hello"}}}


async def test_seed_creates_the_demo(make_db: MakeDb) -> None:
    db = await make_db()
    org, assistant, number = await seed_demo(db, flow=FLOW)
    assert (org.name, org.slug) == ("Demo", "demo")
    assert assistant.name == "Demo receptionist" and assistant.org_id == org.id
    assert assistant.language == "ko" and assistant.record_calls is True
    assert "콜라이트" in assistant.greeting
    assert (number.number, number.assistant_id, number.org_id) == ("100", assistant.id, org.id)
    assert await AssistantRepository(db).latest_flow(assistant.id) == (1, FLOW)
    found = await NumberRepository(db).find_inbound("100")
    assert found is not None and found[1] == assistant


async def test_seed_twice_reuses_rows(make_db: MakeDb) -> None:
    db = await make_db()
    first = await seed_demo(db, flow=FLOW)
    second = await seed_demo(db, flow=FLOW)
    assert [r.id for r in first] == [r.id for r in second]
    assert await AssistantRepository(db).latest_flow(first[1].id) == (1, FLOW)
    assert len(await OrgRepository(db).list()) == 1
    assert len(await NumberRepository(db).list(first[0].id)) == 1


async def test_seed_again_with_changes_updates_in_place(make_db: MakeDb) -> None:
    db = await make_db()
    org, assistant, _ = await seed_demo(db, flow=FLOW)
    changed_flow = {"start": "greet", "nodes": {"greet": {"say": "hi"}}}
    org2, assistant2, number2 = await seed_demo(
        db, language="en", greeting="Hello!", flow=changed_flow, record_calls=False,
        number="+15551234567",
    )
    assert (org2.id, assistant2.id) == (org.id, assistant.id)
    assert (assistant2.language, assistant2.greeting, assistant2.record_calls) == (
        "en", "Hello!", False)
    assert await AssistantRepository(db).latest_flow(assistant.id) == (2, changed_flow)
    assert number2.number == "+15551234567" and number2.assistant_id == assistant.id


async def test_seed_refuses_a_number_of_another_org(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    other = await make_org(db, "other")
    await NumberRepository(db).create(other.id, "100")
    with pytest.raises(NumberTaken, match="another org"):
        await seed_demo(db, flow=FLOW)
