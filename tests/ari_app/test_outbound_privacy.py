"""An answered outbound call is recorded and restricted as an inbound one (the PBX simulator):
the consent notice opens the call and its recording, the opt-out key deletes the recording, and
the callee's restrictions (kept under the number called) are honoured: ``record``,
``transcribe``, ``store``; ``object`` set after the call was queued stops it before dialing."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from ari_app.simulator.far_end import FarEnd
from callwright.privacy.restrictions import (
    HASH_PREFIX,
    NOT_TRANSCRIBED,
    CallerRestrictionRepository,
)
from callwright.privacy.secrets import MasterKey
from callwright.store.calls import Call
from tests.ari_app.conftest import Harness, MakeHarness
from tests.ari_app.test_call_consent import NOTICE, voiced, with_notice
from tests.ari_app.test_outbound_calls import FLOW, call_row, ended, queue_call

pytestmark = pytest.mark.slow

GREETING = "안녕하세요 지민 님, 화요일 예약 확인 전화입니다."


async def restrict(h: Harness, number: str, kinds: set[str]) -> None:
    assert h.service.db is not None
    repo = CallerRestrictionRepository(
        h.service.db, MasterKey.load_or_create(h.settings.server.master_key_file))
    org_id = await h.service.db.fetch_value("SELECT org_id FROM assistants ORDER BY id LIMIT 1")
    await repo.restrict(int(org_id), number, frozenset(kinds), "test")


async def answered_call(h: Harness, to: str, *, dtmf: str = "") -> tuple[Call, bytes]:
    """Queue a call to ``to`` (answered), listen until the assistant is quiet (pressing
    ``dtmf`` once it speaks), hang up: the closed calls row and what the callee heard."""
    assert h.service.db is not None
    h.sim.set_destination(to, FarEnd("answer", ring_s=0.2))
    row = await queue_call(h, to, first_name="지민", appointment="화요일")
    call = await h.sim.next_outbound_call(timeout=10)
    await call.caller.wait_for_speech(timeout=15)
    if dtmf:
        await asyncio.sleep(1.0)
        await call.caller.send_dtmf(dtmf)
        await asyncio.sleep(1.5)
    else:
        await call.caller.wait_until_quiet(1500, timeout=30)
    await call.caller.hangup()
    done = await ended(h.service.db, row.uid)
    assert done.outcome == "answered"
    for _ in range(200):  # the session closes the calls row after the outbound row
        stored = await call_row(h, done)
        if stored.status != "in_progress":
            return stored, call.caller.heard_pcm()
        await asyncio.sleep(0.05)
    raise AssertionError(f"calls row not closed: {stored}")


def recording_files(h: Harness) -> list[Path]:
    return [p for p in Path(h.settings.recordings.dir).rglob("*") if p.is_file()]


async def test_the_notice_opens_the_outbound_call_and_its_recording(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(flow=FLOW)
    await with_notice(h)
    stored, heard_pcm = await answered_call(h, "+15550000101")
    turns = await h.calls.turns(stored.id)
    assert turns[0].speaker == "assistant" and turns[0].text == f"{NOTICE} {GREETING}"
    assert stored.recording_path is not None and not stored.recording_declined
    with wave.open(stored.recording_path) as wav:
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    heard, recorded = voiced(heard_pcm), voiced(stereo[:, 1].tobytes())
    assert heard and recorded, (heard, recorded)
    # The file's first sound is the notice, as long as what the callee first heard.
    assert recorded[0][0] < 1.0, recorded
    assert abs((recorded[0][1] - recorded[0][0]) - (heard[0][1] - heard[0][0])) < 0.4, (
        heard, recorded)
    assert np.abs(stereo[: int(recorded[0][0] * 8000), :]).max(initial=0) < 300


async def test_the_opt_out_key_deletes_the_outbound_recording(make_harness: MakeHarness) -> None:
    h = await make_harness(flow=FLOW)
    await with_notice(h)
    stored, _ = await answered_call(h, "+15550000102", dtmf="9")
    assert stored.recording_declined and stored.recording_path is None
    assert not recording_files(h)
    events = [(e.kind, e.detail) for e in await h.calls.events(stored.id)]
    assert ("recording_declined", {"how": "key 9"}) in events


async def test_a_callee_not_to_be_recorded_has_no_recording(make_harness: MakeHarness) -> None:
    h = await make_harness(flow=FLOW)
    await with_notice(h)
    await restrict(h, "+15550000103", {"record"})
    stored, _ = await answered_call(h, "+15550000103")
    assert stored.recording_path is None and not recording_files(h)
    turns = await h.calls.turns(stored.id)
    assert turns[0].text == GREETING  # no recording: no notice
    events = [(e.kind, e.detail) for e in await h.calls.events(stored.id)]
    assert ("recording_skipped", {"reason": "caller_restriction"}) in events
    assert ("privacy_restriction", {"kinds": ["record"]}) in events


async def test_a_callee_not_to_be_transcribed_has_no_words_stored(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(flow=FLOW)
    await restrict(h, "+15550000104", {"transcribe"})
    stored, _ = await answered_call(h, "+15550000104")
    turns = await h.calls.turns(stored.id)
    assert turns and {t.text for t in turns} == {NOT_TRANSCRIBED}
    assert stored.recording_path is not None  # only what was asked: still recorded


async def test_a_callee_not_to_be_stored_leaves_only_a_minimal_row(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(flow=FLOW)
    await restrict(h, "+15550000105", {"store"})
    stored, _ = await answered_call(h, "+15550000105")
    assert stored.dialed.startswith(HASH_PREFIX)
    assert stored.recording_path is None and stored.slots == {}
    assert await h.calls.turns(stored.id) == []
    assert h.service.db is not None
    row = await h.service.db.fetch_one("SELECT * FROM calls WHERE id = ?", (stored.id,))
    assert row is not None and "5550000105" not in str(tuple(row))
    for event in await h.calls.events(stored.id):
        assert "5550000105" not in str(event.detail), event


async def test_an_objection_set_after_queueing_stops_the_call(make_harness: MakeHarness) -> None:
    h = await make_harness(flow=FLOW)
    assert h.service.db is not None
    h.sim.set_destination("+15550000106", FarEnd("answer"))
    # The repository queues without the do-not-call check (placing.py makes it): as if the
    # objection came after the call was queued.
    await restrict(h, "+15550000106", {"object"})
    row = await queue_call(h, "+15550000106")
    done = await ended(h.service.db, row.uid)
    assert done.outcome == "failed" and done.cause_text == "on the do-not-call list"
    with pytest.raises(TimeoutError):
        await h.sim.next_outbound_call(timeout=0.5)
