"""The simulator and the ARI client against Asterisk 22's own description of ARI.

(a) every route the simulator serves exists in the Swagger files, same method and path;
(b) every parameter a simulator handler reads is declared for that operation;
(c) a missing required parameter is a 400 for every implemented operation that has one;
(d) every route the client uses (ari_app.ari.routes.CLIENT_ROUTES) exists, with its parameters.
Then replays of recorded scenarios: the events the simulator sends, and the errors it answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ari_app.ari.routes import CLIENT_ROUTES
from ari_app.simulator.calls import StasisReentry
from ari_app.simulator.rest import NOT_IMPLEMENTED_MESSAGE
from ari_app.simulator.server import NOT_IMPLEMENTED, PbxSimulator, implemented_routes
from ari_app.simulator.spec import AriSpec
from tests.ari_app.simulator.media_helpers import RtpPeer
from tests.ari_app.simulator.replay import Replayer, load, normalise


@pytest.fixture
def swagger(asterisk22_dir: Path) -> AriSpec:
    return AriSpec.from_swagger_dir(asterisk22_dir / "asterisk-ari")


def test_builtin_table_is_the_swagger_spec(swagger: AriSpec) -> None:
    builtin = AriSpec.builtin()
    assert {op.key: op for op in builtin.operations} == {op.key: op for op in swagger.operations}


def test_a_served_routes_exist_in_the_spec(swagger: AriSpec) -> None:
    for method, path in implemented_routes().routes:
        assert swagger.has(method, path), f"{method} {path} is not an ARI operation"


def test_b_read_parameters_are_declared(swagger: AriSpec) -> None:
    for (method, path), route in implemented_routes().routes.items():
        op = swagger.get(method, path)
        declared = {p.name for p in op.params if p.location != "path"}
        assert route.reads <= declared, f"{method} {path} reads {route.reads - declared}"


def test_d_client_routes_exist_in_the_spec(swagger: AriSpec) -> None:
    for use in CLIENT_ROUTES:
        assert swagger.has(use.method, use.path), f"client uses unknown {use.method} {use.path}"
        op = swagger.get(use.method, use.path)
        declared = {p.name for p in op.params if p.location != "path"}
        assert set(use.params) <= declared, f"{use.method} {use.path}: {use.params}"


def test_not_implemented_routes_are_listed_and_real(swagger: AriSpec) -> None:
    served = set(implemented_routes().routes)
    assert set(NOT_IMPLEMENTED) == {op.key for op in swagger.operations} - served
    # The events websocket is served by the HTTP layer itself.
    assert ("GET", "/events") in NOT_IMPLEMENTED or ("GET", "/events") in served


@pytest.fixture
async def running() -> AsyncIterator[tuple[PbxSimulator, aiohttp.ClientSession]]:
    sim = PbxSimulator(username="ari", password="ari-secret")
    await sim.start()
    auth = aiohttp.encode_basic_auth("ari", "ari-secret")
    session = aiohttp.ClientSession(headers={"Authorization": auth})
    yield sim, session
    await session.close()
    await sim.stop()


async def test_not_implemented_routes_answer_501(
    running: tuple[PbxSimulator, aiohttp.ClientSession],
) -> None:
    sim, session = running
    for method, path in NOT_IMPLEMENTED:
        if path == "/events":
            continue
        concrete = "/".join("x1" if s.startswith("{") else s for s in path.split("/"))
        async with session.request(method, sim.ari_url + "/ari" + concrete) as resp:
            assert resp.status == 501, f"{method} {path}"
            assert (await resp.json()) == {"message": NOT_IMPLEMENTED_MESSAGE}


SAMPLES = {
    "endpoint": "Local/s@caller",
    "app": "voicebot",
    "format": "ulaw",
    "variable": "X",
    "external_host": "127.0.0.1:40999",
}


async def test_c_missing_required_parameter_is_400(
    swagger: AriSpec, running: tuple[PbxSimulator, aiohttp.ClientSession]
) -> None:
    sim, session = running
    base = sim.ari_url + "/ari"
    ws = await session.ws_connect(base + "/events", params={"app": "voicebot"})
    call = await sim.place_call(app="voicebot")
    async with session.post(base + "/bridges") as resp:
        bridge_id = (await resp.json())["id"]
    samples = {
        **SAMPLES,
        "channel": call.channel_id,
        "eventSource": f"channel:{call.channel_id}",
    }
    path_values = {
        "channelId": call.channel_id,
        "bridgeId": bridge_id,
        "applicationName": "voicebot",
    }
    checked = []
    for key in [*implemented_routes().routes, ("GET", "/events")]:
        op = swagger.get(*key)
        required = op.required_query()
        for missing in required:
            values = dict(path_values)
            if op.nickname == "originateWithId":
                values["channelId"] = "brand-new-id"
            path = "/".join(
                values[s[1:-1]] if s.startswith("{") else s for s in op.path.split("/")
            )
            params = {p: samples[p] for p in required if p != missing}
            async with session.request(op.method, base + path, params=params) as resp:
                assert resp.status == 400, f"{op.method} {op.path} without {missing}"
            checked.append((op.nickname, missing))
    assert len(checked) >= 10
    await ws.close()


async def replay(
    asterisk22_dir: Path, name: str, skip: frozenset[int] = frozenset(), wait: bool = True,
    *, dialplan_s: float = 5.0, time_scale: float = 0.0,
) -> Any:
    # dialplan_s: the lab's [after-stasis] played a 5 s file before hanging up.
    # [fr-crash-back] (app-gone.jsonl) waits 1 s and runs Stasis(factcrash,back).
    sim = PbxSimulator(
        username="ari", password="ari-secret", dialplan_s=dialplan_s,
        stasis_contexts={"fr-crash-back": StasisReentry("factcrash", ("back",), 1.0)},
    )
    await sim.start()
    peer = await RtpPeer.open()
    auth = aiohttp.encode_basic_auth("ari", "ari-secret")
    session = aiohttp.ClientSession(headers={"Authorization": auth})
    replayer = Replayer(sim, session, peer)
    try:
        lines = load(asterisk22_dir / "asterisk-facts" / name)
        return await replayer.run(lines, skip, wait, time_scale)
    finally:
        await replayer.close()
        await session.close()
        peer.close()
        await sim.stop()


@pytest.mark.parametrize(
    "name",
    ["inbound-externalmedia-rtp.jsonl", "app-hangs-up.jsonl", "continue-to-dialplan.jsonl"],
)
async def test_replay_event_sequence(asterisk22_dir: Path, name: str) -> None:
    result = await replay(asterisk22_dir, name)
    assert normalise(result.simulated) == normalise(result.recorded)
    for seq, recorded, got, _rb, _b in result.statuses:
        assert got == recorded, f"request {seq}"


async def test_replay_errors(asterisk22_dir: Path) -> None:
    # 65-68: a snoop channel and its recording (not simulated).
    skip = frozenset({65, 66, 67, 68})
    result = await replay(asterisk22_dir, "errors.jsonl", skip, wait=False)
    assert len(result.statuses) >= 60
    for seq, recorded, got, recorded_body, body in result.statuses:
        assert got == recorded, f"request {seq}: {got} {body!r}, Asterisk said {recorded}"
        if isinstance(recorded_body, dict) and set(recorded_body) <= {"message", "error"}:
            assert body == recorded_body, f"request {seq}"
        elif isinstance(recorded_body, str) and recorded_body.startswith("<!DOCTYPE"):
            assert body == recorded_body, f"request {seq}"


def listed(body: Any) -> Any:
    """What a GET answered, in a form that does not depend on order or on the clock: an
    application's channel and bridge ids, channels' ids and states, bridges' ids and members."""
    if isinstance(body, dict) and "channel_ids" in body:
        return {"channels": sorted(body["channel_ids"]), "bridges": sorted(body["bridge_ids"])}
    if isinstance(body, dict) and "technology" in body:
        return {"bridge": body["id"], "members": sorted(body["channels"])}
    if isinstance(body, dict) and "state" in body:
        return {"channel": body["id"], "state": body["state"]}
    if isinstance(body, list):
        return sorted((listed(item) for item in body), key=repr)
    return body


