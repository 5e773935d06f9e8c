"""routes.CLIENT_ROUTES lists exactly what the client sends: every client call is made against a
recording server and each request must match a declared route with declared parameters."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp

from ari_app.ari.connection import AriEventStream
from ari_app.ari.events import AriEvent
from ari_app.ari.rest import AriRestClient
from ari_app.ari.routes import CLIENT_ROUTES, RouteUse

from .conftest import ServerFactory
from .fake_ari import APPLICATION, BRIDGE, CHANNEL, INFO, PASSWORD, USER, Canned, FakeAri
from .fake_events import EventServer


def _matches(route: RouteUse, method: str, path: str) -> bool:
    pattern = re.sub(r"\{[^}]+\}", "[^/]+", route.path)
    return route.method == method and re.fullmatch(pattern, path) is not None


def _routes_for(method: str, path: str) -> list[RouteUse]:
    # A literal path beats a template: POST /channels/create is not /channels/{channelId}.
    hits = [r for r in CLIENT_ROUTES if _matches(r, method, path)]
    literal = [r for r in hits if "{" not in r.path]
    return literal or hits


def _fake_with_every_route() -> FakeAri:
    fake = FakeAri()
    ok = Canned(204)
    for method, path, answer in [
        ("GET", "/asterisk/info", Canned(200, INFO)),
        ("GET", "/asterisk/ping", Canned(200, {"asterisk_id": "x", "ping": "pong",
                                               "timestamp": "2026-11-22T05:44:16.180+0000"})),
        ("GET", "/asterisk/modules", Canned(200, [{"name": "chan_rtp.so", "status": "Running"}])),
        ("GET", "/applications/voicebot", Canned(200, APPLICATION)),
        ("GET", "/channels", Canned(200, [CHANNEL])),
        ("POST", "/channels", Canned(200, CHANNEL)),
        ("POST", "/channels/create", Canned(200, CHANNEL)),
        ("POST", "/channels/externalMedia", Canned(200, CHANNEL)),
        ("GET", "/channels/c1", Canned(200, CHANNEL)),
        ("DELETE", "/channels/c1", ok),
        ("POST", "/channels/c1/answer", ok),
        ("POST", "/channels/c1/continue", ok),
        ("POST", "/channels/c1/redirect", ok),
        ("POST", "/channels/c1/dtmf", ok),
        ("GET", "/channels/c1/variable", Canned(200, {"value": "v"})),
        ("POST", "/channels/c1/variable", ok),
        ("POST", "/channels/c1/dial", ok),
        ("POST", "/channels/c1/silence", ok),
        ("POST", "/channels/c1/snoop", Canned(200, CHANNEL)),
        ("GET", "/bridges", Canned(200, [BRIDGE])),
        ("POST", "/bridges", Canned(200, BRIDGE)),
        ("GET", "/bridges/b1", Canned(200, BRIDGE)),
        ("DELETE", "/bridges/b1", ok),
        ("POST", "/bridges/b1/addChannel", ok),
        ("POST", "/bridges/b1/removeChannel", ok),
    ]:
        fake.on(method, "/ari" + path, answer)
    return fake


async def _use_every_call(client: AriRestClient) -> None:
    """Every public call with every optional parameter set."""
    await client.get_info()
    await client.ping()
    await client.list_modules()
    await client.get_application("voicebot")
    await client.list_channels()
    await client.get_channel("c1")
    await client.answer("c1")
    await client.hangup("c1", reason="normal")
    await client.continue_in_dialplan("c1", "ctx", "200", 1, label="l")
    await client.redirect("c1", "PJSIP/200")
    await client.send_dtmf("c1", "1", before_ms=1, between_ms=1, duration_ms=100, after_ms=1)
    await client.get_variable("c1", "X")
    await client.set_variable("c1", "X", "1")
    await client.external_media("voicebot", "127.0.0.1:1", "ulaw", connection_type="client",
                                direction="both", data="d", channel_id="m1", transport_data="t",
                                variables={"A": "1"})
    await client.originate("Local/s@c", app="voicebot", app_args=["a"], caller_id="x",
                           timeout_s=30, channel_id="o1", other_channel_id="o2",
                           variables={"A": "1"}, context="c", extension="s", priority=1)
    await client.create_channel("Local/s@c", "voicebot", app_args="a,b", channel_id="n1",
                                other_channel_id="n2", originator="c1", formats="ulaw",
                                variables={"A": "1"})
    await client.dial("c1", caller="c2", timeout_s=30)
    await client.start_silence("c1")
    await client.snoop("c1", "voicebot", spy="both", whisper="none", app_args=["s"],
                       snoop_id="s1")
    await client.list_bridges()
    await client.get_bridge("b1")
    await client.create_bridge("mixing", name="n", bridge_id="b1")
    await client.add_channel("b1", "c1", role="r", absorb_dtmf=False, mute=False,
                             inhibit_connected_line_updates=True)
    await client.add_channel_when_ready("b1", "c1")
    await client.remove_channel("b1", "c1")
    await client.destroy_bridge("b1")


async def test_every_request_is_a_declared_route(make_server: ServerFactory,
                                                 session: aiohttp.ClientSession) -> None:
    fake = _fake_with_every_route()
    rest_server = await make_server(fake.app())
    await _use_every_call(AriRestClient(session, rest_server.base_url, USER, PASSWORD))

    events = EventServer()
    ws_server = await make_server(events.app())

    async def ignore(event: AriEvent) -> None:
        return None

    stream = AriEventStream(session, ws_server.base_url, USER, PASSWORD, "voicebot",
                            on_event=ignore)
    await stream.start()
    await stream.stop()

    sent = [(r.method, r.path.removeprefix("/ari"), set(r.query)) for r in fake.requests]
    sent += [("GET", "/events", set(query)) for _, _, query, _ in events.handshakes]
    used: set[RouteUse] = set()
    for method, path, params in sent:
        routes = _routes_for(method, path)
        assert len(routes) == 1, f"{method} {path}: not declared once in CLIENT_ROUTES"
        assert params <= set(routes[0].params), (method, path, params - set(routes[0].params))
        used.add(routes[0])
    assert used == set(CLIENT_ROUTES), set(CLIENT_ROUTES) - used


def test_routes_exist_in_the_spec(asterisk22_dir: Path) -> None:
    spec: dict[tuple[str, str], set[str]] = {}
    for path in (asterisk22_dir / "asterisk-ari").glob("*.json"):
        data = json.loads(path.read_text())
        for api in data.get("apis", []):
            for op in api.get("operations", []):
                spec[(op["httpMethod"], api["path"])] = {
                    p["name"] for p in op.get("parameters", []) if p["paramType"] == "query"}
    for route in CLIENT_ROUTES:
        assert (route.method, route.path) in spec, route
        assert set(route.params) <= spec[(route.method, route.path)], route
