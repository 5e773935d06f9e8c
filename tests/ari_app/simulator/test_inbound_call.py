"""An inbound call through the simulator, with the test playing the ARI app over real sockets."""

from __future__ import annotations

import asyncio
import re
import statistics
from typing import Any

import numpy as np
import pytest

from ari_app.simulator.server import PbxSimulator
from callwright.media import g711
from callwright.media.rtp import build_rtp
from tests.ari_app.simulator.conftest import AppFactory, AppSide, PeerFactory, SimFactory
from tests.ari_app.simulator.media_helpers import RtpPeer, dominant_hz, send_paced, tone

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


async def bridge_with_media(
    app: AppSide, caller_id: str, peer: RtpPeer, fmt: str = "ulaw"
) -> tuple[str, dict[str, Any]]:
    """What a Callwright session does: answer, bridge, ExternalMedia, add both (422 -> retry)."""
    assert (await app.call("POST", f"/channels/{caller_id}/answer"))[0] == 204
    status, bridge = await app.call("POST", "/bridges", type="mixing", name="callwright")
    assert status == 200
    status, em = await app.call(
        "POST", "/channels/externalMedia", app=app.app, external_host=peer.address, format=fmt
    )
    assert status == 200
    assert (await app.call("POST", f"/bridges/{bridge['id']}/addChannel", channel=caller_id))[
        0
    ] == 204
    for _ in range(50):
        status, _body = await app.call(
            "POST", f"/bridges/{bridge['id']}/addChannel", channel=em["id"]
        )
        if status == 204:
            break
        assert status == 422
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the ExternalMedia channel never entered Stasis")
    return bridge["id"], em


async def start_call(
    make_sim: SimFactory, make_app: AppFactory, **sim_kwargs: Any
) -> tuple[PbxSimulator, AppSide, Any, str]:
    sim = await make_sim(**sim_kwargs)
    app = await make_app(sim)
    call = await sim.place_call()
    start = await app.next_event("StasisStart")
    return sim, app, call, start["channel"]["id"]


