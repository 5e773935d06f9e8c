"""Keys at rest: recordings on disk are unreadable without the key, stay readable across data
key rotations, and --reencrypt leaves every file under the current key; the master key rotates
with everything it protects still readable (also after an interrupted rotation)."""

from __future__ import annotations

import asyncio
import io
import itertools
import math
import sqlite3
import struct
import wave
from pathlib import Path

import pytest

from callwright.accounts.second_factor import totp_aad
from callwright.privacy.key_rotation import (
    privacy_secret_aad,
    reencrypt_org,
    rotate_master_key,
    rotate_org_key,
)
from callwright.privacy.keyring import Keyring
from callwright.privacy.recording_crypto import (
    EncryptedReader,
    KeySource,
    RecordingCryptoError,
    WrongRecordingKey,
    encrypt_file,
    header_key_id,
    open_encrypted,
    reencrypt_file,
)
from callwright.privacy.restrictions import load_or_create_secret
from callwright.privacy.secrets import MasterKey, SealingKey
from callwright.store.calls import CallRepository
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database
from callwright.store.turns import NewTurn
from callwright.store.webhook_endpoints import EndpointRepository
from tests.callwright.store.conftest import MakeDb, MakeOrg

_CHANNELS = itertools.count()


def wav_bytes(seconds: float = 1.5, rate: int = 8000) -> bytes:
    """A stereo 16-bit WAV of two sine tones: a header and PCM anyone would recognise."""
    frames = bytearray()
    for n in range(int(seconds * rate)):
        left = int(12000 * math.sin(2 * math.pi * 440 * n / rate))
        right = int(9000 * math.sin(2 * math.pi * 660 * n / rate))
        frames += struct.pack("<hh", left, right)
    out = io.BytesIO()
    with wave.open(out, "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(bytes(frames))
    return out.getvalue()


async def _recorded_call(db: Database, org_id: int, folder: Path, key: SealingKey | None,
                         plain: bytes) -> tuple[int, Path]:
    calls = CallRepository(db)
    call = await calls.create_call(org_id, None, None, "+15559990000", "+15550001111", "Pat",
                                   f"chan-{next(_CHANNELS)}", "inbound")
    path = folder / f"{call.uid}.wav"
    await asyncio.to_thread(path.write_bytes, plain)
    key_id = None
    if key is not None:
        path, key_id = await asyncio.to_thread(encrypt_file, path, key)
    await calls.set_recording(call.id, str(path), key_id)
    return call.id, path


def _read_all(path: Path, key: SealingKey) -> bytes:
    with EncryptedReader(path, key) as reader:
        return reader.read(0, reader.size)


async def test_a_recording_on_disk_is_unreadable_without_its_key(
    make_db: MakeDb, make_org: MakeOrg, tmp_path: Path
) -> None:
    db = await make_db()
    org = await make_org(db)
    ring = Keyring(db, MasterKey.generate())
    plain = wav_bytes()
    _, path = await _recorded_call(db, org.id, tmp_path, await ring.current(org.id), plain)
    sealed = path.read_bytes()
    for marker in (b"RIFF", b"WAVE", b"fmt ", b"data"):
        assert marker not in sealed
    pcm = plain[44:]
    # No run of 32 PCM bytes from anywhere in the recording survives into the file.
    assert not any(pcm[i: i + 32] in sealed for i in range(0, len(pcm) - 32, 997))
    assert header_key_id(path) == await ring.current_id(org.id)
    with pytest.raises(WrongRecordingKey):
        EncryptedReader(path, MasterKey.generate())
    # A key with the right id but other bytes fails authentication.
    impostor = SealingKey(bytes(32), header_key_id(path))
    with pytest.raises(RecordingCryptoError):
        EncryptedReader(path, impostor)
    # Another instance's keyring (another master key) does not hold the key.
    with pytest.raises(RecordingCryptoError):
        await open_encrypted(path, Keyring(db, MasterKey.generate()))
    reader = await open_encrypted(path, ring)
    with reader:
        assert reader.read(0, reader.size) == plain


async def test_rotation_keeps_old_and_new_readable_and_reencrypt_moves_everything(
    make_db: MakeDb, make_org: MakeOrg, tmp_path: Path
) -> None:
    db = await make_db()
    org, other = await make_org(db), await make_org(db)
    master = MasterKey.generate()
    ring = Keyring(db, master)
    folder = tmp_path / "recordings"
    folder.mkdir()
    plain = wav_bytes(0.5)
    # Legacy: sealed with the master key before the keyring existed.
    legacy_id, legacy = await _recorded_call(db, org.id, folder, master, plain)
    old_key = await ring.current(org.id)
    old_id, old = await _recorded_call(db, org.id, folder, old_key, plain + b"1")
    retired, new_id = await rotate_org_key(ring, org.id)
    assert retired == old_key.key_id and new_id != retired
    new_call, new = await _recorded_call(db, org.id, folder, await ring.current(org.id),
                                         plain + b"2")
    other_call, other_file = await _recorded_call(db, other.id, folder,
                                                  await ring.current(other.id), plain)
    other_before = other_file.read_bytes()
    await CredentialRepository(db, ring).put(org.id, "api_key", "llm", "sk-0123456789")
    await rotate_org_key(ring, org.id)
    # Nothing was re-encrypted by the rotations; all three still open, in a fresh process.
    fresh = Keyring(db, master)
    assert [header_key_id(p) for p in (legacy, old, new)] == [master.key_id, old_key.key_id,
                                                               new_id]
    for path, expected in ((legacy, plain), (old, plain + b"1"), (new, plain + b"2")):
        with await open_encrypted(path, fresh) as reader:
            assert reader.read(0, reader.size) == expected

    report = await reencrypt_org(db, fresh, folder, org.id, batch=2)
    current = await fresh.current_id(org.id)
    assert (report.recordings, report.credentials, report.failed) == (3, 1, [])
    for path, expected in ((legacy, plain), (old, plain + b"1"), (new, plain + b"2")):
        assert header_key_id(path) == current
        assert _read_all(path, await fresh.key(str(current))) == expected
        assert not path.with_name(path.name + ".part").exists()
    rows = await db.fetch_all(
        "SELECT id, recording_key_id FROM calls WHERE org_id = ?", (org.id,)
    )
    assert {row["recording_key_id"] for row in rows} == {current}
    assert {row["id"] for row in rows} == {legacy_id, old_id, new_call}
    assert await CredentialRepository(db, fresh).reveal(org.id, "llm") == "sk-0123456789"
    # The other org's file was not touched; a second run has nothing left to do.
    assert other_file.read_bytes() == other_before
    assert other_call
    again = await reencrypt_org(db, fresh, folder, org.id)
    assert (again.recordings, again.credentials) == (0, 0)


async def test_reencrypt_is_resumable_and_reports_a_missing_file(
    make_db: MakeDb, make_org: MakeOrg, tmp_path: Path
) -> None:
    db = await make_db()
    org = await make_org(db)
    master = MasterKey.generate()
    ring = Keyring(db, master)
    plain = wav_bytes(0.2)
    first = await ring.current(org.id)
    paths = [(await _recorded_call(db, org.id, tmp_path, first, plain))[1] for _ in range(3)]
    await ring.rotate(org.id)
    # An interrupted run left a .part beside one file: the next run replaces it.
    paths[0].with_name(paths[0].name + ".part").write_bytes(b"half a file")
    paths[2].unlink()
    report = await reencrypt_org(db, ring, tmp_path, org.id, batch=1)
    assert report.recordings == 2
    assert len(report.failed) == 1
    current = await ring.current_id(org.id)
    assert header_key_id(paths[0]) == current and header_key_id(paths[1]) == current
    assert _read_all(paths[0], await ring.key(str(current))) == plain
    assert not paths[0].with_name(paths[0].name + ".part").exists()


async def test_reencryption_leaves_the_loop_and_the_store_to_calls(
    make_db: MakeDb, make_org: MakeOrg, tmp_path: Path
) -> None:
    """Files of several MB are rewritten in worker threads, and the store's writer is free
    between rows: a call writing a turn every 20 ms meanwhile is never held up for long (the
    loop watchdog also fails this test if the loop is blocked for 300 ms)."""
    db = await make_db()
    org = await make_org(db)
    ring = Keyring(db, MasterKey.generate())
    key = await ring.current(org.id)
    big = await asyncio.to_thread(wav_bytes, 60.0)  # ~1.9 MB
    for _ in range(4):
        await _recorded_call(db, org.id, tmp_path, key, big)
    await ring.rotate(org.id)
    calls = CallRepository(db)
    live = await calls.create_call(org.id, None, None, "100", "+1555", "Live", "live")
    waits: list[float] = []
    done = asyncio.Event()

    async def call_writes() -> None:
        seq = 0
        loop = asyncio.get_running_loop()
        while not done.is_set():
            started = loop.time()
            await calls.add_turn(live.id, NewTurn(seq, "caller", "hello", live.started_at))
            waits.append(loop.time() - started)
            seq += 1
            await asyncio.sleep(0.02)

    writer = asyncio.create_task(call_writes())
    report = await reencrypt_org(db, ring, tmp_path, org.id, batch=2)
    done.set()
    await writer
    assert report.recordings == 4
    assert waits and max(waits) < 0.25, max(waits)


@pytest.mark.store_engines("sqlite")  # writes the SQLite file directly
async def test_a_recording_erased_while_it_is_rewritten_does_not_come_back(
    make_db: MakeDb, make_org: MakeOrg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await make_db()
    org = await make_org(db)
    ring = Keyring(db, MasterKey.generate())
    call_id, path = await _recorded_call(db, org.id, tmp_path, await ring.current(org.id),
                                         b"y" * 3000)
    await ring.rotate(org.id)
    rewrite = reencrypt_file

    def erased_meanwhile(target: Path, keys: KeySource, new_key: SealingKey) -> str:
        old = rewrite(target, keys, new_key)
        with sqlite3.connect(db.path) as conn:  # the erasure, on another connection
            conn.execute("UPDATE calls SET recording_path = NULL WHERE id = ?", (call_id,))
        return old

    monkeypatch.setattr("callwright.privacy.key_rotation.reencrypt_file", erased_meanwhile)
    report = await reencrypt_org(db, ring, tmp_path, org.id)
    assert report.recordings == 0
    assert not path.exists()


async def test_master_key_rotation_rewraps_everything(
    make_db: MakeDb, make_org: MakeOrg, tmp_path: Path
) -> None:
    db = await make_db()
    org = await make_org(db)
    key_file = tmp_path / "keys" / "master.key"
    master = MasterKey.load_or_create(key_file)
    ring = Keyring(db, master)
    plain = wav_bytes(0.2)
    folder = tmp_path / "rec"
    folder.mkdir()
    _, legacy = await _recorded_call(db, org.id, folder, master, plain)
    _, modern = await _recorded_call(db, org.id, folder, await ring.current(org.id), plain)
    creds = CredentialRepository(db, ring)
    await creds.put(org.id, "api_key", "llm", "sk-0123456789")
    await creds.put(org.id, "webhook_url", "hook", "https://example.org/hook")
    endpoint, signing = await EndpointRepository(db, master).create(
        org.id, "crm", target="webhook", credential_name="hook", events=["call.ended"])
    pseudonym_secret = await load_or_create_secret(db, master)
    user_id = await db.execute(
        "INSERT INTO users (email, display_name, password_hash, created_at, totp_secret_enc)"
        " VALUES ('a@example.org', 'A', 'x', '2026-01-01T00:00:00Z', ?)",
        (master.encrypt(b"JBSWY3DPEHPK3PXP", totp_aad(1)),),
    )
    assert user_id == 1

    new = await rotate_master_key(db, master, key_file)
    assert new.key_id != master.key_id
    assert MasterKey.load_or_create(key_file).key_id == new.key_id
    assert not key_file.with_name("master.key.next").exists()
    ring2 = Keyring(db, new)
    for path in (legacy, modern):
        with await open_encrypted(path, ring2) as reader:
            assert reader.read(0, reader.size) == plain
    assert await CredentialRepository(db, new).reveal(org.id, "llm") == "sk-0123456789"
    assert await load_or_create_secret(db, new) == pseudonym_secret
    opened = await EndpointRepository(db, new).signing_secret(org.id, endpoint.id)
    assert opened == signing.encode()
    sealed = await db.fetch_value("SELECT totp_secret_enc FROM users WHERE id = 1")
    assert new.decrypt(bytes(sealed), totp_aad(1)) == b"JBSWY3DPEHPK3PXP"
    # The old master key opens nothing any more.
    with pytest.raises(RecordingCryptoError):
        await open_encrypted(modern, Keyring(db, master))
    assert privacy_secret_aad("caller_pseudonym") == b"callwright/privacy_secrets/caller_pseudonym"



async def test_an_interrupted_master_rotation_completes_when_run_again(
    make_db: MakeDb, make_org: MakeOrg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await make_db()
    org = await make_org(db)
    key_file = tmp_path / "master.key"
    master = MasterKey.load_or_create(key_file)
    ring = Keyring(db, master)
    _, path = await _recorded_call(db, org.id, tmp_path, await ring.current(org.id), b"x" * 5000)
    await db.execute(
        "INSERT INTO users (email, display_name, password_hash, created_at, totp_pending_enc)"
        " VALUES ('b@example.org', 'B', 'x', '2026-01-01T00:00:00Z', ?)",
        (master.encrypt(b"PENDING", totp_aad(1)),),
    )

    def crash(*_: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr("callwright.privacy.key_rotation.os.replace", crash)
    with pytest.raises(OSError):
        await rotate_master_key(db, master, key_file)
    monkeypatch.undo()
    # The store is under the new key, the file still holds the old one: run again.
    assert MasterKey.load_or_create(key_file).key_id == master.key_id
    new = await rotate_master_key(db, MasterKey.load_or_create(key_file), key_file)
    assert MasterKey.load_or_create(key_file).key_id == new.key_id
    with await open_encrypted(path, Keyring(db, new)) as reader:
        assert reader.read(0, reader.size) == b"x" * 5000
    sealed = await db.fetch_value("SELECT totp_pending_enc FROM users WHERE id = 1")
    assert new.decrypt(bytes(sealed), totp_aad(1)) == b"PENDING"
