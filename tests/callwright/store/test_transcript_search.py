"""The calls list's transcript filter means the same on both store engines: FTS5 (unicode61) on
SQLite, a tsvector column on PostgreSQL."""

from __future__ import annotations

import pytest

from callwright.store.call_search import CallFilter, CallSearch, transcript_search
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from callwright.store.turns import NewTurn
from tests.callwright.store.conftest import MakeDb, MakeOrg

T0 = "2027-01-05T10:00:00.000Z"
TURNS = {
    "hours": "We open at NINE on weekdays.",
    "cafe": "The Café is on the second floor",
    "email": "Send an e-mail to sales, version 3.5 of the form",
    "snake": "the order_number field is on the receipt",
    "korean": "영업시간은 아홉 시부터입니다",
    "hidden": "[not transcribed]",
}


async def calls_with_turns(db: Database, org_id: int) -> dict[str, str]:
    repo = CallRepository(db)
    uids: dict[str, str] = {}
    for seq, (name, text) in enumerate(TURNS.items()):
        call = await repo.create_call(org_id, None, None, "100", f"555{seq}", "", f"ch-{seq}")
        await repo.add_turn(call.id, NewTurn(1, "caller", text, T0))
        uids[name] = call.uid
    return uids


async def found(db: Database, org_id: int, text: str, uids: dict[str, str]) -> set[str]:
    page = await CallSearch(db).list_calls(org_id, CallFilter(text=text))
    by_uid = {uid: name for name, uid in uids.items()}
    return {by_uid[c.uid] for c in page.calls}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("nine", {"hours"}),  # case folded
        ("open weekdays", {"hours"}),  # every word must appear, in any order
        ("open saturday", set()),
        ("cafe", {"cafe"}),  # diacritics removed on both sides
        ("CAFÉ second", {"cafe"}),
        ("mail", {"email"}),  # punctuation splits words: "e-mail" is "e" "mail"
        ("3", {"email"}),  # "3.5" is "3" "5"
        ("order_number", {"snake"}),  # "_" splits too: a phrase of "order" "number"
        ("number order", {"snake"}),  # two words: both there
        ("number_order", set()),  # one word, a phrase: "order" comes first
        ("영업시간은", {"korean"}),
        ("아홉", {"korean"}),
        ("transcribed", set()),  # "[not transcribed]" turns are not indexed
        ("ope", set()),  # whole words only, no prefixes
    ],
)
async def test_transcript_filter(
    make_db: MakeDb, make_org: MakeOrg, query: str, expected: set[str]
) -> None:
    db = await make_db()
    org = await make_org(db)
    uids = await calls_with_turns(db, org.id)
    assert await found(db, org.id, query, uids) == expected


@pytest.mark.parametrize("query", ['"nine', "NEAR(open nine)", "open*", "nine OR", "a & b | !c",
                                   "'quoted'", "(nine", "-nine", "nine:*", "nine\\"])
async def test_search_syntax_in_the_filter_is_plain_text(
    make_db: MakeDb, make_org: MakeOrg, query: str
) -> None:
    db = await make_db()
    org = await make_org(db)
    uids = await calls_with_turns(db, org.id)
    result = await found(db, org.id, query, uids)  # no error, whatever the words find
    assert result <= {"hours"}


async def test_the_index_follows_edits_and_deletes(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    repo = CallRepository(db)
    call = await repo.create_call(org.id, None, None, "100", "5551", "", "ch-1")
    turn = await repo.add_turn(call.id, NewTurn(1, "assistant", "we close at five", T0))
    await repo.update_turn_text(turn, "we close at six", interrupted=True)
    assert await db.fetch_all(*transcript_search(db.engine, "five")) == []
    assert [r[0] for r in await db.fetch_all(*transcript_search(db.engine, "six"))] == [turn]
    await db.execute("DELETE FROM call_turns WHERE id = ?", (turn,))
    assert await db.fetch_all(*transcript_search(db.engine, "six")) == []