async def test_stasis_start_has_asterisk_shape(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    call = await sim.place_call(dialed="100", caller_number="5551234", caller_name="Alice")
    event = await app.next_event()
    assert list(event) == ["type", "timestamp", "args", "channel", "asterisk_id", "application"]
    assert event["type"] == "StasisStart"
    assert event["args"] == ["100"]
    assert event["application"] == "callwright"
    assert event["asterisk_id"] == "02:fc:00:00:00:01"
    assert TIMESTAMP.match(event["timestamp"])
    ch = event["channel"]
    assert ch["id"] == call.channel_id
    assert re.fullmatch(r"\d{10}\.\d+", ch["id"])
    assert re.fullmatch(r"Local/s@caller-[0-9a-f]{8};1", ch["name"])
    assert ch["state"] == "Up"
    assert ch["caller"] == {"name": "Alice", "number": "5551234"}
    assert ch["dialplan"] == {
        "context": "from-test",
        "exten": "100",
        "priority": 2,
        "app_name": "Stasis",
        "app_data": "callwright,100",
    }
    assert TIMESTAMP.match(ch["creationtime"])
    # already Up, answering still works
    assert await app.call("POST", f"/channels/{ch['id']}/answer") == (204, "")
    # GET /channels lists both Local halves
    status, channels = await app.call("GET", "/channels")
    assert status == 200
    assert sorted(c["name"][-2:] for c in channels) == [";1", ";2"]


async def test_args_are_passed_through(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    await sim.place_call(args=["arg1", "arg2"])
    event = await app.next_event("StasisStart")
    assert event["args"] == ["arg1", "arg2"]
    assert event["channel"]["dialplan"]["app_data"] == "callwright,arg1,arg2"


async def test_external_media_joins_stasis_after_the_response(
    make_sim: SimFactory, make_app: AppFactory, make_peer: PeerFactory
) -> None:
    # A wide window makes the race deterministic; the default is 1 ms, as measured.
    sim, app, call, caller_id = await start_call(make_sim, make_app, media_stasis_delay_s=0.3)
    peer = await make_peer()
    status, bridge = await app.call("POST", "/bridges", type="mixing")
    status, em = await app.call(
        "POST", "/channels/externalMedia", app="callwright", external_host=peer.address,
        format="ulaw",
    )
    assert status == 200
    assert em["state"] == "Down"
    assert re.fullmatch(r"UnicastRTP/127\.0\.0\.1:\d+-0x[0-9a-f]{12}", em["name"])
    port = em["channelvars"]["UNICASTRTP_LOCAL_PORT"]
    assert isinstance(port, str) and int(port) % 2 == 0 and 10000 <= int(port) < 20000
    assert em["channelvars"]["UNICASTRTP_LOCAL_ADDRESS"] == "127.0.0.1"
    assert list(em["channelvars"]) == ["UNICASTRTP_LOCAL_PORT", "UNICASTRTP_LOCAL_ADDRESS"]
    early = await app.call("POST", f"/bridges/{bridge['id']}/addChannel", channel=em["id"])
    assert early == (422, {"message": "Channel not in Stasis application"})
    kinds = []
    while True:
        event = await app.next_event()
        kinds.append((event["type"], event.get("dialstatus", event.get("variable"))))
        if event["type"] == "StasisStart":
            assert event["args"] == []
            assert event["channel"]["dialplan"]["app_data"] == "callwright"
            break
    assert kinds == [
        ("Dial", ""),
        ("ChannelStateChange", None),
        ("Dial", "ANSWER"),
        ("ChannelVarset", "STASISSTATUS"),
        ("StasisStart", None),
    ]
    assert (await app.call("POST", f"/bridges/{bridge['id']}/addChannel", channel=em["id"]))[
        0
    ] == 204


@pytest.mark.parametrize(
    ("fmt", "pt", "frame_bytes", "frame_samples"),
    [
        ("ulaw", 0, 160, 160),
        ("alaw", 8, 160, 160),
        ("slin", 10, 320, 160),
        ("slin16", 118, 640, 320),
    ],
)
async def test_caller_speech_reaches_the_app_as_rtp(
    make_sim: SimFactory,
    make_app: AppFactory,
    make_peer: PeerFactory,
    fmt: str,
    pt: int,
    frame_bytes: int,
    frame_samples: int,
) -> None:
    sim, app, call, caller_id = await start_call(make_sim, make_app)
    peer = await make_peer()
    _bridge, em = await bridge_with_media(app, caller_id, peer, fmt)
    await call.caller.silence(200)
    assert peer.packets == [], "nothing is sent while the caller is silent"
    speech = tone(440, 405)  # 20 frames and a 5 ms tail
    await call.caller.say(speech)
    await asyncio.sleep(0.1)
    got = list(peer.packets)
    assert len(got) == 21
    local = ("127.0.0.1", int(em["channelvars"]["UNICASTRTP_LOCAL_PORT"]))
    assert {r.addr for r in got} == {local}
    assert {r.packet.payload_type for r in got} == {pt}
    assert [len(r.packet.payload) for r in got] == [frame_bytes] * 20 + [frame_bytes // 4]
    assert not any(r.packet.marker for r in got)
    assert len({r.packet.ssrc for r in got}) == 1
    seqs = [r.packet.sequence for r in got]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(21)]
    stamps = [r.packet.timestamp for r in got]
    assert stamps[:20] == [frame_samples * (i + 1) for i in range(20)]
    assert stamps[20] == stamps[19] + frame_samples // 4
    gaps = [b.at - a.at for a, b in zip(got, got[1:], strict=False)]
    assert 0.017 < statistics.median(gaps) < 0.023
    payload = b"".join(r.packet.payload for r in got[:20])
    if fmt == "ulaw":
        pcm, rate = g711.ulaw_decode(payload), 8000
    elif fmt == "alaw":
        pcm, rate = g711.alaw_decode(payload), 8000
    else:
        pcm = np.frombuffer(payload, dtype=">i2").astype("<i2").tobytes()
        rate = 16000 if fmt == "slin16" else 8000
    assert abs(dominant_hz(pcm, rate) - 440) < 15


async def test_app_audio_is_heard_by_the_caller(
    make_sim: SimFactory, make_app: AppFactory, make_peer: PeerFactory
) -> None:
    sim, app, call, caller_id = await start_call(make_sim, make_app)
    peer = await make_peer()
    _bridge, em = await bridge_with_media(app, caller_id, peer, "ulaw")
    to = ("127.0.0.1", int(em["channelvars"]["UNICASTRTP_LOCAL_PORT"]))
    # Before the caller said anything, and before Asterisk sent anything: accepted.
    audio = tone(600, 400)
    frames = [audio[i : i + 320] for i in range(0, len(audio), 320)]
    await send_paced(peer, to, [g711.ulaw_encode(f) for f in frames], pt=0)
    when = await call.caller.wait_for_speech(timeout=2)
    assert when >= 0
    heard_at = await call.caller.wait_until_quiet(200, timeout=3)
    heard = call.caller.heard_pcm()
    assert abs(dominant_hz(heard[-3200:]) - 600) < 20 or abs(dominant_hz(heard) - 600) < 20
    segments = call.caller.heard_segments()
    assert len(segments) == 1
    assert 0.35 < segments[0].duration < 0.45
    assert heard_at == pytest.approx(segments[0].end, abs=0.03)


@pytest.mark.parametrize(("pt", "heard"), [(8, True), (10, True), (11, True), (118, False)])
async def test_payload_types_accepted_back(
    make_sim: SimFactory, make_app: AppFactory, make_peer: PeerFactory, pt: int, heard: bool
) -> None:
    sim, app, call, caller_id = await start_call(make_sim, make_app)
    peer = await make_peer()
    _bridge, em = await bridge_with_media(app, caller_id, peer, "slin16")
    to = ("127.0.0.1", int(em["channelvars"]["UNICASTRTP_LOCAL_PORT"]))
    audio = tone(500, 200)
    frames = [audio[i : i + 320] for i in range(0, len(audio), 320)]
    if pt == 8:
        payloads = [g711.alaw_encode(f) for f in frames]
    elif pt in (10, 11):
        payloads = [np.frombuffer(f, "<i2").astype(">i2").tobytes() for f in frames]
    else:
        up = np.repeat(np.frombuffer(audio, "<i2"), 2).astype(">i2").tobytes()
        payloads = [up[i : i + 640] for i in range(0, len(up), 640)]
    peer.send(b"\x00garbage", to)
    peer.send(build_rtp(96, 1, 1, 1, b"\x01" * 160), to)
    await send_paced(peer, to, payloads, pt=pt)
    await asyncio.sleep(0.1)
    assert (len(call.caller.heard_frames()) > 0) is heard
    if heard:
        assert abs(dominant_hz(call.caller.heard_pcm()) - 500) < 25


async def test_caller_hangs_up_in_recorded_order(
    make_sim: SimFactory, make_app: AppFactory, make_peer: PeerFactory
) -> None:
    sim, app, call, caller_id = await start_call(make_sim, make_app)
    peer = await make_peer()
    bridge_id, em = await bridge_with_media(app, caller_id, peer)
    await app.settle()
    app.drain()
    await call.caller.hangup()
    await call.ended()
    await app.settle()
    seen = [
        (e["type"], "caller" if e["channel"]["id"] == caller_id else "em", e.get("value"))
        for e in app.drain()
    ]
    assert seen == [
        ("ChannelHangupRequest", "caller", None),
        ("ChannelVarset", "caller", ""),
        ("ChannelLeftBridge", "caller", None),
        ("StasisEnd", "caller", None),
    ]
    hangup = app.events[-4]
    assert hangup["cause"] == 16 and "soft" not in hangup
    # The ExternalMedia channel is not hung up: the app must delete it.
    assert (await app.call("GET", f"/channels/{em['id']}"))[0] == 200
    assert await app.call("DELETE", f"/channels/{em['id']}") == (204, "")
    assert (await app.call("DELETE", f"/bridges/{bridge_id}")) == (204, "")
    await app.settle()
    after = [(e["type"], e.get("cause"), e.get("value")) for e in app.drain()]
    assert after == [
        ("ChannelHangupRequest", 32, None),
        ("ChannelVarset", None, ""),
        ("ChannelLeftBridge", None, None),
        ("StasisEnd", None, None),
        ("ChannelVarset", None, "SUCCESS"),
        ("ChannelDestroyed", 16, None),
        ("BridgeDestroyed", None, None),
    ]
    assert app.events[-2]["cause_txt"] == "Normal Clearing"
    assert app.events[-2]["channel"]["dialplan"]["app_name"] == "AppDial2"
    assert await app.call("GET", "/channels") == (200, [])


async def test_app_hangs_up_the_caller(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim, app, call, caller_id = await start_call(make_sim, make_app)
    assert await app.call("DELETE", f"/channels/{caller_id}") == (204, "")
    # The channel is already gone for ARI, before its events arrive.
    assert await app.call("POST", f"/channels/{caller_id}/answer") == (
        404,
        {"message": "Channel not found"},
    )
    await asyncio.wait_for(call.ended(), 2)
    await app.settle()
    kinds = [(e["type"], e.get("cause"), e.get("soft")) for e in app.drain()]
    assert kinds == [("ChannelHangupRequest", 32, True), ("StasisEnd", None, None)]
    assert not call.caller.connected


async def test_no_websocket_means_stasis_failed(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim, connect=False)
    call = await sim.place_call()
    assert call.stasis_status == "FAILED"
    await asyncio.wait_for(call.ended(), 1)
    await app.connect()
    await asyncio.sleep(0.1)
    assert app.events == []
    assert await app.call("GET", "/channels") == (200, [])


async def test_continue_to_the_dialplan(
    make_sim: SimFactory, make_app: AppFactory, make_peer: PeerFactory
) -> None:
    sim, app, call, caller_id = await start_call(make_sim, make_app, dialplan_s=0.8)
    peer = await make_peer()
    bridge_id, em = await bridge_with_media(app, caller_id, peer)
    await app.settle()
    app.drain()
    status, _ = await app.call(
        "POST", f"/channels/{caller_id}/continue", context="after-stasis", extension="200",
        priority="1",
    )
    assert status == 204
    assert (await app.call("POST", f"/channels/{caller_id}/answer"))[0] == 409
    await app.settle()
    kinds = [(e["type"], e["channel"]["id"] == caller_id) for e in app.drain()]
    assert kinds == [("ChannelVarset", True), ("ChannelLeftBridge", True), ("StasisEnd", True)]
    assert call.continued_to is not None
    assert (call.continued_to.context, call.continued_to.extension) == ("after-stasis", "200")
    assert call.continued_to.priority == 1
    status, ch = await app.call("GET", f"/channels/{caller_id}")
    assert status == 200 and ch["dialplan"]["context"] == "after-stasis"
    await asyncio.wait_for(call.ended(), 2)
    await app.settle()
    assert app.drain() == [], "nothing more about the caller after StasisEnd"
    assert (await app.call("GET", f"/channels/{em['id']}"))[0] == 200


async def test_caller_dtmf(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim, app, call, caller_id = await start_call(make_sim, make_app)
    await call.caller.send_dtmf("12#")
    events = [await app.next_event("ChannelDtmfReceived") for _ in range(3)]
    assert [e["digit"] for e in events] == ["1", "2", "#"]
    assert {e["duration_ms"] for e in events} == {100}
    assert list(events[0])[:4] == ["type", "timestamp", "digit", "duration_ms"]
    times = [t for t, _ in call.caller.dtmf_sent]
    assert all(0.3 < b - a < 0.42 for a, b in zip(times, times[1:], strict=False))


async def test_bridge_membership_errors_and_destroy(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim, app, call, caller_id = await start_call(make_sim, make_app)
    _, bridge = await app.call("POST", "/bridges", type="mixing")
    bid = bridge["id"]
    assert await app.call("POST", f"/bridges/{bid}/addChannel") == (
        400, {"message": "Missing parameter channel"},
    )
    assert await app.call("POST", f"/bridges/{bid}/addChannel", channel="nope") == (
        400, {"message": "Channel not found"},
    )
    assert await app.call("POST", "/bridges/nope/addChannel", channel=caller_id) == (
        404, {"message": "Bridge not found"},
    )
    assert await app.call("POST", f"/bridges/{bid}/removeChannel", channel=caller_id) == (
        422, {"message": "Channel not in this bridge"},
    )
    assert await app.call("POST", f"/bridges/{bid}/addChannel", channel=call.peer_channel_id) == (
        422, {"message": "Channel not in Stasis application"},
    )
    assert (await app.call("POST", f"/bridges/{bid}/addChannel", channel=caller_id))[0] == 204
    assert await app.call("DELETE", f"/bridges/{bid}") == (204, "")
    assert await app.call("GET", f"/bridges/{bid}") == (404, {"message": "Bridge not found"})
    await app.settle()
    kinds = [e["type"] for e in app.drain()]
    assert kinds[-2:] == ["ChannelLeftBridge", "BridgeDestroyed"]
    assert await app.call("DELETE", f"/channels/{caller_id}") == (204, "")
    await call.ended()
    assert call.hangup_cause == 32
    assert call.stasis_status == "SUCCESS"


async def test_muted_member_is_not_heard(
    make_sim: SimFactory, make_app: AppFactory, make_peer: PeerFactory
) -> None:
    sim, app, call, caller_id = await start_call(make_sim, make_app)
    peer = await make_peer()
    status, bridge = await app.call("POST", "/bridges", type="mixing")
    status, em = await app.call(
        "POST", "/channels/externalMedia", app="callwright", external_host=peer.address,
        format="ulaw",
    )
    await app.next_event("StasisStart")
    for cid, mute in ((caller_id, "true"), (em["id"], "false")):
        path = f"/bridges/{bridge['id']}/addChannel"
        assert (await app.call("POST", path, channel=cid, mute=mute))[0] == 204
    await call.caller.say(tone(440, 100))
    await asyncio.sleep(0.05)
    assert peer.packets == []
