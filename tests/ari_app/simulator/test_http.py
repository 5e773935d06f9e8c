"""HTTP details: authentication, headers, bodies, 404/405/501."""

from __future__ import annotations

import aiohttp
import pytest

from ari_app.simulator.rest import AriRequest, UndeclaredParameter
from tests.ari_app.simulator.conftest import AppFactory, SimFactory


async def test_auth_failures_are_401(make_sim: SimFactory) -> None:
    sim = await make_sim()
    url = sim.ari_url + "/ari/asterisk/info"
    wrong = aiohttp.encode_basic_auth(sim.username, "wrong")
    async with aiohttp.ClientSession() as session:
        for headers, params in [({}, {}), ({"Authorization": wrong}, {}), ({}, {"api_key": "a:b"})]:
            async with session.get(url, headers=headers, params=params) as resp:
                assert resp.status == 401
                assert resp.headers["WWW-Authenticate"] == 'Basic realm="Asterisk REST Interface"'
                assert await resp.text() == '{"message":"Authentication required"}'
        key = f"{sim.username}:{sim.password}"
        async with session.get(url, params={"api_key": key}) as resp:
            assert resp.status == 200
            info = await resp.json()
            assert info["system"] == {"version": "22.10.1", "entity_id": "02:fc:00:00:00:01"}
            assert resp.headers["Server"] == "Asterisk/22.10.1"
            assert resp.headers["Cache-Control"] == "no-cache, no-store"
            assert not (await resp.text()).endswith("\n")


async def test_response_shapes(make_sim: SimFactory, make_app: AppFactory) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    await sim.place_call()
    cid = (await app.next_event("StasisStart"))["channel"]["id"]
    async with app.session.post(f"{app.base}/channels/{cid}/answer") as resp:
        assert resp.status == 204
        assert resp.headers["Content-Length"] == "0"
    async with app.session.put(f"{app.base}/channels") as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "OPTIONS,GET,POST"
        assert await resp.json() == {"message": "Invalid method"}
    assert await app.call("GET", "/no-such-resource") == (
        404, {"message": "Resource not found"},
    )
    assert await app.call("POST", f"/channels/{cid}/play", media="sound:hello") == (
        501, {"message": "Not implemented in the Callwright PBX simulator"},
    )
    async with app.session.get(app.sim.ari_url + "/elsewhere") as resp:
        assert resp.status == 404 and resp.content_type == "text/html"
    status, info = await app.call("GET", "/asterisk/info", only="system")
    assert list(info) == ["system"]


async def test_variables(make_sim: SimFactory, make_app: AppFactory) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    await sim.place_call()
    cid = (await app.next_event("StasisStart"))["channel"]["id"]
    assert await app.call("GET", f"/channels/{cid}/variable") == (
        400, {"message": "Variable name is required"},
    )
    assert await app.call("GET", f"/channels/{cid}/variable", variable="NOPE") == (
        404, {"message": "Provided variable was not found"},
    )
    assert await app.call("POST", f"/channels/{cid}/variable", variable="V", value="1") == (204, "")
    event = await app.next_event("ChannelVarset")
    assert (event["variable"], event["value"]) == ("V", "1")
    assert await app.call("GET", f"/channels/{cid}/variable", variable="V") == (
        200, {"value": "1"},
    )
    assert await app.call("GET", f"/channels/{cid}/variable", variable="CALLERID(num)") == (
        200, {"value": "5551234"},
    )


async def test_json_body_parameters(make_sim: SimFactory, make_app: AppFactory) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    status, bridge = await app.call("POST", "/bridges", json_body={"type": "mixing", "name": "j"})
    assert status == 200 and bridge["name"] == "j"
    assert await app.call("POST", "/bridges", type="nosuchtype") == (
        500, {"message": "Unable to create bridge. Possible duplicate bridge id '(null)'"},
    )


def test_a_handler_cannot_read_an_undeclared_parameter() -> None:
    from ari_app.simulator.spec import AriSpec

    class FakeRequest:
        query: dict[str, str] = {"channel": "1", "role": "x"}

    op = AriSpec.builtin().get("POST", "/bridges/{bridgeId}/addChannel")
    req = AriRequest(FakeRequest(), op, {}, frozenset({"channel"}), None)  # type: ignore[arg-type]
    assert req.get("channel") == "1"
    with pytest.raises(UndeclaredParameter):
        req.get("role")


async def test_dtmf_towards_the_caller(make_sim: SimFactory, make_app: AppFactory) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    call = await sim.place_call()
    cid = (await app.next_event("StasisStart"))["channel"]["id"]
    assert await app.call("POST", f"/channels/{call.peer_channel_id}/dtmf", dtmf="12#") == (
        409, {"message": "Channel not in Stasis application"},
    )
    assert await app.call("POST", f"/channels/{cid}/dtmf") == (
        400, {"message": "DTMF is required"},
    )
    assert await app.call("POST", f"/channels/{cid}/dtmf", dtmf="7", duration="200") == (204, "")
    assert [d for _, d in call.caller.dtmf_heard] == ["7"]
    await app.settle()
    assert app.drain() == [], "the app sees no event for DTMF it sent"
