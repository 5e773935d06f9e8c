"""Privacy on the call path: recordings encrypted at rest, and callers who asked not to be
recorded are not recorded."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pytest

from ari_app.demo import DEMO_NUMBER
from callwright.privacy.recording_crypto import EncryptedReader
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


async def test_recordings_are_encrypted_at_rest(make_harness: MakeHarness) -> None:
    h = await make_harness(env={"CALLWRIGHT_RECORDINGS_ENCRYPT": "true"})
    await short_call(h, "5554001")
    row = await h.closed_call()
    assert row.recording_path is not None and row.recording_path.endswith(".cwenc")
    assert row.recording_key_id
    assert b"RIFF" not in Path(row.recording_path).read_bytes()[:64]  # noqa: ASYNC240
    key = MasterKey.load_or_create(h.settings.server.master_key_file)
    reader = EncryptedReader(row.recording_path, key)
    try:
        plain = reader.read(0, reader.size)
    finally:
        reader.close()
    with wave.open(io.BytesIO(plain)) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() > 8000


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
