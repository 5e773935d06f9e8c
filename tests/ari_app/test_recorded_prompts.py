"""A recorded prompt is played instead of TTS: the caller hears the recording for the greeting."""

from __future__ import annotations

import numpy as np
import pytest

from ari_app.demo import DEMO_NUMBER
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.prompts.audio import convert_prompt
from callwright.store.prompts import PromptRepository
from tests.ari_app.conftest import MakeHarness
from tests.callwright.prompts.test_audio import peak_hz, tone_wav

pytestmark = pytest.mark.slow


async def test_the_greeting_is_the_recording(make_harness: MakeHarness) -> None:
    h = await make_harness()
    db = h.service.db
    assert db is not None
    row = await db.fetch_one("SELECT id, org_id FROM assistants ORDER BY id LIMIT 1")
    assert row is not None
    greeting = DEMO_FLOW["nodes"]["greet"]["prompt"]
    await PromptRepository(db).save(int(row["org_id"]), int(row["id"]), greeting, "hi.wav",
                                    convert_prompt(tone_wav(440, 1.2), "wav"))
    call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5551234",
                                  app=h.settings.ari.app)
    await call.caller.wait_until_quiet(600, timeout=15)
    heard = call.caller.heard_pcm()
    samples = np.frombuffer(heard, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples) > 2000)
    assert loud.size, "nothing heard"
    played = heard[loud[0] * 2:(loud[-1] + 1) * 2]
    assert abs(peak_hz(played, 8000) - 440) < 10  # the tone, not espeak-ng's voice
    assert 1.1 <= len(played) / 16000 <= 1.3
    await call.caller.hangup()
    closed = await h.closed_call()
    turns = await h.calls.turns(closed.id)
    assert turns[0].text == greeting  # the transcript keeps the words
