"""Privacy on the call path: recordings encrypted at rest, and callers who asked not to be
recorded are not recorded."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pytest

from ari_app.demo import DEMO_NUMBER
from callwright.privacy.keyring import Keyring
from callwright.privacy.recording_crypto import EncryptedReader, WrongRecordingKey, open_encrypted
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from tests.ari_app.conftest import Harness, MakeHarness

pytestmark = pytest.mark.slow


async def short_call(h: Harness, caller_number: str) -> None:
    call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number=caller_number,
                                  app=h.settings.ari.app)
    await call.caller.wait_for_speech(timeout=10)
    await call.caller.wait_until_quiet(500, timeout=15)
    await call.caller.hangup()


async def _org_key_plays(h: Harness) -> None:
    """The closed call's recording is sealed with its org's current data key, hides the WAV,
    and decrypts to it; another key does not open it."""
    row = await h.closed_call()
    assert row.recording_path is not None and row.recording_path.endswith(".cwenc")
    assert h.service.db is not None and row.org_id is not None
    key = MasterKey.load_or_create(h.settings.server.master_key_file)
    keyring = Keyring(h.service.db, key)
    assert row.recording_key_id == await keyring.current_id(row.org_id)
    assert row.recording_key_id != key.key_id
    sealed = Path(row.recording_path).read_bytes()  # noqa: ASYNC240
    assert b"RIFF" not in sealed and b"WAVE" not in sealed
    with pytest.raises(WrongRecordingKey):
        EncryptedReader(row.recording_path, key)
    reader = await open_encrypted(row.recording_path, keyring)
    try:
        plain = reader.read(0, reader.size)
    finally:
        reader.close()
    with wave.open(io.BytesIO(plain)) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() > 8000


async def test_recordings_are_encrypted_at_rest(make_harness: MakeHarness) -> None:
    h = await make_harness(env={"CALLWRIGHT_RECORDINGS_ENCRYPT": "true"})
    await short_call(h, "5554001")
    await _org_key_plays(h)


async def test_an_org_that_encrypts_gets_its_recordings_sealed_with_its_data_key(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(encrypt_recordings=True)
    await short_call(h, "5554003")
    await _org_key_plays(h)


async def test_an_org_that_turned_encryption_off_keeps_a_wav(make_harness: MakeHarness) -> None:
    h = await make_harness(encrypt_recordings=False)
    await short_call(h, "5554004")
    row = await h.closed_call()
    assert row.recording_path is not None and row.recording_path.endswith(".wav")
    assert row.recording_key_id is None
    with wave.open(row.recording_path) as wav:
        assert wav.getnchannels() == 2


async def test_a_do_not_record_caller_is_not_recorded(make_harness: MakeHarness) -> None:
    h = await make_harness()
    assert h.service.db is not None
    key = MasterKey.load_or_create(h.settings.server.master_key_file)
    restrictions = CallerRestrictionRepository(h.service.db, key)
    assistants = await h.service.db.fetch_all("SELECT org_id FROM assistants")
    await restrictions.set(assistants[0]["org_id"], "5554002", do_not_record=True)
    await short_call(h, "5554002")
    row = await h.closed_call()
    assert row.recording_path is None
    kinds = [e.kind for e in await h.calls.events(row.id)]
    assert "recording_skipped" in kinds
