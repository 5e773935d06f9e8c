"""The calls browser's queries on both store engines: keyset pages, filters, org scoping."""

from __future__ import annotations

from callwright.store.call_search import CallFilter, CallSearch, Cursor
from callwright.store.db import Database
from tests.callwright.store.conftest import MakeAssistant, MakeDb, MakeOrg

# Two calls share a start time: the keyset's tie on started_at is broken by id.
STARTS = ["2027-01-01T09:00:00.000Z", "2027-01-02T09:00:00.000Z", "2027-01-02T09:00:00.000Z",
          "2027-01-03T09:00:00.000Z", "2027-01-04T09:00:00.000Z", "2027-01-05T09:00:00.000Z",
          "2027-01-06T09:00:00.000Z"]


async def add_calls(db: Database, org_id: int, assistant_id: int) -> list[int]:
    ids = []
    for i, started in enumerate(STARTS):
        ids.append(await db.execute(
            "INSERT INTO calls (uid, org_id, assistant_id, caller_number, started_at, status)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (f"{org_id}-{i}", org_id, assistant_id if i % 2 else None, f"+1555000{i % 3}",
             started, "failed" if i in (1, 4) else "completed"),
        ))
    return ids


async def test_keyset_pages_walk_every_call_once_newest_first(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant
) -> None:
    db = await make_db()
    org, other = await make_org(db), await make_org(db)
    desk = await make_assistant(db, org.id, "Desk")
    ids = await add_calls(db, org.id, desk.id)
    await add_calls(db, other.id, (await make_assistant(db, other.id)).id)
    search = CallSearch(db)
    seen: list[int] = []
    cursor: Cursor | None = None
    for _ in range(10):
        page = await search.list_calls(org.id, CallFilter(), cursor, limit=2)
        seen += [c.id for c in page.calls]
        if page.next_cursor is None:
            break
        cursor = Cursor.decode(page.next_cursor)
    expected = [i for _, i in sorted(zip(STARTS, ids, strict=True), reverse=True)]
    assert seen == expected


async def test_filters_and_counts(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant
) -> None:
    db = await make_db()
    org = await make_org(db)
    desk = await make_assistant(db, org.id, "Desk")
    ids = await add_calls(db, org.id, desk.id)
    search = CallSearch(db)

    async def listed(flt: CallFilter) -> set[int]:
        return {c.id for c in (await search.list_calls(org.id, flt)).calls}

    assert await listed(CallFilter(status="failed")) == {ids[1], ids[4]}
    assert await listed(CallFilter(assistant_id=desk.id)) == {ids[1], ids[3], ids[5]}
    assert await listed(CallFilter(caller="+15550001")) == {ids[1], ids[4]}
    assert await listed(CallFilter(since="2027-01-05", until="2027-01-06")) == {ids[5]}
    page = await search.list_calls(org.id, CallFilter(assistant_id=desk.id, status="failed"))
    assert [(c.id, c.assistant_name, c.has_recording) for c in page.calls] == [
        (ids[1], "Desk", False)]
    assert await search.status_counts_since(org.id, "2027-01-02") == {"failed": 2,
                                                                      "completed": 4}
    detail = await search.call_detail(org.id, f"{org.id}-1")
    assert detail is not None and detail.call["assistant_name"] == "Desk"
    assert await search.call_detail(org.id + 1, f"{org.id}-1") is None
    assert await search.add_note(org.id, f"{org.id}-1", None, "called back", STARTS[0]) > 0
    assert await search.add_note(org.id + 1, f"{org.id}-1", None, "not ours", STARTS[0]) == 0