async def test_replay_app_gone(asterisk22_dir: Path) -> None:
    """outbound-ami/app-gone.jsonl: the app's websocket drops twice; calls, bridges and
    ExternalMedia channels stay, a reconnect delivers nothing, the caller that hung up in the gap
    is simply 404 while its ExternalMedia channel and bridge stay until the app deletes them."""
    result = await replay(asterisk22_dir, "outbound-ami/app-gone.jsonl")
    assert normalise(result.simulated) == normalise(result.recorded)
    for seq, recorded, got, _rb, body in result.statuses:
        assert got == recorded, f"request {seq}: {got} {body!r}"
    # play (23) is not simulated; everything else was sent.
    assert result.skipped == [23]
    compared = 0
    for seq, (recorded_body, body) in result.bodies.items():
        if seq in (1, 15, 37):  # the websocket upgrades
            continue
        if isinstance(recorded_body, dict) and "value" in recorded_body:
            continue  # BRIDGEPEER names the ExternalMedia channel's address (ours differs)
        assert listed(body) == listed(recorded_body), f"request {seq}"
        compared += 1
    assert compared >= 15


async def test_replay_shutdown_continue(asterisk22_dir: Path) -> None:
    """outbound-ami/shutdown-continue.jsonl: /continue while bridged with ExternalMedia leaves
    the bridge and the ExternalMedia channel in place; the caller leaves our app for good."""
    # [fr-after] played a 0.5 s beep and waited 2 s before hanging up. Played at half speed (the
    # caller's end in the dialplan falls between the +0.5 s and the +4 s requests, as recorded).
    result = await replay(asterisk22_dir, "outbound-ami/shutdown-continue.jsonl",
                          dialplan_s=1.25, time_scale=0.5)
    assert normalise(result.simulated) == normalise(result.recorded)
    for seq, recorded, got, _rb, body in result.statuses:
        if seq == 9:  # play: not simulated (501), Asterisk said 409
            continue
        assert got == recorded, f"request {seq}: {got} {body!r}"
    assert result.skipped == [9]
    for seq, (recorded_body, body) in result.bodies.items():
        if seq == 1:
            continue
        if isinstance(recorded_body, dict) and recorded_body.get("state") == "Up":
            # the continued caller runs [fr-after] now; GET shows where it is in the dialplan
            assert body["dialplan"]["context"] == recorded_body["dialplan"]["context"], seq
        assert listed(body) == listed(recorded_body), f"request {seq}"
