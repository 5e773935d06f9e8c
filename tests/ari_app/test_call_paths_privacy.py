"""Consent and restrictions on the call paths other than a new ARI call (issue 12): the
AudioSocket() dialplan path opens a recorded call with the consent notice and honours the opt-out
key; a call picked up after a crash keeps its caller's restrictions and lets the caller refuse
what was recorded before the restart; and the calls the start-up sweep closed send their
``call.ended`` (the one picked up again, when it really ends)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ari_app.demo import DEMO_NUMBER
from ari_app.demo_caller import heard_speech_after
from ari_app.service import CallService
from ari_app.simulator.calls import ContinuedTo
from ari_app.simulator.server import PbxSimulator
from callwright.call.recording_path import recording_path
from callwright.config import Settings, load_config
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.privacy.restrictions import (
    HASH_PREFIX,
    NOT_TRANSCRIBED,
    CallerRestrictionRepository,
)
from callwright.privacy.secrets import MasterKey
from callwright.speech.vosk_stt import VoskModelCache
from callwright.store.calls import Call, CallRepository
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database
from callwright.store.seed import seed_demo
from callwright.store.webhook_endpoints import EVENT_TYPES, EndpointRepository
from tests.ari_app.conftest import PASSWORD, MakeHarness
from tests.ari_app.simulator.conftest import AppSide
from tests.ari_app.simulator.media_helpers import RtpPeer
from tests.ari_app.simulator.test_inbound_call import bridge_with_media
from tests.ari_app.test_audiosocket_dialplan import (  # noqa: F401  (the dial_in fixture)
    NUMBER_UUID,
    DialIn,
    audiosocket_harness,
    dial_in,
)
from tests.ari_app.test_call_consent import NOTICE, with_notice
from tests.callwright.webhooks import conftest as receivers
from tests.callwright.webhooks.conftest import MakeReceiver, Receiver

pytestmark = pytest.mark.slow
make_receiver = receivers.make_receiver  # the local receiver's fixture

CALLER = "5557700"


async def test_an_audiosocket_call_opens_with_the_notice_and_the_opt_out_key_deletes_it(
    make_harness: MakeHarness, dial_in: DialIn  # noqa: F811
) -> None:
    h = await audiosocket_harness(make_harness)
    await with_notice(h)
    placed = time.monotonic()
    peer = await dial_in(h, NUMBER_UUID)
    await heard_speech_after(peer.caller, placed, within_s=15)
    await asyncio.sleep(1.0)
    await peer.caller.send_dtmf("9")
    await asyncio.sleep(1.5)
    await peer.hang_up()
    call = await h.closed_call(within_s=5)
    turns = await h.calls.turns(call.id)
    # The notice first (cut where the caller hung up: the turn keeps what was said).
    assert turns[0].speaker == "assistant"
    assert turns[0].text.startswith("This call is recorded"), turns[0].text
    assert call.recording_declined and call.recording_path is None
    recordings = Path(h.settings.recordings.dir)
    assert not [p for p in recordings.rglob("*") if p.is_file()]  # noqa: ASYNC240
    events = [(e.kind, e.detail) for e in await h.calls.events(call.id)]
    assert ("recording_declined", {"how": "key 9"}) in events
    assert not any(kind == "dtmf" for kind, _ in events)  # the key was not the dialog's


async def test_an_audiosocket_call_without_the_opt_out_keeps_its_recording(
    make_harness: MakeHarness, dial_in: DialIn  # noqa: F811
) -> None:
    h = await audiosocket_harness(make_harness)
    await with_notice(h)
    placed = time.monotonic()
    peer = await dial_in(h, NUMBER_UUID)
    await heard_speech_after(peer.caller, placed, within_s=15)
    await peer.caller.send_dtmf("1")  # a key of the flow's, not the opt-out
    await asyncio.sleep(1.0)
    await peer.hang_up()
    call = await h.closed_call(within_s=5)
    assert not call.recording_declined and call.recording_path is not None
    assert Path(call.recording_path).exists()  # noqa: ASYNC240


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _until(check: Callable[[], bool], within_s: float, what: object) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def _ended(receiver: Receiver) -> dict[str, dict[str, object]]:
    """The call part of each call.ended received, by call uid."""
    found: dict[str, dict[str, object]] = {}
    for r in receiver.received:
        if r.json["type"] == "call.ended":
            call = r.json["data"]["call"]
            assert call["uid"] not in found, "one call.ended per call"
            found[call["uid"]] = call
    return found


def service_settings(tmp_path: Path, **env: str) -> Settings:
    return load_config(None, env={
        "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path),
        "CALLWRIGHT_STORE_PATH": str(tmp_path / "callwright.db"),
        "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
        "CALLWRIGHT_SERVER_STATUS_PORT": str(_free_port()),
        **env,
    })


async def left_in_the_app(sim: PbxSimulator, settings: Settings, caller: str) -> tuple[Any, str]:
    """A caller of the demo number left in our app by a process that died (bridged with its
    media channel, the events WebSocket cut): the simulated call and the caller's channel id."""
    peer = await RtpPeer.open()
    try:
        async with aiohttp.ClientSession(headers={
            "Authorization": aiohttp.encode_basic_auth(sim.username, sim.password)
        }) as raw:
            dead = AppSide(sim, raw, settings.ari.app)
            await dead.connect()
            placed = await sim.place_call(dialed=DEMO_NUMBER, caller_number=caller,
                                          app=settings.ari.app)
            channel = str((await dead.next_event("StasisStart"))["channel"]["id"])
            await bridge_with_media(dead, channel, peer)
            assert dead.ws is not None
            dead.ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
            await asyncio.sleep(0.1)
    finally:
        peer.close()
    return placed, channel


