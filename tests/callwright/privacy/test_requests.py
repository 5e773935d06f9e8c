"""The register of data-subject requests and carrying them out, without the admin."""

from __future__ import annotations

import asyncio
import json
import zipfile
from pathlib import Path

import pytest

from admin.read_audit import RecentReads
from callwright.accounts.audit import Actor, AuditWriter
from callwright.errors import NotFound
from callwright.privacy.caller_data import ERASED, erase_call, export_call
from callwright.privacy.keyring import Keyring
from callwright.privacy.recording_crypto import encrypt_file, is_encrypted
from callwright.privacy.request_actions import LinkGone, RequestActions
from callwright.privacy.requests import PrivacyRequestRepository, RequestError, received_date
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from callwright.store.audit import AuditRepo
from callwright.store.calls import CallRepository
from callwright.store.clock import shift_iso
from tests.callwright.privacy.conftest import MakeCall, recording_bytes
from tests.callwright.store.conftest import MakeDb, MakeOrg

NOW = "2027-03-01T12:00:00.000Z"
NUMBER = "+4915551234567"
STAFF = Actor("user", user_id=None, ip="192.0.2.7")


def test_received_date() -> None:
    assert received_date("", NOW) == NOW
    assert received_date("2027-02-01", NOW) == "2027-02-01T00:00:00.000Z"
    assert received_date("2027-02-01T10:00:00+01:00", NOW) == "2027-02-01T09:00:00.000Z"
    for bad in ("2027-03-02", "2027-02-30", "soon", "01/02/2027"):
        with pytest.raises(ValueError):
            received_date(bad, NOW)


def test_recent_reads_make_one_entry_per_window() -> None:
    now = [100.0]
    reads = RecentReads(window_s=300, clock=lambda: now[0], limit=2)
    assert reads.first(("a", 1)) and not reads.first(("a", 1))
    now[0] += 299
    assert not reads.first(("a", 1))  # still the same listening
    now[0] += 301
    assert reads.first(("a", 1))
    assert reads.first(("b", 1)) and reads.first(("c", 1))
    assert reads.first(("a", 1))  # pushed out by the limit: counted again, never missed


