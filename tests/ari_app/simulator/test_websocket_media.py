"""ExternalMedia over WebSocket (server mode): the app connects to /media/<connection id>."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import numpy as np
import pytest

from ari_app.simulator.calls import SimulatedCall
from tests.ari_app.simulator.conftest import AppFactory, AppSide, SimFactory
from tests.ari_app.simulator.media_helpers import dominant_hz, tone


async def create(app: AppSide, fmt: str = "slin16", **extra: str) -> dict[str, Any]:
    status, em = await app.call(
        "POST", "/channels/externalMedia", app="callwright", format=fmt, transport="websocket",
        encapsulation="none", connection_type="server", **extra,
    )
    assert status == 200
    return em  # type: ignore[no-any-return]


async def connect_media(
    app: AppSide, em: dict[str, Any]
) -> aiohttp.ClientWebSocketResponse:
    conn_id = em["channelvars"]["MEDIA_WEBSOCKET_CONNECTION_ID"]
    async with aiohttp.ClientSession() as probe:  # no credentials needed
        del probe
    return await app.session.ws_connect(
        f"{app.sim.ari_url}/media/{conn_id}", protocols=("media",), headers={"Authorization": ""}
    )


async def bridged(
    make_sim: SimFactory, make_app: AppFactory, fmt: str = "slin16", **extra: str
) -> tuple[AppSide, SimulatedCall, dict[str, Any], aiohttp.ClientWebSocketResponse]:
    sim = await make_sim()
    app = await make_app(sim)
    call = await sim.place_call()
    caller_id = (await app.next_event("StasisStart"))["channel"]["id"]
    em = await create(app, fmt, **extra)
    ws = await connect_media(app, em)
    await app.next_event("StasisStart")
    _, bridge = await app.call("POST", "/bridges", type="mixing")
    for cid in (caller_id, em["id"]):
        assert (await app.call("POST", f"/bridges/{bridge['id']}/addChannel", channel=cid))[
            0
        ] == 204
    return app, call, em, ws


async def test_stasis_only_after_the_media_connection(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    em = await create(app, "ulaw")
    assert em["name"].startswith("WebSocket/INCOMING/0x")
    assert em["channelvars"]["MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE"] == "160"
    dial = await app.next_event()
    assert (dial["type"], dial["dialstatus"], dial["dialstring"]) == ("Dial", "", "INCOMING")
    _, bridge = await app.call("POST", "/bridges", type="mixing")
    assert (await app.call("POST", f"/bridges/{bridge['id']}/addChannel", channel=em["id"]))[
        0
    ] == 422
    ws = await connect_media(app, em)
    assert ws.protocol == "media"
    start = await ws.receive_str()
    assert start == (
        f"MEDIA_START connection_id:{em['channelvars']['MEDIA_WEBSOCKET_CONNECTION_ID']} "
        f"channel:{em['name']} channel_id:{em['id']} format:ulaw optimal_frame_size:160 ptime:20"
    )
    kinds = [(await app.next_event())["type"] for _ in range(4)]
    assert kinds == ["ChannelStateChange", "Dial", "ChannelVarset", "StasisStart"]
    assert await app.call("DELETE", f"/channels/{em['id']}") == (204, "")
    closed = await ws.receive()
    assert closed.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1000


async def test_delete_before_connect(make_sim: SimFactory, make_app: AppFactory) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    em = await create(app)
    await app.next_event("Dial")
    assert await app.call("DELETE", f"/channels/{em['id']}") == (204, "")
    await app.settle()
    assert [(e["type"], e.get("dialstatus")) for e in app.drain()] == [
        ("ChannelHangupRequest", None),
        ("Dial", "NOANSWER"),
        ("ChannelDestroyed", None),
    ]


async def test_audio_both_ways_and_commands(make_sim: SimFactory, make_app: AppFactory) -> None:
    app, call, em, ws = await bridged(make_sim, make_app, "slin16", transport_data="f(json)")
    start = json.loads(await ws.receive_str())
    assert start["event"] == "MEDIA_START" and start["optimal_frame_size"] == 640
    await call.caller.say(tone(440, 100))
    frames = [await asyncio.wait_for(ws.receive_bytes(), 1) for _ in range(5)]
    assert {len(f) for f in frames} == {640}
    assert abs(dominant_hz(b"".join(frames), 16000) - 440) < 20
    back = np.repeat(np.frombuffer(tone(600, 300), "<i2"), 2).astype("<i2").tobytes()
    await ws.send_bytes(back)  # one message: split into frames and played at 20 ms
    await ws.send_str(json.dumps({"command": "MARK_MEDIA", "correlation_id": "m1"}))
    await ws.send_str(json.dumps({"command": "GET_STATUS"}))
    status = json.loads(await ws.receive_str())
    assert status["event"] == "STATUS" and status["queue_length"] > 5
    mark = json.loads(await asyncio.wait_for(ws.receive_str(), 2))
    assert mark == {"event": "MEDIA_MARK_PROCESSED", "channel_id": em["id"], "correlation_id": "m1"}
    await call.caller.wait_until_quiet(100, timeout=2)
    assert abs(dominant_hz(call.caller.heard_pcm()) - 600) < 25
    segments = call.caller.heard_segments()
    assert segments and 0.25 < segments[0].duration < 0.36, "played in real time"
    call.caller.send_dtmf("7")
    while True:
        msg = json.loads(await asyncio.wait_for(ws.receive_str(), 2))
        if msg["event"] == "DTMF_END":
            assert msg == {"event": "DTMF_END", "channel_id": em["id"], "digit": "7"}
            break
    app.drain()
    await ws.send_str(json.dumps({"command": "HANGUP"}))
    closed = await ws.receive()
    assert closed.type == aiohttp.WSMsgType.CLOSE
    await app.settle()
    events = app.drain()
    assert [e["type"] for e in events] == [
        "ChannelHangupRequest", "ChannelVarset", "ChannelLeftBridge", "StasisEnd",
        "ChannelVarset", "ChannelDestroyed",
    ]
    assert events[0]["cause"] == 16 and "soft" not in events[0]


async def test_flow_control(make_sim: SimFactory, make_app: AppFactory) -> None:
    app, call, em, ws = await bridged(make_sim, make_app, "slin16")
    await ws.receive_str()  # MEDIA_START
    for _ in range(15):
        await ws.send_bytes(bytes(48000))
    await ws.send_str("GET_STATUS")
    assert await ws.receive_str() == "MEDIA_XOFF"
    status = await ws.receive_str()
    assert "queue_length:1050 " in status and "queue_full:true" in status
    await ws.send_str("FLUSH_MEDIA")
    assert await asyncio.wait_for(ws.receive_str(), 1) == "MEDIA_XON"


@pytest.mark.allow_loop_block  # an 80 kB message is masked and parsed in one go
async def test_oversized_message_hangs_up(make_sim: SimFactory, make_app: AppFactory) -> None:
    app, call, em, ws = await bridged(make_sim, make_app, "slin16")
    await ws.receive_str()
    await app.settle()
    app.drain()
    await ws.send_bytes(bytes(80000))
    closed = await ws.receive()
    assert closed.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1009
    await app.settle()
    events = app.drain()
    assert events[0]["type"] == "ChannelHangupRequest"
    assert (events[0]["cause"], events[0]["tech_cause"]) == (38, 1001)
    assert events[-1]["type"] == "ChannelDestroyed" and events[-1]["cause"] == 38
