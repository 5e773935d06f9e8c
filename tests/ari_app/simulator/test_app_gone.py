"""A Stasis app that dies (outbound-ami/app-gone.md): what the simulator must not be kinder about.

The event and REST side is replayed from the recording in tests/ari_app/test_spec_conformance.py;
these are the facts a replay cannot see: media, and the app's registration.
"""

from __future__ import annotations

import asyncio
import socket

from tests.ari_app.simulator.conftest import AppFactory, AppSide, PeerFactory, SimFactory
from tests.ari_app.simulator.media_helpers import tone
from tests.ari_app.simulator.test_inbound_call import bridge_with_media, start_call


def abort(app: AppSide) -> None:
    """The app's process dies: its events websocket drops with no close frame."""
    assert app.ws is not None
    sock = app.ws.get_extra_info("socket")
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)


async def test_media_flows_while_no_app_listens_and_the_caller_hears_silence(
    make_sim: SimFactory, make_app: AppFactory, make_peer: PeerFactory
) -> None:
    sim, app, call, caller_id = await start_call(make_sim, make_app)
    peer = await make_peer()
    bridge_id, em = await bridge_with_media(app, caller_id, peer)
    abort(app)
    await asyncio.sleep(0.2)
    assert not sim.hub.is_active("callwright")
    heard_before = len(call.caller.heard_frames())
    before = len(peer.packets)
    await call.caller.say(tone(440, 400))
    await asyncio.sleep(0.1)
    # Asterisk goes on sending the caller's audio to the ExternalMedia peer (50 packets/s).
    assert len(peer.packets) - before >= 18
    # Nobody sends the caller anything: silence, no music on hold, no hang-up.
    assert len(call.caller.heard_frames()) == heard_before
    assert not call.is_ended
    owner = await make_app(sim, connect=False)
    status, info = await owner.call("GET", "/applications/callwright")
    assert status == 200
    assert sorted(info["channel_ids"]) == sorted([caller_id, em["id"]])
    assert info["bridge_ids"] == [bridge_id]


async def test_a_caller_gone_in_the_gap_leaves_its_media_channel_and_bridge(
    make_sim: SimFactory, make_app: AppFactory, make_peer: PeerFactory
) -> None:
    sim, app, call, caller_id = await start_call(make_sim, make_app)
    peer = await make_peer()
    bridge_id, em = await bridge_with_media(app, caller_id, peer)
    abort(app)
    await asyncio.sleep(0.1)
    await call.caller.hangup()
    before = len(peer.packets)
    await asyncio.sleep(0.5)
    assert len(peer.packets) == before, "an ExternalMedia channel alone in a bridge sends nothing"
    back = await make_app(sim)
    await asyncio.sleep(0.3)
    assert back.events == [], "a reconnect delivers no events at all"
    assert (await back.call("GET", f"/channels/{caller_id}"))[0] == 404
    status, info = await back.call("GET", "/applications/callwright")
    assert (info["channel_ids"], info["bridge_ids"]) == ([em["id"]], [bridge_id])
    # Nothing in the PBX removes them: still there a while later.
    await asyncio.sleep(0.5)
    assert (await back.call("GET", f"/channels/{em['id']}"))[1]["state"] == "Up"
    assert (await back.call("GET", f"/bridges/{bridge_id}"))[1]["channels"] == [em["id"]]
    assert (await back.call("DELETE", f"/channels/{em['id']}"))[0] == 204
    assert (await back.call("DELETE", f"/bridges/{bridge_id}"))[0] == 204
    await back.settle()
    status, info = await back.call("GET", "/applications/callwright")
    assert (info["channel_ids"], info["bridge_ids"]) == ([], [])


async def test_a_continued_caller_leaves_the_bridge_and_media_channel_behind(
    make_sim: SimFactory, make_app: AppFactory, make_peer: PeerFactory
) -> None:
    sim, app, call, caller_id = await start_call(make_sim, make_app, dialplan_s=0.3)
    peer = await make_peer()
    bridge_id, em = await bridge_with_media(app, caller_id, peer)
    await app.settle()
    app.drain()
    status, _ = await app.call("POST", f"/channels/{caller_id}/continue", context="fallback",
                               extension="s", priority="1")
    assert status == 204
    await call.ended()
    await app.settle()
    kinds = [(e["type"], e["channel"]["id"]) for e in app.drain() if "channel" in e]
    assert [k for k, cid in kinds if cid == caller_id] == [
        "ChannelVarset", "ChannelLeftBridge", "StasisEnd",
    ], "and nothing about the caller after StasisEnd, not even its hang-up"
    assert (await app.call("GET", f"/bridges/{bridge_id}"))[1]["channels"] == [em["id"]]
    status, info = await app.call("GET", "/applications/callwright")
    assert (info["channel_ids"], info["bridge_ids"]) == ([em["id"]], [bridge_id])