async def test_register_orders_open_by_due_date(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org, other = await make_org(db), await make_org(db)
    repo = PrivacyRequestRepository(db, now=lambda: NOW)
    late = await repo.create(org.id, "erase", "caller", NUMBER, received_at="2027-01-01")
    soon = await repo.create(org.id, "export", "caller", NUMBER, received_at="2027-02-20")
    done = await repo.create(org.id, "restrict", "caller", NUMBER)
    await repo.finish(org.id, done.id, "completed", {"ok": True})
    await repo.create(other.id, "export", "caller", NUMBER)
    listed = await repo.list(org.id)
    assert [r.id for r in listed] == [late.id, soon.id, done.id]
    assert late.due_at == "2027-01-31T00:00:00.000Z" and late.overdue(NOW)
    assert not soon.overdue(NOW)
    with pytest.raises(NotFound):
        await repo.get(other.id, late.id)
    with pytest.raises(ValueError):
        await repo.create(org.id, "erase", "caller", NUMBER, note="x" * 3000)


async def test_one_call_is_exported_and_erased_alone(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall, tmp_path: Path
) -> None:
    db = await make_db()
    org, other = await make_org(db), await make_org(db)
    key = MasterKey.generate()
    first = await make_call(db, org.id, age_days=2, caller=NUMBER, recording=True)
    second = await make_call(db, org.id, age_days=1, caller=NUMBER, recording=True)
    with pytest.raises(NotFound):
        await export_call(db, other.id, first.uid, tmp_path, key)
    with pytest.raises(NotFound):
        await erase_call(db, other.id, first.uid, key)
    path = await export_call(db, org.id, first.uid, tmp_path / "out", key)
    with zipfile.ZipFile(path) as archive:
        calls = json.loads(archive.read("calls.json"))["calls"]
    assert [c["uid"] for c in calls] == [first.uid]

    report = await erase_call(db, org.id, first.uid, key)
    assert (report.calls_anonymised, report.recordings_deleted, report.pseudonym) == (1, 1, "")
    repo = CallRepository(db)
    assert (await repo.get(first.id)).caller_number == ERASED
    kept = await repo.get(second.id)
    assert kept.caller_number == NUMBER and kept.recording_path is not None
    assert await asyncio.to_thread(Path(kept.recording_path).exists)
    assert await repo.turns(second.id)
    [entry] = await db.fetch_all("SELECT target FROM audit_log WHERE action = 'call.erase'")
    assert entry["target"] == f"call:{first.uid}"


async def test_export_link_expires_by_the_clock_and_recordings_open_with_the_keyring(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall, tmp_path: Path
) -> None:
    db = await make_db()
    org = await make_org(db)
    key = MasterKey.generate()
    call = await make_call(db, org.id, age_days=1, caller=NUMBER)
    plain = tmp_path / "rec.wav"
    data = recording_bytes(5000)
    plain.write_bytes(data)
    data_key = await Keyring(db, key).current(org.id)
    sealed, key_id = await asyncio.to_thread(encrypt_file, plain, data_key)
    assert is_encrypted(sealed) and key_id != key.key_id
    await CallRepository(db).set_recording(call.id, str(sealed), key_id)

    clock = [NOW]
    actions = RequestActions(db, key, tmp_path / "exports", AuditWriter(AuditRepo(db)),
                             now=lambda: clock[0], link_ttl_s=600)
    request = await actions.repo.create(org.id, "export", "caller", NUMBER)
    outcome = await actions.execute(org.id, request.id, STAFF)
    assert outcome.download_token is not None
    assert outcome.request.result["link_expires_at"] == shift_iso(NOW, ms=600_000)
    with pytest.raises(RequestError):
        await actions.execute(org.id, request.id, STAFF)  # done once
    path = await actions.redeem(org.id, request.id, outcome.download_token, STAFF)
    with zipfile.ZipFile(path) as archive:
        assert archive.read(f"recordings/{call.uid}.wav") == data
    actions.discard_file(path)
    with pytest.raises(LinkGone):
        await actions.redeem(org.id, request.id, outcome.download_token, STAFF)

    again = await actions.prepare_again(org.id, request.id, STAFF)
    assert again.download_token is not None
    with pytest.raises(NotFound):  # the earlier link is no link at all now
        await actions.redeem(org.id, request.id, outcome.download_token, STAFF)
    clock[0] = shift_iso(NOW, ms=600_001)
    with pytest.raises(LinkGone):
        await actions.redeem(org.id, request.id, again.download_token, STAFF)
    assert not list((tmp_path / "exports").rglob("*.zip"))


async def test_exports_nobody_fetched_are_purged_after_expiry(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall, tmp_path: Path
) -> None:
    db = await make_db()
    org = await make_org(db)
    await make_call(db, org.id, age_days=1, caller=NUMBER)
    clock = [NOW]
    actions = RequestActions(db, MasterKey.generate(), tmp_path / "exports",
                             AuditWriter(AuditRepo(db)), now=lambda: clock[0], link_ttl_s=60)
    request = await actions.repo.create(org.id, "export", "caller", NUMBER)
    outcome = await actions.execute(org.id, request.id, STAFF)
    assert outcome.download_token is not None
    assert await actions.purge_exports() == 0
    assert len(list((tmp_path / "exports").rglob("*.zip"))) == 1
    clock[0] = shift_iso(NOW, ms=60_000)
    assert await actions.purge_exports() == 1
    assert not list((tmp_path / "exports").rglob("*.zip"))
    assert (await actions.repo.get(org.id, request.id)).export_file is None
    with pytest.raises(LinkGone):  # still "gone", not unknown
        await actions.redeem(org.id, request.id, outcome.download_token, STAFF)


async def test_restrict_and_object_requests_set_the_matching_flags(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall, tmp_path: Path
) -> None:
    db = await make_db()
    org = await make_org(db)
    key = MasterKey.generate()
    other = "+4915550000001"
    actions = RequestActions(db, key, tmp_path / "exports", AuditWriter(AuditRepo(db)))
    restricted = await actions.repo.create(org.id, "restrict", "caller", NUMBER)
    objected = await actions.repo.create(org.id, "object", "caller", other)
    await actions.execute(org.id, restricted.id, STAFF)
    await actions.execute(org.id, objected.id, STAFF)
    repo = CallerRestrictionRepository(db, key)
    found = await repo.get(org.id, NUMBER)
    assert found is not None and found.kinds == {"record", "transcribe"}
    assert found.reason == f"restriction request {restricted.id}"
    objection = await repo.get(org.id, other)
    assert objection is not None and objection.object and "object" in objection.kinds
    assert objection.reason == f"objection request {objected.id}"
