"""The events websocket: auth, app parameter, replacement, no buffering, app lifetime."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.ari_app.simulator.conftest import AppFactory, SimFactory


async def test_websocket_needs_credentials(make_sim: SimFactory) -> None:
    sim = await make_sim()
    async with aiohttp.ClientSession() as session:
        url = sim.ari_url + "/ari/events"
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await session.ws_connect(url, params={"app": "callwright"})
        assert err.value.status == 401
        ws = await session.ws_connect(
            url, params={"app": "callwright", "api_key": f"{sim.username}:{sim.password}"}
        )
        await ws.close()


@pytest.mark.parametrize("query", [{}, {"app": ""}])
async def test_missing_app_is_400_html(make_sim: SimFactory, query: dict[str, str]) -> None:
    sim = await make_sim()
    auth = aiohttp.encode_basic_auth(sim.username, sim.password)
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as session:
        headers = {"Upgrade": "websocket", "Connection": "Upgrade"}
        async with session.get(sim.ari_url + "/ari/events", params=query, headers=headers) as r:
            assert r.status == 400
            assert r.content_type == "text/html"
            assert "HTTP request is missing param: [app]" in await r.text()


async def test_second_connection_replaces_the_first(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    first = await make_app(sim)
    second = await make_app(sim)
    replaced = await first.next_event()
    assert list(replaced) == ["type", "timestamp", "application", "asterisk_id"]
    assert replaced["type"] == "ApplicationReplaced"
    await sim.place_call()
    await second.next_event("StasisStart")
    await asyncio.sleep(0.1)
    assert first.ws is not None and not first.ws.closed, "the old websocket is not closed"
    assert [e["type"] for e in first.events] == ["ApplicationReplaced"]


async def test_events_are_not_buffered_while_disconnected(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    call = await sim.place_call()
    caller_id = (await app.next_event("StasisStart"))["channel"]["id"]
    await app.close()
    await asyncio.sleep(0.05)
    # The app is kept (it has a channel) and REST still works.
    status, info = await app.call("GET", "/applications/callwright")
    assert status == 200 and info["channel_ids"] == [caller_id]
    assert await app.call("DELETE", f"/channels/{caller_id}") == (204, "")
    await call.ended()
    later = await make_app(sim)
    await asyncio.sleep(0.1)
    assert later.events == [], "missed events are not replayed"
    assert await later.call("GET", "/channels") == (200, [])


async def test_app_without_channels_is_forgotten(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    status, info = await app.call("GET", "/applications/callwright")
    assert status == 200
    assert list(info) == [
        "name", "channel_ids", "bridge_ids", "endpoint_ids", "device_names",
        "events_allowed", "events_disallowed",
    ]
    await app.close()
    await asyncio.sleep(0.05)
    assert await app.call("GET", "/applications/callwright") == (
        404,
        {"message": "Application not found"},
    )


async def test_subscribe_all_sees_other_apps_channels(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    watcher = await make_app(sim, app="watcher", connect=False)
    await watcher.connect(subscribeAll="true")
    await make_app(sim)
    await sim.place_call(app="callwright")
    event = await watcher.next_event("StasisStart")
    assert event["application"] == "watcher"
