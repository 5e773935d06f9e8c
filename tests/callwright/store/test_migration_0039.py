"""Migration 0039 (test calls get direction 'test') on a populated store, on both engines.

The store is migrated to 0038, filled with calls of each kind and the rows that hang off calls
(turns in the transcript index, events, notes, a legal hold, a restriction), then migrated on.
SQLite rebuilds the calls table; PostgreSQL widens the CHECK in place. Either way every row must
survive with its id, children must still find their call (cascades included), the transcript
search must still find the calls, and every index and trigger on calls must be there again.
"""

from __future__ import annotations

from typing import Any

import pytest

from callwright.errors import StoreError
from callwright.store import postgres_db, sqlite_db
from callwright.store.call_search import CallFilter, CallSearch
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from callwright.store.migration_files import Migration, shipped_migrations
from callwright.store.turns import NewTurn
from tests.callwright.store.conftest import MakeAssistant, MakeDb, MakeOrg, MakeSqliteDb

CHILD_TABLES = ("call_turns", "call_events", "call_notes", "legal_holds", "call_restrictions")
NOW = "2027-01-05T09:00:00.000Z"


def only_up_to(number: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both engines' runners see the shipped migrations up to ``number`` only."""
    shipped = [m for m in shipped_migrations() if m.number <= number]
    for module in (sqlite_db, postgres_db):
        monkeypatch.setattr(module, "shipped_migrations", lambda: list(shipped))


async def calls_schema(db: Database) -> dict[str, str]:
    """Name -> definition of every index and trigger on calls (SQLite's own unique index, made
    by the table's UNIQUE, left out: it comes with the table)."""
    if db.engine == "sqlite":
        rows = await db.fetch_all(
            "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'calls'"
            " AND type IN ('index', 'trigger') AND sql IS NOT NULL")
    else:
        rows = await db.fetch_all(
            "SELECT indexname AS name, indexdef AS sql FROM pg_indexes WHERE tablename = 'calls'"
            " UNION ALL SELECT tgname AS name, pg_get_triggerdef(t.oid) AS sql FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relname = 'calls'"
            " AND NOT t.tgisinternal")
    return {str(r["name"]): " ".join(str(r["sql"]).split()) for r in rows}


async def writer_enforces_foreign_keys(db: Database) -> None:
    """Foreign keys are on again for the writer after migrating."""
    with pytest.raises(StoreError):
        await db.execute("INSERT INTO call_events (call_id, at, kind) VALUES (424242, 'now', 'x')")


async def counts(db: Database) -> dict[str, int]:
    found = {}
    for table in ("calls", *CHILD_TABLES):
        found[table] = int(await db.fetch_value(f"SELECT count(*) FROM {table}"))
    return found


async def populate(db: Database, org_id: int, assistant_id: int) -> dict[str, int]:
    """Three calls (inbound, outbound, a browser test call marked the 0037 way) with children;
    uid -> id."""
    calls = CallRepository(db, lambda: NOW)
    ids: dict[str, int] = {}
    words = {"in": "the parcel never arrived", "out": "your appointment is confirmed",
             "test": "testing the zebra greeting"}
    for uid, direction in (("in", "inbound"), ("out", "outbound"), ("test", "inbound")):
        call = await calls.create_call(org_id, assistant_id, None, "100", f"+1555{uid}", "",
                                       f"chan-{uid}", direction, uid=uid)
        ids[uid] = call.id
        await calls.add_turn(call.id, NewTurn(0, "caller", words[uid], NOW))
        await calls.add_event(call.id, "answered")
        await db.execute("INSERT INTO call_notes (call_id, body, created_at) VALUES (?, ?, ?)",
                         (call.id, f"note on {uid}", NOW))
        await calls.close_call(call.id, "completed", "caller_hangup")
    await db.execute("UPDATE calls SET test_call = 1 WHERE id = ?", (ids["test"],))
    await db.execute("INSERT INTO legal_holds (org_id, call_id, created_at) VALUES (?, ?, ?)",
                     (org_id, ids["in"], NOW))
    await db.execute(
        "INSERT INTO call_restrictions (org_id, call_id, transcript, created_at, updated_at)"
        " VALUES (?, ?, 1, ?, ?)", (org_id, ids["out"], NOW, NOW))
    return ids


async def test_0039_keeps_every_call_and_marks_test_calls_by_direction(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    only_up_to(38, monkeypatch)
    db = await make_db()
    assert max(await db.applied_migrations()) == 38
    org = await make_org(db)
    desk = await make_assistant(db, org.id, "Desk")
    ids = await populate(db, org.id, desk.id)
    before_counts = await counts(db)
    before_schema = await calls_schema(db)

    monkeypatch.undo()
    assert 39 in await db.migrate()

    assert await counts(db) == before_counts
    rows = await db.fetch_all("SELECT uid, id, direction FROM calls ORDER BY id")
    assert {r["uid"]: (r["id"], r["direction"]) for r in rows} == {
        "in": (ids["in"], "inbound"), "out": (ids["out"], "outbound"),
        "test": (ids["test"], "test")}
    after_schema = await calls_schema(db)
    assert set(after_schema) == set(before_schema)
    for name, definition in before_schema.items():
        if name != "calls_tests":  # made again on the direction instead of the flag
            assert after_schema[name] == definition, name
    assert "direction = 'test'" in after_schema["calls_tests"].replace("::text", "")
    columns = await db.fetch_all("SELECT * FROM calls WHERE id = ?", (ids["in"],))
    assert "test_call" not in columns[0].keys()
    if db.engine == "sqlite":
        assert await db.fetch_all("PRAGMA foreign_key_check") == []
    await writer_enforces_foreign_keys(db)

    # The transcript search still finds the calls, the test call only when asked.
    search = CallSearch(db)
    found = await search.list_calls(org.id, CallFilter(text="parcel"))
    assert [c.uid for c in found.calls] == ["in"]
    assert (await search.list_calls(org.id, CallFilter(text="zebra"))).calls == []
    tests = await search.list_calls(org.id, CallFilter(text="zebra", include_tests=True))
    assert [(c.uid, c.direction) for c in tests.calls] == [("test", "test")]
    assert await search.status_counts_since(org.id, "2027-01-01") == {"completed": 2}

    # Children still point at the rebuilt table: deleting a call cascades to them.
    await db.execute("DELETE FROM legal_holds WHERE call_id = ?", (ids["in"],))
    await db.execute("DELETE FROM calls WHERE id = ?", (ids["in"],))
    left = await counts(db)
    assert left["call_turns"] == 2 and left["call_events"] == 2 and left["call_notes"] == 2
    assert (await search.list_calls(org.id, CallFilter(text="parcel"))).calls == []

    # The new CHECK: 'test' is a direction, nothing else new is.
    calls = CallRepository(db)
    made = await calls.create_call(org.id, desk.id, None, "", "", "me", "", "test")
    assert made.direction == "test"
    with pytest.raises(StoreError):
        await db.execute("INSERT INTO calls (uid, direction, started_at) VALUES ('x', 'up', ?)",
                         (NOW,))


async def test_the_webhook_trigger_on_calls_survives_the_rebuild(
    make_db: MakeDb, make_org: MakeOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0014's trigger on calls (a replaced caller number drops the call's queued deliveries)
    works on the rebuilt table."""
    only_up_to(38, monkeypatch)
    db = await make_db()
    org = await make_org(db)
    call = await CallRepository(db, lambda: NOW).create_call(org.id, None, None, "", "+1555",
                                                             "", "")
    cred = await db.execute(
        "INSERT INTO credentials (org_id, kind, name, secret_enc, key_id, last_four, created_at,"
        " updated_at) VALUES (?, 'webhook_url', 'hook', ?, 'k', 'abcd', ?, ?)",
        (org.id, b"x", NOW, NOW))
    hook = await db.execute(
        "INSERT INTO webhooks (org_id, url_credential_id, signing_secret_enc, created_at)"
        " VALUES (?, ?, ?, ?)", (org.id, cred, b"s", NOW))
    await db.execute(
        "INSERT INTO webhook_deliveries (org_id, endpoint_id, event_id, event, call_id, body,"
        " created_at, next_at, expires_at) VALUES (?, ?, 'e1', 'call.ended', ?, '{}', ?, ?, ?)",
        (org.id, hook, call.id, NOW, NOW, NOW))
    monkeypatch.undo()
    await db.migrate()
    assert await db.fetch_value("SELECT count(*) FROM webhook_deliveries") == 1
    await db.execute("UPDATE calls SET caller_number = '[erased]' WHERE id = ?", (call.id,))
    assert await db.fetch_value("SELECT count(*) FROM webhook_deliveries") == 0


async def test_a_migration_that_orphans_rows_is_rolled_back(
    make_sqlite_db: MakeSqliteDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Foreign keys are off while a SQLite migration runs (for table rebuilds), so the runner
    checks them before it commits: a migration leaving a row without its parent fails whole."""
    db = await make_sqlite_db()
    bad = Migration(9999, "9999_orphan.sql",
                    "CREATE TABLE scratch (id INTEGER PRIMARY KEY);\n"
                    "INSERT INTO call_events (call_id, at, kind) VALUES (424242, 'now', 'x');\n",
                    None)
    real = shipped_migrations()

    def with_bad() -> list[Migration]:
        return [*real, bad]

    monkeypatch.setattr(sqlite_db, "shipped_migrations", with_bad)
    with pytest.raises(StoreError, match="call_events"):
        await db.migrate()
    assert 9999 not in await db.applied_migrations()
    assert await db.fetch_value("SELECT count(*) FROM call_events") == 0
    tables: list[Any] = await db.fetch_all(
        "SELECT name FROM sqlite_master WHERE name = 'scratch'")
    assert tables == []
    await writer_enforces_foreign_keys(db)
