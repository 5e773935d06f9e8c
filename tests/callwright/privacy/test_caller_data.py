from __future__ import annotations

import asyncio
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest

from callwright.errors import NotFound
from callwright.privacy.caller_data import ERASED, ErasureIncomplete, erase_caller, export_caller
from callwright.privacy.recording_crypto import EncryptedReader
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from callwright.store.calls import Call, CallRepository
from callwright.store.db import Database
from tests.callwright.privacy.conftest import MakeCall
from tests.callwright.store.conftest import MakeDb, MakeOrg

NUMBER = "+4915551234567"
DIGITS = NUMBER[1:]
NAME = "Zebulon Quux"
OTHER = "+4915559876543"


def read_zip(path: Path) -> tuple[dict[str, Any], dict[str, bytes], int]:
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(files.pop("calls.json"))
    manifest = json.loads(files.pop("manifest.json"))
    turns = [json.loads(line) for line in files.pop("turns.jsonl").decode().splitlines()]
    assert manifest["subject"] == document["subject"]
    assert manifest["counts"]["turns"] == len(turns) == sum(
        len(c["turns"]) for c in document["calls"])
    assert {m["file"] for m in manifest["files"]} == {"calls.json", "turns.jsonl", *files}
    return document, files, stat.S_IMODE(path.stat().st_mode)


def plaintext_of(path: str, key: MasterKey) -> bytes:
    if path.endswith(".cwenc"):
        with EncryptedReader(path, key) as reader:
            return reader.read(0, reader.size)
    return Path(path).read_bytes()


