from __future__ import annotations

import pytest

from callwright.errors import NotFound
from callwright.privacy.restrictions import (
    HASH_PREFIX,
    NOT_TRANSCRIBED,
    PSEUDONYM_PREFIX,
    CallerRestrictionRepository,
    hash_number,
    parse_kinds,
    pseudonymise,
)
from callwright.privacy.secrets import DecryptionFailed, MasterKey
from callwright.store.call_search import transcript_search
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from callwright.store.turns import NewTurn
from tests.callwright.store.conftest import MakeDb, MakeOrg

NUMBER = "+15557654321"


async def erase(repo: CallerRestrictionRepository, db: Database, org_id: int, number: str) -> None:
    pseudonym = await repo.pseudonym(org_id, number)
    async with db.transaction() as conn:
        await repo.record_erasure(conn, org_id, number, pseudonym, "2027-03-01T12:00:00.000Z")


async def test_flags_per_org_and_caller(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    acme, other = await make_org(db), await make_org(db)
    repo = CallerRestrictionRepository(db, MasterKey.generate())
    assert await repo.get(acme.id, NUMBER) is None
    assert not await repo.is_do_not_record(acme.id, NUMBER)

    saved = await repo.set(acme.id, NUMBER, do_not_record=True)
    assert saved.do_not_record and not saved.processing_restricted and saved.erased_at is None
    assert await repo.is_do_not_record(acme.id, f"  {NUMBER} ")
    assert not await repo.is_do_not_record(other.id, NUMBER)
    assert not await repo.is_do_not_record(acme.id, "+15550000000")
    assert not await repo.is_processing_restricted(acme.id, NUMBER)

    again = await repo.set(acme.id, NUMBER, processing_restricted=True)
    assert again.do_not_record and again.processing_restricted  # unnamed flags are kept
    lifted = await repo.set(acme.id, NUMBER, do_not_record=False)
    assert not lifted.do_not_record and lifted.processing_restricted
    # a restricted caller is not recorded either
    assert await repo.is_do_not_record(acme.id, NUMBER)
    assert [r.caller_number for r in await repo.list(acme.id)] == [NUMBER]
    assert await repo.list(other.id) == []


async def test_bad_input(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    repo = CallerRestrictionRepository(db, MasterKey.generate())
    with pytest.raises(ValueError):
        await repo.set(org.id, "  ", do_not_record=True)
    with pytest.raises(NotFound):
        await repo.set(org.id + 99, NUMBER, do_not_record=True)
    assert not await repo.is_do_not_record(org.id, "")


async def test_pseudonyms_are_keyed_per_instance_and_org(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db, db2 = await make_db(), await make_db()
    org = await make_org(db)
    other = await make_org(db)
    await make_org(db2)
    key = MasterKey.generate()
    repo = CallerRestrictionRepository(db, key)
    first = await repo.pseudonym(org.id, NUMBER)
    assert first.startswith(PSEUDONYM_PREFIX) and NUMBER[1:] not in first
    assert first == await CallerRestrictionRepository(db, key).pseudonym(org.id, NUMBER)
    assert first != await repo.pseudonym(other.id, NUMBER)
    assert first != await CallerRestrictionRepository(db2, key).pseudonym(org.id, NUMBER)
    assert pseudonymise(b"k" * 32, 1, NUMBER) != pseudonymise(b"j" * 32, 1, NUMBER)
    with pytest.raises(DecryptionFailed, match="master key"):
        await CallerRestrictionRepository(db, MasterKey.generate()).pseudonym(org.id, NUMBER)


async def test_an_erased_caller_stays_restricted_under_a_pseudonym(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    org = await make_org(db)
    repo = CallerRestrictionRepository(db, MasterKey.generate())
    await repo.set(org.id, NUMBER, do_not_record=True)
    await erase(repo, db, org.id, NUMBER)

    stored = await repo.list(org.id)
    assert len(stored) == 1 and stored[0].pseudonymised
    assert stored[0].caller_number == await repo.pseudonym(org.id, NUMBER)
    assert stored[0].do_not_record and stored[0].processing_restricted
    found = await repo.get(org.id, NUMBER)
    assert found is not None and found.erased_at == "2027-03-01T12:00:00.000Z"
    assert await repo.is_processing_restricted(org.id, NUMBER)
    assert await repo.is_do_not_record(org.id, NUMBER)

    # changing a flag later updates the pseudonymised row: the number does not come back
    await repo.set(org.id, NUMBER, do_not_record=False)
    assert all(r.pseudonymised for r in await repo.list(org.id))
    assert await repo.is_processing_restricted(org.id, NUMBER)

    await erase(repo, db, org.id, NUMBER)  # a second erasure merges into the same row
    assert len(await repo.list(org.id)) == 1


async def test_erasure_without_an_earlier_restriction(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    repo = CallerRestrictionRepository(db, MasterKey.generate())
    await erase(repo, db, org.id, NUMBER)
    found = await repo.get(org.id, NUMBER)
    assert found is not None and found.processing_restricted and not found.do_not_record
    assert await repo.get(org.id, "+15550000000") is None


async def test_kinds_reasons_and_dates_and_lifting(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    acme = await make_org(db)
    times = iter(["2027-03-01T10:00:00.000Z", "2027-03-02T10:00:00.000Z",
                  "2027-03-03T10:00:00.000Z"])
    repo = CallerRestrictionRepository(db, MasterKey.generate(), now=lambda: next(times))
    first = await repo.restrict(acme.id, NUMBER, frozenset({"transcribe"}), "asked on the phone")
    assert first.kinds == {"transcribe"} and first.reason == "asked on the phone"
    assert first.created_at == first.updated_at == "2027-03-01T10:00:00.000Z"
    more = await repo.restrict(acme.id, NUMBER, frozenset({"store", "object"}), "letter")
    assert more.kinds == {"transcribe", "store", "object"}  # earlier kinds are kept
    assert more.reason == "letter" and more.updated_at == "2027-03-02T10:00:00.000Z"
    assert more.created_at == "2027-03-01T10:00:00.000Z"
    assert await repo.unrestrict(acme.id, NUMBER) is None
    assert await repo.unrestrict(acme.id, NUMBER) is None


async def test_lifting_keeps_an_erased_caller_restricted(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    acme = await make_org(db)
    repo = CallerRestrictionRepository(db, MasterKey.generate())
    await erase(repo, db, acme.id, NUMBER)
    await repo.restrict(acme.id, NUMBER, frozenset({"object"}), "")
    after = await repo.unrestrict(acme.id, NUMBER)
    assert after is not None and after.processing_restricted and not after.object
    assert after.kinds == {"record"}


def test_kinds_parse_with_clear_errors() -> None:
    assert parse_kinds(" record, Transcribe ,") == {"record", "transcribe"}
    with pytest.raises(ValueError, match="unknown restriction bogus"):
        parse_kinds("record,bogus")
    with pytest.raises(ValueError, match="at least one"):
        parse_kinds(" , ")


def test_the_stored_hash_is_per_org_and_keyed() -> None:
    secret = b"s" * 32
    one = hash_number(secret, 1, NUMBER)
    assert one.startswith(HASH_PREFIX) and NUMBER not in one
    assert one == hash_number(secret, 1, f" {NUMBER} ")
    assert one != hash_number(secret, 2, NUMBER)
    assert one != hash_number(b"t" * 32, 1, NUMBER)


async def test_not_transcribed_turns_have_no_search_entry(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    acme = await make_org(db)
    calls = CallRepository(db)
    call = await calls.create_call(acme.id, None, None, "100", NUMBER, "", "ch-1")
    await calls.add_turn(call.id, NewTurn(1, "caller", NOT_TRANSCRIBED, "2027-03-01T10:00:00.000Z"))
    turn_id = await calls.add_turn(call.id, NewTurn(2, "caller", "zebra crossing",
                                   "2027-03-01T10:00:01.000Z"))
    def indexed(word: str) -> tuple[str, tuple[str]]:
        return transcript_search(db.engine, word)

    assert await db.fetch_all(*indexed("transcribed")) == []
    assert [r[0] for r in await db.fetch_all(*indexed("zebra"))] == [turn_id]
    # Rectified to "[not transcribed]" and back; deleted: the index follows without corruption.
    await db.execute("UPDATE call_turns SET text = ? WHERE id = ?", (NOT_TRANSCRIBED, turn_id))
    assert await db.fetch_all(*indexed("zebra")) == []
    await db.execute("UPDATE call_turns SET text = 'lion' WHERE id = ?", (turn_id,))
    assert [r[0] for r in await db.fetch_all(*indexed("lion"))] == [turn_id]
    await db.execute("DELETE FROM call_turns WHERE call_id = ?", (call.id,))
    assert await db.fetch_all(*indexed("lion")) == []
    if db.engine == "sqlite":
        await db.execute("INSERT INTO call_turns_fts(call_turns_fts) VALUES ('integrity-check')")
