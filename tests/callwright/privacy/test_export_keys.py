"""A caller's export holds the plaintext of recordings sealed under every kind of key: the
master key (legacy), an org data key since retired, and the current one."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

from callwright.privacy.caller_data import export_caller
from callwright.privacy.keyring import Keyring
from callwright.privacy.recording_crypto import encrypt_file
from callwright.privacy.secrets import MasterKey, SealingKey
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from tests.callwright.store.conftest import MakeDb, MakeOrg

NUMBER = "+15550104040"


async def _call(db: Database, org_id: int, folder: Path, key: SealingKey, audio: bytes) -> str:
    calls = CallRepository(db)
    call = await calls.create_call(org_id, None, None, "100", NUMBER, "Pat", f"ch-{len(audio)}")
    plain = folder / f"{call.uid}.wav"
    await asyncio.to_thread(plain.write_bytes, audio)
    sealed, key_id = await asyncio.to_thread(encrypt_file, plain, key)
    await calls.set_recording(call.id, str(sealed), key_id)
    await calls.close_call(call.id, "completed", "caller_hangup")
    return call.uid


async def test_export_decrypts_recordings_under_legacy_retired_and_current_keys(
    make_db: MakeDb, make_org: MakeOrg, tmp_path: Path
) -> None:
    db = await make_db()
    org = await make_org(db)
    master = MasterKey.generate()
    ring = Keyring(db, master)
    audio = {size: b"RIFF" + bytes(range(256)) * size for size in (10, 20, 30)}
    uids = {
        await _call(db, org.id, tmp_path, master, audio[10]): audio[10],
        await _call(db, org.id, tmp_path, await ring.current(org.id), audio[20]): audio[20],
    }
    await ring.rotate(org.id)
    uids[await _call(db, org.id, tmp_path, await ring.current(org.id), audio[30])] = audio[30]
    out = tmp_path / "out"
    out.mkdir()
    archive = await export_caller(db, org.id, NUMBER, out, master)
    with zipfile.ZipFile(archive) as handle:
        for uid, expected in uids.items():
            assert handle.read(f"recordings/{uid}.wav") == expected