def store_bytes(db: Database) -> bytes:
    """Every byte SQLite keeps for the store: the database file and its WAL."""
    data = db.path.read_bytes()
    wal = db.path.with_name(db.path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def on_disk(path: str | None) -> bool:
    return path is not None and Path(path).exists()


async def callers_calls(make_call: MakeCall, db: Database, org_id: int, key: MasterKey,
                        **extra: Any) -> list[Call]:
    """Two calls of NUMBER (one recording encrypted, one not) that mention the number."""
    spoken = ("hello", f"my number is {DIGITS}", "noted")
    return [
        await make_call(db, org_id, age_days=3, caller=NUMBER, caller_name=NAME, turns=spoken,
                        recording=True, encrypt_with=key, notes=[f"{NAME} called"],
                        slots={"phone": DIGITS}, **extra),
        await make_call(db, org_id, age_days=1, caller=NUMBER, caller_name=NAME,
                        turns=("again",), recording=True),
    ]


async def test_export_holds_exactly_the_callers_data_in_that_org(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall, tmp_path: Path
) -> None:
    db = await make_db()
    acme, rival = await make_org(db, "acme"), await make_org(db, "rival")
    key = MasterKey.generate()
    mine = await callers_calls(make_call, db, acme.id, key)
    await make_call(db, rival.id, age_days=2, caller=NUMBER, turns=("rival secret",))
    await make_call(db, acme.id, age_days=2, caller=OTHER, turns=("someone else",))
    outbound = await make_call(db, acme.id, age_days=1, caller="100", dialed=NUMBER,
                               direction="outbound", turns=("we called you",))
    await CallerRestrictionRepository(db, key).set(acme.id, NUMBER, do_not_record=True)

    path = await export_caller(db, acme.id, NUMBER, tmp_path / "exports", key)

    document, files, mode = await asyncio.to_thread(read_zip, path)
    assert mode == 0o600
    assert document["org"]["slug"] == "acme" and document["caller_number"] == NUMBER
    assert document["restrictions"]["do_not_record"] is True
    assert [c["uid"] for c in document["calls"]] == [c.uid for c in (*mine, outbound)]
    first = document["calls"][0]
    assert [t["text"] for t in first["turns"]] == ["hello", f"my number is {DIGITS}", "noted"]
    assert first["events"][0]["kind"] == "stasis_start"
    assert first["notes"][0]["body"] == f"{NAME} called"
    assert first["slots"] == {"phone": DIGITS}
    assert "recording_path" not in first
    text = json.dumps(document)
    assert "rival secret" not in text and "someone else" not in text
    assert sorted(files) == sorted(f"recordings/{c.uid}.wav" for c in mine)
    for call in mine:
        assert call.recording_path is not None
        expected = await asyncio.to_thread(plaintext_of, call.recording_path, key)
        assert files[f"recordings/{call.uid}.wav"] == expected
        assert document["calls"][[c.uid for c in mine].index(call.uid)]["recording"] == {
            "file": f"recordings/{call.uid}.wav", "missing": False}

    audit = await db.fetch_all("SELECT target, detail FROM audit_log WHERE action ="
                               " 'caller.export'")
    assert len(audit) == 1 and json.loads(audit[0]["detail"])["calls"] == 3
    assert DIGITS not in audit[0]["target"] + audit[0]["detail"]


async def test_export_notes_a_missing_recording(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall, tmp_path: Path
) -> None:
    db = await make_db()
    org = await make_org(db)
    call = await make_call(db, org.id, age_days=1, caller=NUMBER, recording=True)
    assert call.recording_path is not None
    await asyncio.to_thread(Path(call.recording_path).unlink)
    path = await export_caller(db, org.id, NUMBER, tmp_path / "out", MasterKey.generate())
    document, files, _ = await asyncio.to_thread(read_zip, path)
    assert files == {}
    assert document["calls"][0]["recording"] == {"file": None, "missing": True}


async def test_export_of_an_unknown_org_or_caller(
    make_db: MakeDb, make_org: MakeOrg, tmp_path: Path
) -> None:
    db = await make_db()
    org = await make_org(db)
    key = MasterKey.generate()
    with pytest.raises(NotFound):
        await export_caller(db, org.id + 5, NUMBER, tmp_path, key)
    empty = await export_caller(db, org.id, NUMBER, tmp_path, key)
    document, files, _ = await asyncio.to_thread(read_zip, empty)
    assert document["calls"] == [] and files == {} and document["restrictions"] is None


async def test_erasure_is_scoped_to_the_org_and_the_caller(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall
) -> None:
    db = await make_db()
    acme, rival = await make_org(db), await make_org(db)
    key = MasterKey.generate()
    mine = await callers_calls(make_call, db, acme.id, key)
    theirs = await make_call(db, rival.id, age_days=2, caller=NUMBER, caller_name=NAME,
                             recording=True, notes=["rival note"])
    someone = await make_call(db, acme.id, age_days=2, caller=OTHER, recording=True)

    report = await erase_caller(db, acme.id, NUMBER, key)

    assert (report.calls_anonymised, report.recordings_deleted, report.turns_deleted,
            report.notes_deleted, report.events_deleted) == (2, 2, 4, 1, 2)
    assert report.held_calls == () and report.wal_truncated
    repo = CallRepository(db)
    for call in mine:
        after = await repo.get(call.id)
        assert (after.caller_number, after.caller_name, after.slots) == (ERASED, "", {})
        assert after.recording_path is None and after.recording_key_id is None
        assert not on_disk(call.recording_path)
        assert await repo.turns(call.id) == [] and await repo.events(call.id) == []
        assert after.started_at == call.started_at and after.status == call.status
    for untouched in (theirs, someone):
        after = await repo.get(untouched.id)
        assert after.caller_number == untouched.caller_number
        assert after.caller_name == untouched.caller_name
        assert on_disk(after.recording_path)
        assert len(await repo.turns(untouched.id)) == 2
    assert await db.fetch_value("SELECT count(*) FROM call_notes WHERE call_id = ?",
                                (theirs.id,)) == 1

    restrictions = CallerRestrictionRepository(db, key)
    assert await restrictions.is_processing_restricted(acme.id, NUMBER)
    assert await restrictions.is_do_not_record(acme.id, NUMBER)
    assert not await restrictions.is_do_not_record(rival.id, NUMBER)

    audit = await db.fetch_all("SELECT org_id, actor, target, detail FROM audit_log"
                               " WHERE action = 'caller.erase'")
    assert len(audit) == 1 and audit[0]["org_id"] == acme.id and audit[0]["actor"] == "cli"
    assert audit[0]["target"] == f"caller:{report.pseudonym}"
    assert DIGITS not in audit[0]["target"] + audit[0]["detail"]

    again = await erase_caller(db, acme.id, NUMBER, key)
    assert (again.calls_anonymised, again.turns_deleted) == (0, 0)


@pytest.mark.store_engines("sqlite")  # SQLite's own file and WAL
async def test_nothing_of_the_caller_remains_in_the_database_file(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall
) -> None:
    db = await make_db()
    acme, other = await make_org(db), await make_org(db)
    key = MasterKey.generate()
    await callers_calls(make_call, db, acme.id, key)
    await CallerRestrictionRepository(db, key).set(acme.id, NUMBER, do_not_record=True)
    for age in range(30):  # other data around it, so pages are shared and reused
        await make_call(db, other.id, age_days=age, caller=OTHER, turns=(f"filler {age}",))
    # as on an SQLite built without secure delete by default: the erasure must turn it on
    await db.execute("PRAGMA secure_delete=OFF")
    await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = await asyncio.to_thread(store_bytes, db)
    assert DIGITS.encode() in before and NAME.encode() in before

    report = await erase_caller(db, acme.id, NUMBER, key)

    after = await asyncio.to_thread(store_bytes, db)
    assert after.find(DIGITS.encode()) == -1, "the number survives in the database file"
    assert after.find(NAME.encode()) == -1, "the caller's name survives in the database file"
    assert report.wal_truncated
    async with db.transaction() as conn:  # the writer's setting was put back
        async with conn.execute("PRAGMA secure_delete") as cur:
            row = await cur.fetchone()
    assert row is not None and row[0] == 0
    # the calls are still counted, anonymised
    assert await db.fetch_value("SELECT count(*) FROM calls WHERE org_id = ? AND"
                                " caller_number = ?", (acme.id, ERASED)) == 2


async def test_calls_on_legal_hold_are_reported_and_untouched(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall
) -> None:
    db = await make_db()
    org = await make_org(db)
    key = MasterKey.generate()
    held = await make_call(db, org.id, age_days=9, caller=NUMBER, caller_name=NAME,
                           recording=True, legal_hold=True, turns=(f"dispute {DIGITS}",))
    await make_call(db, org.id, age_days=1, caller=NUMBER, caller_name=NAME, recording=True)

    report = await erase_caller(db, org.id, NUMBER, key)

    assert report.held_calls == (held.uid,) and report.calls_anonymised == 1
    kept = await CallRepository(db).get(held.id)
    assert kept.caller_number == NUMBER and on_disk(kept.recording_path)
    assert len(await CallRepository(db).turns(held.id)) == 1
    # the number is left only in the held call: no restriction row or other table holds it
    assert await db.fetch_value("SELECT count(*) FROM calls WHERE caller_number = ?",
                                (NUMBER,)) == 1
    assert await db.fetch_value("SELECT count(*) FROM caller_restrictions WHERE"
                                " caller_number = ?", (NUMBER,)) == 0
    audit = await db.fetch_value("SELECT detail FROM audit_log WHERE action = 'caller.erase'")
    assert json.loads(audit)["held_calls"] == [held.uid]


async def test_an_undeletable_recording_stops_the_erasure(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall, tmp_path: Path
) -> None:
    db = await make_db()
    org = await make_org(db)
    key = MasterKey.generate()
    call = await make_call(db, org.id, age_days=1, caller=NUMBER)
    blocker = tmp_path / "busy.wav"
    await asyncio.to_thread(blocker.mkdir)
    await asyncio.to_thread((blocker / "x").write_text, "x")
    await CallRepository(db).set_recording(call.id, str(blocker), None)

    with pytest.raises(ErasureIncomplete, match="busy.wav"):
        await erase_caller(db, org.id, NUMBER, key)
    after = await CallRepository(db).get(call.id)
    assert after.caller_number == NUMBER and len(await CallRepository(db).turns(call.id)) == 2
    assert not await CallerRestrictionRepository(db, key).is_processing_restricted(org.id,
                                                                                  NUMBER)


async def test_outbound_calls_to_the_number_are_erased_too(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall
) -> None:
    db = await make_db()
    org = await make_org(db)
    call = await make_call(db, org.id, age_days=1, caller="100", dialed=NUMBER,
                           direction="outbound")
    inbound_to_us = await make_call(db, org.id, age_days=1, caller=OTHER, dialed=NUMBER)
    report = await erase_caller(db, org.id, NUMBER, MasterKey.generate())
    assert report.calls_anonymised == 1
    assert (await CallRepository(db).get(call.id)).dialed == ERASED
    assert (await CallRepository(db).get(inbound_to_us.id)).caller_number == OTHER


async def test_erasure_refuses_bad_input(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    with pytest.raises(ValueError):
        await erase_caller(db, org.id, " ", MasterKey.generate())
    with pytest.raises(NotFound):
        await erase_caller(db, org.id + 1, NUMBER, MasterKey.generate())
