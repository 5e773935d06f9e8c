"""Recordings under the keyring in the admin: a recording sealed with an org's data key plays
(whole and with Range) before and after the key's rotation and after re-encryption under the new
key; one sealed with another instance's key answers 409, never a 500."""

from __future__ import annotations

import asyncio

from callwright.privacy.key_rotation import reencrypt_org, rotate_org_key
from callwright.privacy.keyring import Keyring
from callwright.privacy.recording_crypto import encrypt_file, header_key_id
from callwright.privacy.secrets import MasterKey
from callwright.store.calls import CallRepository
from tests.admin.conftest import Admin, AdminFactory, OrgFixture, write_stereo_wav


async def _sealed_recording(admin: Admin, org: OrgFixture, keyring: Keyring) -> tuple[str, bytes]:
    uid = await admin.call(org, recording=False)
    plain_path = admin.recordings / f"{uid}.wav"
    await asyncio.to_thread(write_stereo_wav, plain_path, 3.0)
    plain = await asyncio.to_thread(plain_path.read_bytes)
    key = await keyring.current(org.id)
    sealed, key_id = await asyncio.to_thread(encrypt_file, plain_path, key, chunk_size=4096)
    call_id = await admin.db.fetch_value("SELECT id FROM calls WHERE uid = ?", (uid,))
    await CallRepository(admin.db).set_recording(call_id, sealed.name, key_id)
    return uid, plain


async def _plays(admin: Admin, email: str, uid: str, plain: bytes) -> None:
    editor = await admin.login(email)
    whole = await editor.client.get(f"/calls/{uid}/recording")
    assert whole.status == 200 and await whole.read() == plain
    part = await editor.client.get(f"/calls/{uid}/recording", headers={"Range": "bytes=5000-9000"})
    assert part.status == 206 and await part.read() == plain[5000:9001]
    assert part.headers["Content-Range"] == f"bytes 5000-9000/{len(plain)}"


async def test_recordings_play_across_rotation_and_reencryption(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    keyring = Keyring(admin.db, admin.master_key)
    old_uid, old_plain = await _sealed_recording(admin, org, keyring)
    old_key = await keyring.current_id(org.id)
    await rotate_org_key(keyring, org.id)
    new_uid, new_plain = await _sealed_recording(admin, org, keyring)
    new_key = await keyring.current_id(org.id)
    assert old_key != new_key
    editor = org.users["editor"]
    await _plays(admin, editor, old_uid, old_plain)
    await _plays(admin, editor, new_uid, new_plain)

    report = await reencrypt_org(admin.db, keyring, admin.recordings, org.id)
    assert report.recordings == 1 and report.failed == []
    assert header_key_id(admin.recordings / f"{old_uid}.wav.cwenc") == new_key
    await _plays(admin, editor, old_uid, old_plain)
    await _plays(admin, editor, new_uid, new_plain)


async def test_a_recording_under_an_unknown_key_answers_409(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    uid = await admin.call(org, recording=False)
    plain_path = admin.recordings / f"{uid}.wav"
    await asyncio.to_thread(write_stereo_wav, plain_path, 0.5)
    sealed, _ = await asyncio.to_thread(encrypt_file, plain_path, MasterKey.generate())
    call_id = await admin.db.fetch_value("SELECT id FROM calls WHERE uid = ?", (uid,))
    await CallRepository(admin.db).set_recording(call_id, sealed.name, "whatever")
    editor = await admin.login(org.users["editor"])
    response = await editor.client.get(f"/calls/{uid}/recording")
    assert response.status == 409
    assert "key this server does not hold" in await response.text()
