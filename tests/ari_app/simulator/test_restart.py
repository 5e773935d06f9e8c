"""``sim.restart()``: what a client sees while Asterisk restarts."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tests.ari_app.simulator.conftest import AppFactory, SimFactory


async def poll(url: str, auth: str) -> str:
    try:
        async with aiohttp.ClientSession(headers={"Authorization": auth}) as session:
            async with session.get(url) as resp:
                body = await resp.text()
                return f"{resp.status} {resp.content_type} {body[:40]}"
    except aiohttp.ClientConnectionError:
        return "refused"


async def test_restart_sequence(make_sim: SimFactory, make_app: AppFactory) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    call = await sim.place_call()
    caller_id = (await app.next_event("StasisStart"))["channel"]["id"]
    _, bridge = await app.call("POST", "/bridges", type="mixing")
    await app.call("POST", f"/bridges/{bridge['id']}/addChannel", channel=caller_id)
    await app.settle()
    app.drain()
    auth = aiohttp.encode_basic_auth(sim.username, sim.password)
    url = sim.ari_url + "/ari/asterisk/info"
    restart = asyncio.get_running_loop().create_task(sim.restart(down_s=1.0))
    outcomes: list[str] = []
    start = time.monotonic()
    while not restart.done():
        outcome = await poll(url, auth)
        if not outcomes or outcomes[-1] != outcome:
            outcomes.append(outcome)
        await asyncio.sleep(0.02)
        assert time.monotonic() - start < 3
    assert app.ws is not None
    await asyncio.sleep(0.05)
    assert app.ws.closed and app.ws.close_code == 1006
    kinds = [(e["type"], e.get("cause"), e.get("soft")) for e in app.drain()]
    assert kinds == [
        ("ChannelHangupRequest", 4, True),
        ("ChannelLeftBridge", None, None),
        ("ChannelHangupRequest", 0, None),
        ("StasisEnd", None, None),
    ]
    states = [o.split(" ")[0] + (" html" if "text/html" in o else "") for o in outcomes]
    compact = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
    assert "503 html" in compact and "refused" in compact and "404 html" in compact
    assert compact.index("503 html") < compact.index("refused") < compact.index("404 html")
    assert any(o.startswith("503 application/json") and "not booted" in o for o in outcomes)
    assert (await poll(url, auth)).startswith("200")
    assert call.is_ended
    fresh = await make_app(sim)
    assert await fresh.call("GET", "/channels") == (200, [])
    assert await fresh.call("GET", "/bridges") == (200, [])
    status, info = await fresh.call("GET", "/applications/callwright")
    assert status == 200 and info["channel_ids"] == [] and info["bridge_ids"] == []
    call2 = await sim.place_call()
    event = await fresh.next_event("StasisStart")
    assert event["channel"]["id"].endswith(".0"), "a restarted Asterisk counts from 0 again"
    assert call2.stasis_status == ""
