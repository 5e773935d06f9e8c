"""The AMI client (panoramisk) against a server replaying the recorded Asterisk 22.10.1 text,
and against the simulator's AMI server: live status, hang-up, originate, events, reconnect."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from panoramisk.message import Message

from ari_app.ami.client import AmiClient, AmiError, AmiSettings, AmiUnavailable
from ari_app.ami.status import PbxLiveStatus
from ari_app.simulator.far_end import FarEnd
from tests.ari_app.ami.replay_server import ReplayAmi
from tests.ari_app.simulator.conftest import AppFactory, SimFactory

MakeClient = Callable[..., Awaitable[AmiClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    made: list[AmiClient] = []

    async def make(port: int, secret: str = "test-secret", **kwargs: float) -> AmiClient:
        client = AmiClient(AmiSettings("127.0.0.1", port, "callwright", secret, **kwargs))
        made.append(client)
        await client.connect(timeout_s=3)
        return client

    yield make
    for client in made:
        client.close()
    await asyncio.sleep(0)


async def test_live_status_from_the_recorded_text(make_client: MakeClient) -> None:
    server = ReplayAmi("ami-live-status.txt")
    await server.start()
    try:
        status = PbxLiveStatus(await make_client(server.port))
        channels = await status.channels()
        assert len(channels) == 6
        assert channels[0].name == "Local/s@fr-ami-echo-0000003a;1"
        assert (channels[0].state, channels[0].bridge_id) == (
            "Up", "68270abc-f282-42a8-b365-15c8a4fd9a7e")
        [bridge] = await status.bridges()
        assert (bridge.technology, bridge.channels) == ("simple_bridge", 2)
        assert await status.queue_members("sales") == []
        assert not await status.queue_has_available_member("sales")
        assert server.received[0]["Action"] == "Login"
    finally:
        await server.stop()


async def test_originate_outcomes_from_the_recorded_text(make_client: MakeClient) -> None:
    server = ReplayAmi("ami-originate-outcomes.txt")
    await server.start()
    try:
        status = PbxLiveStatus(await make_client(server.port))
        outcomes = []
        for _ in range(4):  # busy, congestion, no answer, Foo/bar: in the recorded order
            result = await status.originate("Local/s@fr-busy", app="callwright",
                                            app_args="outbound,x")
            outcomes.append((result.outcome, result.cause))
        assert outcomes == [("busy", 17), ("congestion", 34), ("no_answer", 19), ("failed", 0)]
        sent = [m for m in server.received if m.get("Action") == "Originate"]
        assert sent[0]["Application"] == "Stasis" and sent[0]["Data"] == "callwright,outbound,x"
        assert sent[0]["Async"] == "true"
    finally:
        await server.stop()


async def test_against_the_simulator(
    make_sim: SimFactory, make_app: AppFactory, make_client: MakeClient
) -> None:
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    app = await make_app(sim)
    sim.set_destination("+15550000001", FarEnd("busy"))
    client = await make_client(sim.ami.port)
    status = PbxLiveStatus(client)
    seen: list[Message] = []

    async def on_hangup(event: Message) -> None:
        seen.append(event)

    client.on_event("Hangup", on_hangup)

    def not_async(event: Message) -> None:
        seen.append(event)

    with pytest.raises(TypeError, match="async def"):
        client.on_event("Hangup", not_async)  # type: ignore[arg-type]
    busy = await status.originate("Local/+15550000001@callwright-outbound", app="callwright",
                                  app_args="outbound,a")
    assert (busy.outcome, busy.cause) == ("busy", 17)
    answered = await status.originate("Local/+15550000002@callwright-outbound",
                                      app="callwright", app_args="outbound,b",
                                      caller_id="Clinic <+15550100>")
    assert answered.outcome == "answered"
    start = await app.next_event("StasisStart")
    assert start["args"] == ["outbound", "b"]
    names = [c.name for c in await status.channels()]
    assert len(names) == 2 and any(n.endswith(";1") for n in names)
    first = next(n for n in names if n.endswith(";1"))
    assert await status.hangup(first) is True
    assert await status.hangup(first + "x") is False
    await app.next_event("StasisEnd")
    for _ in range(100):
        if len(seen) >= 3:
            break
        await asyncio.sleep(0.02)
    assert [e["Cause"] for e in seen[:2]] == ["17", "0"]  # the busy call's two halves
    with pytest.raises(AmiError, match="Invalid/unknown command"):
        await client.action({"Action": "NoSuchAction"})


async def test_reconnects_after_the_server_restarts(
    make_sim: SimFactory, make_client: MakeClient
) -> None:
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    port = sim.ami.port
    client = await make_client(port, reconnect_s=0.2)
    await sim.ami.stop()
    for _ in range(100):
        if not client.connected:
            break
        await asyncio.sleep(0.02)
    assert not client.connected and client.disconnects == 1
    with pytest.raises(AmiError, match="not connected"):
        await PbxLiveStatus(client).channels()
    sim.ami.port = port
    await sim.ami.start()
    for _ in range(200):
        if client.connected:
            break
        await asyncio.sleep(0.02)
    assert client.logins == 2
    assert await PbxLiveStatus(client).channels() == []


async def test_a_bad_secret_is_reported(make_sim: SimFactory) -> None:
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    client = AmiClient(AmiSettings("127.0.0.1", sim.ami.port, "callwright", "wrong"))
    # The AMI's own reason, as soon as it answers (not after the whole timeout).
    with pytest.raises(AmiUnavailable, match="login was refused: Authentication failed"):
        await client.connect(timeout_s=30)


async def test_a_refused_connection_is_reported_and_not_retried_once_closed() -> None:
    """A closed client tries no more: panoramisk's reconnect timer, set when the connection
    was refused, must not reach a server that comes up later."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = AmiClient(AmiSettings("127.0.0.1", port, "callwright", "s", reconnect_s=0.05))
    with pytest.raises(AmiUnavailable, match="cannot connect"):
        await client.connect(timeout_s=30)
    reached = 0

    def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal reached
        reached += 1
        writer.close()

    server = await asyncio.start_server(accepted, "127.0.0.1", port)
    try:
        await asyncio.sleep(0.3)  # six reconnect periods
    finally:
        server.close()
        await server.wait_closed()
    assert reached == 0


async def test_panoramisk_runs_a_plain_callback_inline_and_a_failing_one_drops_the_link(
    make_sim: SimFactory, make_client: MakeClient
) -> None:
    """Why handlers are async and wrapped (measured on panoramisk 1.4): a plain callback runs
    inside data_received, and its exception closes the connection."""
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    sim.set_destination("busy", FarEnd("busy"))
    client = await make_client(sim.ami.port, reconnect_s=30)
    manager = client.manager  # the measurement needs panoramisk itself
    assert manager is not None
    calls: list[str] = []

    def plain(_: object, event: Message) -> None:
        calls.append(str(event["Event"]))
        raise RuntimeError("a plain handler failing")

    manager.register_event("Hangup", plain)
    await PbxLiveStatus(client).originate("Local/busy@x", app="callwright", app_args="")
    for _ in range(100):
        if not client.connected:
            break
        await asyncio.sleep(0.02)
    assert calls == ["Hangup"]  # called once: the second Hangup never arrived
    assert not client.connected and client.disconnects == 1
