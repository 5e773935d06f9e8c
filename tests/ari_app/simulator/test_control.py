"""The /_sim control API, as another process would use it."""

from __future__ import annotations

import asyncio
import base64
import io
import wave

import aiohttp

from tests.ari_app.simulator.conftest import AppFactory, SimFactory
from tests.ari_app.simulator.media_helpers import tone


async def test_place_call_speak_and_hang_up(make_sim: SimFactory, make_app: AppFactory) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    auth = aiohttp.encode_basic_auth(sim.username, sim.password)
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as session:
        base = sim.ari_url + "/_sim"
        async with session.post(base + "/calls", json={"caller_name": "Bob"}) as resp:
            assert resp.status == 201
            call = await resp.json()
        event = await app.next_event("StasisStart")
        assert event["channel"]["id"] == call["channel_id"]
        assert event["channel"]["caller"]["name"] == "Bob"
        cid = call["channel_id"]
        pcm = base64.b64encode(tone(440, 100)).decode()
        async with session.post(f"{base}/calls/{cid}/say", json={"pcm_base64": pcm}) as resp:
            assert resp.status == 202
        async with session.post(f"{base}/calls/{cid}/dtmf", json={"digits": "5"}) as resp:
            assert resp.status == 202
        assert (await app.next_event("ChannelDtmfReceived"))["digit"] == "5"
        async with session.get(f"{base}/calls/{cid}/heard.wav") as resp:
            with wave.open(io.BytesIO(await resp.read())) as w:
                assert w.getframerate() == 8000
        async with session.post(f"{base}/calls/{cid}/hangup") as resp:
            assert resp.status == 204
        await app.next_event("StasisEnd")
        await asyncio.sleep(0.05)
        async with session.get(f"{base}/calls/{cid}") as resp:
            assert (await resp.json())["ended"] is True
        async with session.get(f"{base}/calls/nope") as resp:
            assert resp.status == 404


async def test_control_needs_credentials(make_sim: SimFactory) -> None:
    sim = await make_sim()
    async with aiohttp.ClientSession() as session:
        async with session.post(sim.ari_url + "/_sim/calls") as resp:
            assert resp.status == 401
