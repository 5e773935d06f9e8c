from __future__ import annotations

import pytest

from callwright.errors import CallwrightError, NotFound
from callwright.store.assistants import AssistantRepository
from callwright.store.numbers import (
    InvalidNumber,
    NumberRepository,
    NumberTaken,
    normalise_number,
)
from tests.callwright.store.conftest import MakeAssistant, MakeDb, MakeOrg


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("+15551234567", "+15551234567"),
        ("+1 (555) 123-4567", "+15551234567"),
        ("+82.2.1234.5678", "+82212345678"),
        ("+12345678", "+12345678"),  # 8 digits: the shortest E.164 we accept
        ("+123456789012345", "+123456789012345"),  # 15 digits: the longest
        ("100", "100"),
        (" 2001 ", "2001"),
        ("00", "00"),
        ("12345678", "12345678"),
    ],
)
def test_valid_numbers_normalise(raw: str, canonical: str) -> None:
    assert normalise_number(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("+1234567", "8 to 15 digits"),
        ("+1234567890123456", "8 to 15 digits"),
        ("+0123456789", "cannot start with 0"),
        ("+1555abc4567", "only digits"),
        ("++15551234567", "only digits"),
        ("1", "at least 2 digits"),
        ("123456789", "too long for an extension"),
        ("s", "not a number"),
        ("_X.", "not a number"),
        ("100a", "not a number"),
        ("１００", "not a number"),  # full-width digits are not dialable ASCII
    ],
)
def test_invalid_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNumber, match=reason) as caught:
        normalise_number(raw)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, CallwrightError)


async def test_create_infers_kind_and_round_trips(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant
) -> None:
    db = await make_db()
    org = await make_org(db)
    assistant = await make_assistant(db, org.id)
    repo = NumberRepository(db)
    ext = await repo.create(org.id, "100", assistant_id=assistant.id)
    did = await repo.create(org.id, "+1 555 123 4567", direction="both", region="US",
                            label="main line", outbound_endpoint="PJSIP/trunk-out")
    toll = await repo.create(org.id, "+18005550100", "tollfree", "outbound")
    assert (ext.kind, ext.number, ext.assistant_id, ext.is_extension) == (
        "extension", "100", assistant.id, True)
    assert (did.kind, did.number, did.direction) == ("did", "+15551234567", "both")
    assert did.region == "US"
    assert did.outbound_endpoint == "PJSIP/trunk-out" and did.label == "main line"
    assert toll.kind == "tollfree"
    assert await repo.get(org.id, did.id) == did
    assert [n.number for n in await repo.list(org.id)] == ["+15551234567", "+18005550100", "100"]
    assert await repo.find(org.id, "+1-555-123-4567") == did


@pytest.mark.parametrize(
    ("number", "kind", "direction", "error"),
    [
        ("100", "did", "inbound", InvalidNumber),
        ("+15551234567", "extension", "inbound", InvalidNumber),
        ("+15551234567", "landline", "inbound", ValueError),
        ("+15551234567", "did", "sideways", ValueError),
        ("s", None, "inbound", InvalidNumber),
    ],
)
async def test_create_refuses_bad_input(
    make_db: MakeDb, make_org: MakeOrg, number: str, kind: str | None, direction: str,
    error: type[Exception],
) -> None:
    db = await make_db()
    org = await make_org(db)
    with pytest.raises(error):
        await NumberRepository(db).create(org.id, number, kind, direction)
    assert await NumberRepository(db).list(org.id) == []


async def test_numbers_are_unique_across_orgs(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org_a, org_b = await make_org(db), await make_org(db)
    repo = NumberRepository(db)
    await repo.create(org_a.id, "+15551234567")
    with pytest.raises(NumberTaken):
        await repo.create(org_b.id, "+1 555 123 4567")


async def test_org_scoping(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant
) -> None:
    db = await make_db()
    org_a, org_b = await make_org(db), await make_org(db)
    theirs = await make_assistant(db, org_b.id)
    mine = await make_assistant(db, org_a.id)
    repo = NumberRepository(db)
    number = await repo.create(org_a.id, "200")
    with pytest.raises(NotFound):
        await repo.get(org_b.id, number.id)
    assert await repo.list(org_b.id) == []
    assert await repo.find(org_b.id, "200") is None
    with pytest.raises(NotFound):  # B cannot point A's number anywhere
        await repo.assign(org_b.id, number.id, theirs.id)
    with pytest.raises(NotFound):  # nor can A point its number at B's assistant
        await repo.assign(org_a.id, number.id, theirs.id)
    with pytest.raises(NotFound):
        await repo.create(org_a.id, "201", assistant_id=theirs.id)
    assert not await repo.delete(org_b.id, number.id)
    assigned = await repo.assign(org_a.id, number.id, mine.id)
    assert assigned.assistant_id == mine.id
    assert (await repo.assign(org_a.id, number.id, None)).assistant_id is None


async def test_find_inbound(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant
) -> None:
    db = await make_db()
    org = await make_org(db)
    assistant = await make_assistant(db, org.id, greeting="Hi")
    repo = NumberRepository(db)
    ext = await repo.create(org.id, "100", assistant_id=assistant.id)
    did = await repo.create(org.id, "+15551234567", direction="both", assistant_id=assistant.id)
    await repo.create(org.id, "+15550000000", direction="outbound", assistant_id=assistant.id)
    bare = await repo.create(org.id, "300")

    found = await repo.find_inbound("100")
    assert found is not None and found[0] == ext and found[1] == assistant
    for dialed in ("+15551234567", "15551234567", "+1 555 123 4567"):
        found = await repo.find_inbound(dialed)
        assert found is not None and found[0].id == did.id, dialed
    assert await repo.find_inbound("+15550000000") is None  # outbound only
    assert await repo.find_inbound("999") is None
    for junk in ("", "s", "h", "+", "abc", "1" * 40):
        assert await repo.find_inbound(junk) is None
    assert await repo.find_inbound("300") == (bare, None)


async def test_find_inbound_survives_a_deleted_assistant(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant
) -> None:
    db = await make_db()
    org = await make_org(db)
    assistant = await make_assistant(db, org.id)
    number = await NumberRepository(db).create(org.id, "100", assistant_id=assistant.id)
    await AssistantRepository(db).delete(org.id, assistant.id)
    found = await NumberRepository(db).find_inbound("100")
    assert found is not None
    assert found[0].id == number.id and found[0].assistant_id is None and found[1] is None
