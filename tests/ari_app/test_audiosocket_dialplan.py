"""Calls from the AudioSocket() dialplan application, with no ARI: a fake Asterisk connects over
real TCP on 127.0.0.1 to the call service's AudioSocket server, sends the number's UUID, then the
caller's voice (espeak-ng Korean) as 0x10 slin 8 kHz frames every 20 ms and the caller's keys as
0x03 frames; it hangs up by closing the connection with no frame, as Asterisk does. Real Vosk,
the demo flow, SQLite.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ari_app.audiosocket_session import outcome_for_closed_stream
from ari_app.demo import DEMO_NUMBER
from ari_app.demo_caller import heard_speech_after, synthesize_phrases
from ari_app.simulator.caller import SimulatedCaller
from ari_app.simulator.media_audiosocket import AudioSocketEndpoint
from callwright.call.assistant_runtime import APOLOGIES
from callwright.call.outcome import CallOutcome
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.errors import NotFound
from callwright.media import audiosocket as wire
from callwright.store.calls import Call
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from callwright.store.numbers_audiosocket import (
    AudioSocketNumbers,
    AudioSocketUuidTaken,
    InvalidAudioSocketUuid,
    new_audiosocket_uuid,
    normalise_audiosocket_uuid,
)
from callwright.store.orgs import OrgRepository
from callwright.store.seed import seed_demo
from tests.ari_app.conftest import Harness, MakeHarness
from tests.ari_app.test_call_transports import free_tcp_port

NUMBER_UUID = uuid.UUID("7c2a5d4e-1b3f-4a6e-9d8c-0123456789ab")


# -- the fake Asterisk ---------------------------------------------------------------------------


@dataclass
class DialplanPeer:
    """Asterisk running ``AudioSocket(<uuid>,host:port)`` for one caller."""

    caller: SimulatedCaller
    endpoint: AudioSocketEndpoint
    #: Why the connection ended from Callwright's side ("hangup": a 0x00 frame, "closed").
    ended_by_server: asyncio.Future[str]

    async def hang_up(self) -> None:
        """The caller hangs up: Asterisk closes TCP and sends no frame."""
        await self.caller.hangup()


DialIn = Callable[[Harness, uuid.UUID], Awaitable[DialplanPeer]]


@pytest.fixture
async def dial_in() -> AsyncIterator[DialIn]:
    """``await dial_in(harness, uuid)``: a caller connected through AudioSocket()."""
    peers: list[DialplanPeer] = []

    async def connect(h: Harness, number_uuid: uuid.UUID) -> DialplanPeer:
        ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        caller = SimulatedCaller(phone_like=True)  # a SIP phone: frames all the time

        def server_ended(reason: str) -> None:
            if not ended.done():
                ended.set_result(reason)
            caller.close()

        endpoint = AudioSocketEndpoint("slin", number_uuid, caller.deliver, server_ended)
        server = h.service.audiosocket
        assert server is not None and server.running
        await endpoint.connect("127.0.0.1", server.port)

        def hang_up() -> None:
            endpoint.close()
            caller.close()

        caller.connect(endpoint.deliver, endpoint.deliver_dtmf, hang_up)
        peer = DialplanPeer(caller, endpoint, ended)
        peers.append(peer)
        return peer

    yield connect
    for peer in peers:
        peer.endpoint.close()
        peer.caller.close()


async def serve_demo_number_over_audiosocket(h: Harness) -> None:
    """Give the seeded demo number its UUID, as the admin or the CLI would, and have the
    running service pick it up."""
    assert h.service.db is not None and h.service.audiosocket_dialplan is not None
    number = await NumberRepository(h.service.db).find_inbound(DEMO_NUMBER)
    assert number is not None
    await AudioSocketNumbers(h.service.db).set_audiosocket_uuid(
        number[0].org_id, number[0].id, str(NUMBER_UUID).upper()
    )
    assert await h.service.audiosocket_dialplan.refresh()


async def audiosocket_harness(make_harness: MakeHarness) -> Harness:
    h = await make_harness(env={"CALLWRIGHT_MEDIA_AUDIOSOCKET_PORT": str(free_tcp_port())})
    assert h.service.audiosocket is not None
    assert not h.service.audiosocket.running, "no number has an AudioSocket UUID yet"
    await serve_demo_number_over_audiosocket(h)
    return h


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


async def event_kinds(h: Harness, call: Call) -> dict[str, list[dict[str, object]]]:
    found: dict[str, list[dict[str, object]]] = {}
    for event in await h.calls.events(call.id):
        found.setdefault(event.kind, []).append(event.detail)
    return found


# -- whole calls ---------------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_dialplan_call_is_answered_understood_recorded_and_ends_when_the_caller_hangs_up(
    make_harness: MakeHarness, dial_in: DialIn
) -> None:
    h = await audiosocket_harness(make_harness)
    (hello,) = await synthesize_phrases(await h.caller_voice(), ["안녕하세요"], "ko")
    placed = time.monotonic()
    peer = await dial_in(h, NUMBER_UUID)
    caller = peer.caller

    await heard_speech_after(caller, placed, within_s=15)  # the greeting
    await caller.wait_until_quiet(900, timeout=25)
    said_at = time.monotonic()
    await caller.say(hello)
    await heard_speech_after(caller, time.monotonic(), within_s=15)  # the reply
    await caller.wait_until_quiet(900, timeout=25)
    await peer.hang_up()

    call = await h.closed_call(within_s=5)
    assert (call.status, call.end_reason) == ("completed", "caller_hangup")
    assert (call.dialed, call.caller_number, call.direction) == (DEMO_NUMBER, "", "inbound")
    assert call.channel_id == f"AudioSocket/{NUMBER_UUID}"
    assert call.org_id is not None and call.assistant_id is not None
    assert call.answered_at is not None and call.duration_ms is not None
    turns = await h.calls.turns(call.id)
    assert [t.speaker for t in turns] == ["assistant", "caller", "assistant"]
    assert turns[0].text == DEMO_FLOW["nodes"]["greet"]["prompt"]
    assert turns[1].text == "안녕하세요"
    assert turns[2].text == DEMO_FLOW["nodes"]["offer"]["prompt"]
    assert not turns[2].interrupted
    assert call.slots == {"greeted": "hello"}
    events = await event_kinds(h, call)
    assert events["audiosocket_connected"][0]["uuid"] == str(NUMBER_UUID)
    # A close with our audio still unread in the peer's socket arrives as a reset.
    assert [e["reason"] for e in events["audiosocket_closed"]] in (
        ["peer closed the connection"], ["connection lost: ConnectionResetError"]
    )
    assert not peer.ended_by_server.done(), "we hung up, not the server"

    assert call.recording_path is not None
    with wave.open(call.recording_path) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    said = int((said_at - placed) * 8000)
    assert rms(stereo[said:said + 4000, 0]) > 300, "the caller's 안녕하세요 is on the left"
    assert rms(stereo[:, 1]) > 300, "the assistant is on the right"
    assert h.service.audiosocket is not None and h.service.audiosocket.accepted == 1


@pytest.mark.slow
async def test_keys_pressed_reach_the_flow_and_the_assistant_hangs_up_with_a_hangup_frame(
    make_harness: MakeHarness, dial_in: DialIn
) -> None:
    h = await audiosocket_harness(make_harness)
    placed = time.monotonic()
    peer = await dial_in(h, NUMBER_UUID)
    caller = peer.caller
    await heard_speech_after(caller, placed, within_s=15)
    await caller.wait_until_quiet(600, timeout=25)
    await caller.send_dtmf("1")  # the greeting's only choice: hello
    await heard_speech_after(caller, time.monotonic(), within_s=15)  # the offer
    await caller.wait_until_quiet(600, timeout=25)
    await caller.send_dtmf("1")  # yes
    async with asyncio.timeout(20):
        assert await peer.ended_by_server == "hangup"

    call = await h.closed_call(within_s=5)
    assert (call.status, call.end_reason) == ("completed", "demo_booked")
    assert call.slots == {"greeted": "hello", "wants_booking": "yes"}
    events = await event_kinds(h, call)
    assert [e["digit"] for e in events["dtmf"]] == ["1", "1"]
    assert "audiosocket_closed" not in events, "the caller did not hang up"
    turns = await h.calls.turns(call.id)
    assert turns[-1].speaker == "assistant"
    assert turns[-1].text == DEMO_FLOW["nodes"]["booked"]["text"]


@pytest.mark.slow
async def test_an_unknown_uuid_hears_the_unknown_number_message_and_is_recorded_as_rejected(
    make_harness: MakeHarness, dial_in: DialIn
) -> None:
    h = await audiosocket_harness(make_harness)
    stranger = uuid.uuid4()
    placed = time.monotonic()
    peer = await dial_in(h, stranger)
    await heard_speech_after(peer.caller, placed, within_s=10)
    async with asyncio.timeout(15):
        assert await peer.ended_by_server == "hangup"

    call = await h.closed_call(within_s=5)
    assert (call.status, call.end_reason) == ("rejected", "unknown_number")
    assert (call.org_id, call.number_id, call.assistant_id) == (None, None, None)
    assert call.dialed == str(stranger)
    events = await event_kinds(h, call)
    assert events["unknown_number"] == [{"audiosocket_uuid": str(stranger), "action": "message"}]
    turns = await h.calls.turns(call.id)
    assert [(t.speaker, t.text) for t in turns] == [
        ("assistant", h.settings.calls.unknown_number_message)
    ]
    assert call.recording_path is None


@pytest.mark.slow
async def test_an_error_frame_from_asterisk_fails_the_call_and_audio_goes_back_as_slin_8khz(
    make_harness: MakeHarness,
) -> None:
    h = await audiosocket_harness(make_harness)
    assert h.service.audiosocket is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", h.service.audiosocket.port)
    try:
        writer.write(wire.uuid_frame(NUMBER_UUID))
        parser = wire.AudioSocketParser()
        kinds: set[int] = set()
        loudest = 0.0
        async with asyncio.timeout(15):
            while loudest < 300:  # until the greeting is heard
                data = await reader.read(4096)
                assert data, "the server closed the connection"
                parser.feed(data)
                for frame in parser.frames():
                    kinds.add(frame.kind)
                    if isinstance(frame, wire.AudioFrame):
                        loudest = max(loudest, rms(np.frombuffer(frame.payload, dtype="<i2")))
        assert kinds == {wire.KIND_SLIN}
        writer.write(wire.build_frame(wire.KIND_ERROR, b"\x01"))
        await writer.drain()
        async with asyncio.timeout(5):
            while await reader.read(4096):
                pass  # the server closes its side
    finally:
        writer.close()
        await writer.wait_closed()
    call = await h.closed_call(within_s=5)
    assert call.status == "failed"
    assert call.end_reason == "media_closed: audiosocket: peer sent an error frame (code 1)"


@pytest.mark.slow
async def test_a_failure_during_set_up_ends_the_call_politely_and_still_closes_the_row(
    make_harness: MakeHarness, dial_in: DialIn, tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "occupied"
    not_a_directory.write_text("a file where the recordings should go")
    h = await make_harness(env={
        "CALLWRIGHT_MEDIA_AUDIOSOCKET_PORT": str(free_tcp_port()),
        "CALLWRIGHT_RECORDINGS_DIR": str(not_a_directory / "recordings"),
    })
    await serve_demo_number_over_audiosocket(h)
    placed = time.monotonic()
    peer = await dial_in(h, NUMBER_UUID)
    await heard_speech_after(peer.caller, placed, within_s=10)  # the apology
    async with asyncio.timeout(15):
        assert await peer.ended_by_server == "hangup"

    call = await h.closed_call(within_s=5)
    assert call.status == "failed"
    assert call.end_reason.startswith("error: NotADirectoryError")
    turns = await h.calls.turns(call.id)
    assert [(t.speaker, t.text) for t in turns] == [("assistant", APOLOGIES["ko"])]


def test_how_the_end_of_the_stream_is_read() -> None:
    assert outcome_for_closed_stream("peer closed the connection") == (
        CallOutcome("completed", "caller_hangup")
    )
    assert outcome_for_closed_stream("connection lost: ConnectionResetError") == (
        CallOutcome("completed", "caller_hangup")
    )
    assert outcome_for_closed_stream("unusable stream: 50 bad frames in a row") == (
        CallOutcome("failed", "media_closed: audiosocket: unusable stream: 50 bad frames in a row")
    )


# -- numbers' AudioSocket UUIDs ------------------------------------------------------------------

MakeStore = Callable[[], Awaitable[Database]]


@pytest.fixture
async def make_store(tmp_path: Path) -> AsyncIterator[MakeStore]:
    """``await make_store()``: a migrated SQLite file with the demo org, assistant and number."""
    opened: list[Database] = []

    async def make() -> Database:
        db = await Database.open(tmp_path / f"store-{len(opened)}.db")
        opened.append(db)
        await seed_demo(db, number=DEMO_NUMBER, flow=DEMO_FLOW)
        return db

    yield make
    for db in opened:
        await db.close()


def test_audiosocket_uuids_are_checked_and_stored_in_canonical_form() -> None:
    assert normalise_audiosocket_uuid(" 7C2A5D4E-1B3F-4A6E-9D8C-0123456789AB ") == str(NUMBER_UUID)
    assert normalise_audiosocket_uuid(NUMBER_UUID) == str(NUMBER_UUID)
    fresh = new_audiosocket_uuid()
    assert normalise_audiosocket_uuid(fresh) == fresh
    for bad in ("", "7c2a5d4e1b3f4a6e9d8c0123456789ab", "{7c2a5d4e-1b3f-4a6e-9d8c-0123456789ab}",
                "7c2a5d4e-1b3f-4a6e-9d8c-0123456789ag", "100",
                "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(InvalidAudioSocketUuid):
            normalise_audiosocket_uuid(bad)


async def test_a_number_is_found_by_its_audiosocket_uuid(make_store: MakeStore) -> None:
    db = await make_store()
    numbers = AudioSocketNumbers(db)
    found = await NumberRepository(db).find_inbound(DEMO_NUMBER)
    assert found is not None
    number, assistant = found
    assert assistant is not None
    assert not await numbers.any_configured()
    assert await numbers.find_by_audiosocket_uuid(NUMBER_UUID) is None

    stored = await numbers.set_audiosocket_uuid(number.org_id, number.id, NUMBER_UUID)
    assert stored == str(NUMBER_UUID)
    assert await numbers.uuid_of(number.org_id, number.id) == str(NUMBER_UUID)
    assert await numbers.any_configured()
    assert await numbers.find_by_audiosocket_uuid(str(NUMBER_UUID).upper()) == (number, assistant)
    assert await numbers.find_by_audiosocket_uuid("not a uuid") is None
    assert await numbers.find_by_audiosocket_uuid(uuid.uuid4()) is None

    assert await numbers.set_audiosocket_uuid(number.org_id, number.id, None) is None
    assert await numbers.find_by_audiosocket_uuid(NUMBER_UUID) is None
    assert not await numbers.any_configured()


async def test_audiosocket_uuids_are_unique_checked_and_scoped_to_the_org(
    make_store: MakeStore,
) -> None:
    db = await make_store()
    numbers = AudioSocketNumbers(db)
    found = await NumberRepository(db).find_inbound(DEMO_NUMBER)
    assert found is not None
    demo = found[0]
    other_org = await OrgRepository(db).create("Other", "other")
    other = await NumberRepository(db).create(other_org.id, "200")
    await numbers.set_audiosocket_uuid(demo.org_id, demo.id, NUMBER_UUID)

    with pytest.raises(AudioSocketUuidTaken):
        await numbers.set_audiosocket_uuid(other_org.id, other.id, str(NUMBER_UUID).upper())
    with pytest.raises(InvalidAudioSocketUuid):
        await numbers.set_audiosocket_uuid(other_org.id, other.id, "7c2a5d4e")
    with pytest.raises(NotFound):  # another org's number
        await numbers.set_audiosocket_uuid(other_org.id, demo.id, uuid.uuid4())
    with pytest.raises(NotFound):
        await numbers.uuid_of(other_org.id, demo.id)
    assert await numbers.uuid_of(other_org.id, other.id) is None

    # A number with no assistant is found (the call is then treated as an unknown number);
    # an outbound-only number answers no inbound call.
    second, third = uuid.uuid4(), uuid.uuid4()
    await numbers.set_audiosocket_uuid(other_org.id, other.id, second)
    assert await numbers.find_by_audiosocket_uuid(second) == (other, None)
    outbound = await NumberRepository(db).create(other_org.id, "201", direction="outbound")
    await numbers.set_audiosocket_uuid(other_org.id, outbound.id, third)
    assert await numbers.find_by_audiosocket_uuid(third) is None
