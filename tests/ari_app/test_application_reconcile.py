"""AriApplication's reconciliation on connect, against the simulator, with stand-in sessions."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ari_app.application import RECOVERY_GRACE_S, AriApplication
from ari_app.ari.connection import AriEventStream
from ari_app.ari.events import StasisStart
from ari_app.ari.rest import AriRestClient
from ari_app.recovery import HandBack
from ari_app.simulator.server import PbxSimulator
from tests.ari_app.simulator.conftest import AppSide
from tests.ari_app.simulator.media_helpers import RtpPeer
from tests.ari_app.simulator.test_inbound_call import bridge_with_media

APP = "callwright"


class StandIn:
    """What AriApplication needs of a session; records how it was made and ends on demand."""

    def __init__(self, event: StasisStart, how: str) -> None:
        self.channel = event.channel
        self.how = how
        self.bridge_id: str | None = None
        self.events: list[Any] = []
        self.handed_back: HandBack | None = None
        self.with_person = False
        self.done = asyncio.Event()

    def handle(self, event: Any) -> None:
        self.events.append(event)

    def hand_back(self, handback: HandBack) -> None:
        self.handed_back = handback
        self.done.set()

    def caller_vanished(self) -> None:
        self.done.set()

    async def run(self) -> None:
        await self.done.wait()


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(password="s3cret", seed=4) as simulator:
        yield simulator


async def orphan_call(sim: PbxSimulator, session: aiohttp.ClientSession, peer: RtpPeer
                      ) -> tuple[str, str, str]:
    """A call set up by an app process that then died: caller, bridge, ExternalMedia."""
    side = AppSide(sim, session, APP)
    await side.connect()
    await sim.place_call(app=APP)
    caller_id = (await side.next_event("StasisStart"))["channel"]["id"]
    bridge_id, em = await bridge_with_media(side, caller_id, peer)
    assert side.ws is not None
    side.ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
    await asyncio.sleep(0.1)
    return caller_id, bridge_id, em["id"]


async def test_orphans_are_recovered_but_a_call_arriving_as_we_connect_is_a_new_call(
    sim: PbxSimulator,
) -> None:
    auth = aiohttp.encode_basic_auth(sim.username, sim.password)
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as raw, \
            aiohttp.ClientSession() as http:
        peer = await RtpPeer.open()
        try:
            orphan_id, old_bridge, old_em = await orphan_call(sim, raw, peer)
            rest = AriRestClient(http, sim.ari_url, sim.username, sim.password)
            made: list[StandIn] = []

            def factory(how: str) -> Any:
                def make(event: StasisStart) -> Any:
                    made.append(StandIn(event, how))
                    return made[-1]
                return make

            app = AriApplication(rest, factory("new"), app_name=APP,
                                 recovery_factory=factory("recovered"))
            newcomer: list[str] = []

            async def connected(*, reconnect: bool) -> None:
                # A caller reaches Stasis() just as we connect: Asterisk lists it with the
                # orphan, and its StasisStart waits behind this handler.
                call = await sim.place_call(app=APP)
                newcomer.append(call.channel_id)
                await app.on_connected(reconnect)

            stream = AriEventStream(http, sim.ari_url, sim.username, sim.password, APP,
                                    on_event=app.on_event, on_connected=connected)
            await stream.start()
            try:
                await asyncio.sleep(RECOVERY_GRACE_S + 0.3)
                assert sorted((s.how, s.channel.id) for s in made) == sorted(
                    [("recovered", orphan_id), ("new", newcomer[0])]
                )
                assert app.last_plan is not None
                assert {o.channel.id for o in app.last_plan.recover} == {orphan_id, newcomer[0]}
                # The dead process's media channel and bridge are gone; the callers are not.
                assert old_em not in sim.pbx.channels
                assert old_bridge not in sim.pbx.bridges
                assert orphan_id in sim.pbx.channels and newcomer[0] in sim.pbx.channels
                # Draining: a caller arriving now goes straight back to the dialplan.
                drain = asyncio.create_task(app.drain(5.0))
                await asyncio.sleep(0.05)
                late = await sim.place_call(app=APP)
                await asyncio.sleep(0.2)
                assert late.continued_to is not None and late.stasis_status == "SUCCESS"
                assert all(s.how != "new" or s.channel.id != late.channel_id for s in made)
                for stand_in in made:
                    stand_in.done.set()
                await asyncio.wait_for(drain, 5)
            finally:
                await stream.stop()
        finally:
            peer.close()


async def test_a_caller_left_with_a_transfer_target_is_watched_and_cleaned_up(
    sim: PbxSimulator,
) -> None:
    """The dead process had bridged the caller with a person (a bridged transfer): the new one
    leaves them talking, and when the person hangs up it hangs the caller up and deletes the
    bridge (Asterisk would leave both)."""
    auth = aiohttp.encode_basic_auth(sim.username, sim.password)
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as raw, \
            aiohttp.ClientSession() as http:
        side = AppSide(sim, raw, APP)
        await side.connect()
        caller = await sim.place_call(app=APP)
        await side.next_event("StasisStart")
        _, bridge = await side.call("POST", "/bridges", type="mixing", bridgeId="cw-bridge-x1")
        status, _ = await side.call("POST", "/channels", endpoint="Local/200@agents", app=APP,
                                    appArgs="transfer,uid", channelId="cw-xfer-0001")
        assert status == 200
        agent = await sim.next_outbound_call(timeout=2)
        for member in (caller.channel_id, "cw-xfer-0001"):
            status, _ = await side.call("POST", f"/bridges/{bridge['id']}/addChannel",
                                        channel=member)
            assert status == 204
        assert side.ws is not None
        side.ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        await asyncio.sleep(0.1)

        rest = AriRestClient(http, sim.ari_url, sim.username, sim.password)
        app = AriApplication(rest, app_name=APP)
        stream = AriEventStream(http, sim.ari_url, sim.username, sim.password, APP,
                                on_event=app.on_event, on_connected=app.on_connected)
        await stream.start()
        try:
            assert app.last_plan is not None
            assert [(k.caller.id, k.leg.id) for k in app.last_plan.keep] == [
                (caller.channel_id, "cw-xfer-0001")]
            await asyncio.sleep(RECOVERY_GRACE_S + 0.2)
            assert not caller.is_ended and "cw-bridge-x1" in sim.pbx.bridges
            await agent.caller.hangup()
            await asyncio.wait_for(caller.ended(), 3)
            await asyncio.sleep(0.2)
            assert not sim.pbx.channels and not sim.pbx.bridges
        finally:
            await stream.stop()


async def test_the_demo_calls_own_half_is_no_orphan(sim: PbxSimulator) -> None:
    """``callwright demo`` through a PBX originates ``Local/100@callwright-inbound`` into our app
    with its own id (``cw-demo-…``): after an ARI outage both halves are listed by our app and
    run Stasis(callwright); only the ``;2`` half, the demo's caller, is recovered, and the
    demo's half is left alone."""
    auth = aiohttp.encode_basic_auth(sim.username, sim.password)
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as raw, \
            aiohttp.ClientSession() as http:
        side = AppSide(sim, raw, APP)
        await side.connect()
        status, _ = await side.call("POST", "/channels", endpoint="Local/100@callwright-inbound",
                                    app=APP, channelId="cw-demo-0a1b2c",
                                    callerId='"Demo caller" <+821012345678>')
        assert status == 200
        demo_caller = (await side.next_event("StasisStart"))["channel"]["id"]
        assert await side.call("POST", f"/channels/{demo_caller}/answer") == (204, "")
        assert (await side.next_event("StasisStart"))["channel"]["id"] == "cw-demo-0a1b2c"
        assert side.ws is not None
        side.ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        await asyncio.sleep(0.1)

        rest = AriRestClient(http, sim.ari_url, sim.username, sim.password)
        made: list[StandIn] = []

        def recovered(event: StasisStart) -> Any:
            made.append(StandIn(event, "recovered"))
            return made[-1]

        app = AriApplication(rest, app_name=APP, recovery_factory=recovered)
        stream = AriEventStream(http, sim.ari_url, sim.username, sim.password, APP,
                                on_event=app.on_event, on_connected=app.on_connected)
        await stream.start()
        try:
            await asyncio.sleep(RECOVERY_GRACE_S + 0.2)
            assert [s.channel.id for s in made] == [demo_caller]
            assert app.last_plan is not None and app.last_plan.hang_up == []
            assert "cw-demo-0a1b2c" in sim.pbx.channels
            for stand_in in made:
                stand_in.done.set()
        finally:
            await stream.stop()