async def test_an_objecting_caller_found_after_a_crash_is_handed_back_and_stored_hashed(
    tmp_path: Path, vosk_models: VoskModelCache
) -> None:
    """The dead process had not written the call's row: the new one creates it for a caller
    restricted to 'object' and 'store', so the row keeps the number hashed, and the caller hears
    the objection and goes to the dialplan fallback, as on a new call."""
    settings = service_settings(tmp_path, CALLWRIGHT_CALLS_FALLBACK_TARGET="operators,100,1")
    key = MasterKey.load_or_create(settings.server.master_key_file)
    async with PbxSimulator(username=settings.ari.username, password=PASSWORD) as sim:
        settings = replace(settings, ari=replace(settings.ari, url=sim.ari_url, password=PASSWORD))
        db = await Database.open(settings.store.path)
        try:
            org, _, _ = await seed_demo(db, number=DEMO_NUMBER, language="ko", greeting="",
                                        flow=dict(DEMO_FLOW), record_calls=True)
            await CallerRestrictionRepository(db, key).restrict(
                org.id, CALLER, frozenset({"object", "store"}), "objected by letter")
            placed, _ = await left_in_the_app(sim, settings, CALLER)
        finally:
            await db.close()
        service = CallService(settings, vosk_models=vosk_models, warm_streams=1)
        await service.start()
        try:
            await _until(lambda: placed.continued_to is not None, 20, "handed back")
            assert placed.continued_to == ContinuedTo("operators", "100", 1)
            assert service.db is not None
            calls = CallRepository(service.db)
            row = await calls.get(int(await service.db.fetch_value("SELECT id FROM calls")))
            for _ in range(100):
                row = await calls.get(row.id)
                if row.status != "in_progress":
                    break
                await asyncio.sleep(0.05)
            assert (row.status, row.end_reason) == ("transferred", "handed_back: caller_objection")
            assert row.caller_number.startswith(HASH_PREFIX) and row.caller_name == ""
            assert row.recording_path is None
            kinds = [e.kind for e in await calls.events(row.id)]
            assert "caller_objected" in kinds and "privacy_restriction" in kinds
            assert await calls.turns(row.id) == []  # store: no turns
        finally:
            await service.stop()


