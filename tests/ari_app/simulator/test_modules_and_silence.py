"""What ``callwright doctor`` needs from the simulator: GET /asterisk/modules (the recorded
``module show``), a channel technology that is not loaded, and silence played to a channel."""

from __future__ import annotations

import asyncio
import re

from ari_app.simulator.modules_table import LOADED
from tests.conftest import ASTERISK22

from .conftest import AppFactory, PeerFactory, SimFactory

MODULE_SHOW = ASTERISK22 / "asterisk-facts" / "modules-loaded.txt"
_ROW = re.compile(r"^(\S+)\s+(.*?)\s+(\d+)\s+(Running)\s+(\S+)$")


def test_the_module_table_is_the_recorded_module_show() -> None:
    lines = MODULE_SHOW.read_text().splitlines()
    assert lines[-1] == f"{len(LOADED)} modules loaded"
    recorded = []
    for line in lines[1:-1]:
        match = _ROW.match(line)
        assert match, line
        name, description, use, _, support = match.groups()
        recorded.append((name, description, int(use), support))
    assert recorded == list(LOADED)


async def test_modules_are_listed_and_found_by_name(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    app = await make_app(await make_sim(), connect=False)
    status, modules = await app.call("GET", "/asterisk/modules")
    assert status == 200 and len(modules) == 250
    by_name = {m["name"]: m for m in modules}
    assert by_name["chan_rtp.so"] == {
        "name": "chan_rtp.so", "description": "RTP Media Channel", "use_count": 0,
        "status": "Running", "support_level": "core",
    }
    assert {"res_ari.so", "res_stasis.so", "chan_audiosocket.so", "chan_websocket.so",
            "res_timing_timerfd.so", "acl"} <= set(by_name)
    assert await app.call("GET", "/asterisk/modules/res_ari.so") == (200, by_name["res_ari.so"])
    assert await app.call("GET", "/asterisk/modules/chan_pjsip.so") == (
        404, {"message": "Module could not be found in running modules"})


async def test_an_unloaded_channel_module_fails_external_media_like_an_unknown_technology(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    del sim.ctx.modules["chan_rtp.so"]
    assert await app.call("POST", "/channels/externalMedia", app="callwright",
                          external_host="127.0.0.1:40000", format="ulaw") == (
        500, {"error": "Allocation failed"})
    _, modules = await app.call("GET", "/asterisk/modules")
    assert "chan_rtp.so" not in {m["name"] for m in modules}
    del sim.ctx.modules["chan_audiosocket.so"]
    assert (await app.call("POST", "/channels/externalMedia", app="callwright",
                           external_host="127.0.0.1:40000", format="slin16",
                           encapsulation="audiosocket", transport="tcp",
                           data="19456d8c-674e-42c5-b7be-0563d79cd2ce"))[0] == 500


async def test_silence_makes_a_lone_external_media_channel_send_rtp(
    make_sim: SimFactory, make_app: AppFactory, make_peer: PeerFactory
) -> None:
    app = await make_app(await make_sim())
    peer = await make_peer()
    status, ch = await app.call("POST", "/channels/externalMedia", app="callwright",
                                external_host=peer.address, format="ulaw")
    assert status == 200
    await app.next_event("StasisStart")
    await asyncio.sleep(0.3)
    assert peer.packets == []  # alone, in no bridge, with nobody talking: nothing is sent
    assert await app.call("POST", f"/channels/{ch['id']}/silence") == (204, "")
    await asyncio.sleep(0.5)
    got = list(peer.packets)
    assert 15 <= len(got) <= 30  # one every 20 ms
    assert {r.packet.payload_type for r in got} == {0}
    assert all(r.packet.payload == b"\xff" * 160 for r in got)  # µ-law silence
    seqs = [r.packet.sequence for r in got]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(len(seqs))]
    assert await app.call("DELETE", f"/channels/{ch['id']}/silence") == (204, "")
    await asyncio.sleep(0.05)
    count = len(peer.packets)
    await asyncio.sleep(0.2)
    assert len(peer.packets) == count  # stopped

    assert await app.call("POST", f"/channels/{ch['id']}/silence") == (204, "")
    assert await app.call("DELETE", f"/channels/{ch['id']}") == (204, "")
    await app.next_event("ChannelDestroyed")
    count = len(peer.packets)
    await asyncio.sleep(0.2)
    assert len(peer.packets) == count  # the channel's end stops it too


async def test_silence_errors(make_sim: SimFactory, make_app: AppFactory) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    assert await app.call("POST", "/channels/nope/silence") == (
        404, {"message": "Channel not found"})
    await sim.place_call()
    caller = (await app.next_event("StasisStart"))["channel"]["id"]
    assert await app.call("POST", f"/channels/{caller}/continue") == (204, "")
    await app.next_event("StasisEnd")
    assert await app.call("POST", f"/channels/{caller}/silence") == (
        409, {"message": "Channel not in Stasis application"})
    assert await app.call("DELETE", f"/channels/{caller}/silence") == (
        409, {"message": "Channel not in Stasis application"})