async def test_a_call_picked_up_after_a_crash_keeps_restrictions_and_consent_and_ends_with_events(
    tmp_path: Path, vosk_models: VoskModelCache, make_receiver: MakeReceiver
) -> None:
    """A process died with two calls in progress: one caller still in our app (restricted to
    'transcribe', recorded before the crash), one gone. The new service closes both at start-up,
    sends the gone one's call.ended at once, resumes the other, whose turns are not transcribed
    and whose caller refuses the recording with the key: the file the dead run left is deleted.
    Its call.ended goes out when the caller hangs up, with that outcome."""
    receiver = await make_receiver(200)
    settings = service_settings(tmp_path)
    key = MasterKey.load_or_create(settings.server.master_key_file)
    async with PbxSimulator(username=settings.ari.username, password=PASSWORD) as sim:
        settings = replace(settings, ari=replace(settings.ari, url=sim.ari_url, password=PASSWORD))
        db = await Database.open(settings.store.path)
        try:
            org, assistant, _ = await seed_demo(db, number=DEMO_NUMBER, language="ko",
                                                greeting="", flow=dict(DEMO_FLOW),
                                                record_calls=True)
            await db.execute("UPDATE assistants SET consent_prompt = ?", (NOTICE,))
            await CallerRestrictionRepository(db, key).restrict(
                org.id, CALLER, frozenset({"transcribe"}), "asked by letter")
            await CredentialRepository(db, key).put(org.id, "webhook_url", "crm", receiver.url)
            await EndpointRepository(db, key).create(
                org.id, "crm", target="webhook", credential_name="crm", events=EVENT_TYPES)
            placed, channel = await left_in_the_app(sim, settings, CALLER)
            calls = CallRepository(db)
            alive = await calls.create_call(org.id, assistant.id, None, DEMO_NUMBER, CALLER, "",
                                            channel)
            gone = await calls.create_call(org.id, assistant.id, None, DEMO_NUMBER, "5550000",
                                           "", "PJSIP/gone-00000001")
            left = recording_path(Path(settings.recordings.dir), alive)
            left.parent.mkdir(parents=True)
            left.write_bytes(b"RIFF what the dead run recorded")
        finally:
            await db.close()

        service = CallService(settings, vosk_models=vosk_models, warm_streams=1)
        await service.start()
        try:
            assert service.db is not None
            calls = CallRepository(service.db)
            await _until(lambda: gone.uid in _ended(receiver), 15, receiver.received)
            assert _ended(receiver)[gone.uid]["status"] == "failed"
            assert _ended(receiver)[gone.uid]["end_reason"] == "server_restart"
            assert alive.uid not in _ended(receiver), "picked up again: not ended yet"

            await heard_speech_after(placed.caller, time.monotonic(), 10.0)  # recovery line
            await placed.caller.wait_until_quiet(800, timeout=20)
            await placed.caller.send_dtmf("9")
            await asyncio.sleep(1.0)
            await placed.caller.hangup()

            async def closed() -> Call:
                for _ in range(100):
                    row = await calls.get(alive.id)
                    if row.status != "in_progress":
                        return row
                    await asyncio.sleep(0.05)
                raise AssertionError("the resumed call was not closed")

            row = await closed()
            assert (row.status, row.end_reason) == ("completed", "caller_hangup")
            assert row.recording_declined and row.recording_path is None
            assert not left.exists()  # noqa: ASYNC240
            events = [(e.kind, e.detail) for e in await calls.events(row.id)]
            assert ("privacy_restriction", {"kinds": ["transcribe"]}) in events
            assert ("recording_declined", {"how": "key 9"}) in events
            turns = await calls.turns(row.id)
            assert turns and {t.text for t in turns} == {NOT_TRANSCRIBED}
            await _until(lambda: alive.uid in _ended(receiver), 15, receiver.received)
            assert _ended(receiver)[alive.uid]["status"] == "completed"
        finally:
            await service.stop()
