"""The inbound ESL client against the FreeSWITCH simulator (held to the recorded 1.10.12)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from fs_app.esl.events import EslEvent
from fs_app.esl_client import Backoff, EslClient, EslLoginRefused, close_quietly
from fs_app.esl_socket import EslClosed
from fs_app.simulator.api import VERSION
from fs_app.simulator.server import FreeswitchSimulator

DIALPLAN = {
    "park": [("answer", ""), ("park", "")],
    "busy": [("hangup", "USER_BUSY")],
    "ring": [("ring_ready", ""), ("sleep", "60000")],
}

MakeSim = Callable[..., Awaitable[FreeswitchSimulator]]


@pytest.fixture
async def make_sim() -> AsyncIterator[MakeSim]:
    made: list[FreeswitchSimulator] = []

    async def make(port: int = 0) -> FreeswitchSimulator:
        sim = FreeswitchSimulator(dialplan=DIALPLAN, esl_port=port)
        await sim.start()
        made.append(sim)
        return sim

    yield make
    for sim in made:
        await sim.stop()


def test_backoff_doubles_up_to_its_ceiling() -> None:
    backoff = Backoff(first_s=0.5, max_s=4.0)
    assert [backoff.delay(n) for n in (1, 2, 3, 4, 5, 9)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


async def test_login_api_and_bgapi_results(make_sim: MakeSim) -> None:
    sim = await make_sim()
    client = EslClient("127.0.0.1", sim.esl_port, "ClueCon")
    await client.connect()
    try:
        assert await client.api("version") == VERSION
        assert await client.api("uuid_kill 00000000-0000-0000-0000-000000000000") \
            == "-ERR No such channel!\n"
        answered = await client.bgapi("originate loopback/park/default &park()")
        assert answered.ok and answered.command == "originate"
        a_uuid = answered.text.split()[1]
        assert await client.api(f"uuid_exists {a_uuid}") == "true"
        busy = await client.bgapi("originate loopback/busy/default &park()")
        assert (busy.ok, busy.text) == (False, "-ERR USER_BUSY\n")
        nobody = await client.bgapi("originate {originate_timeout=1}loopback/ring/default &park()")
        assert nobody.text == "-ERR NO_ANSWER\n"
        assert (await client.bgapi("originate loopback/nowhere/default &park()")).text \
            == "-ERR NO_ROUTE_DESTINATION\n"
    finally:
        await client.close()


async def test_a_wrong_password_is_refused(make_sim: MakeSim) -> None:
    sim = await make_sim()
    client = EslClient("127.0.0.1", sim.esl_port, "wrong")
    with pytest.raises(EslLoginRefused, match="-ERR invalid"):
        await client.connect()
    assert not client.connected


async def test_subscribed_events_arrive(make_sim: MakeSim) -> None:
    sim = await make_sim()
    seen: list[EslEvent] = []
    two_hangups = asyncio.Event()

    def on_event(event: EslEvent) -> None:
        seen.append(event)
        if len([e for e in seen if e.name == "CHANNEL_HANGUP_COMPLETE"]) == 2:
            two_hangups.set()

    client = EslClient("127.0.0.1", sim.esl_port, "ClueCon", on_event=on_event)
    await client.connect()
    try:
        await client.subscribe(["CHANNEL_HANGUP_COMPLETE"])
        a_uuid = (await client.bgapi("originate loopback/park/default &park()")).text.split()[1]
        assert not [e for e in seen if e.name == "CHANNEL_HANGUP_COMPLETE"]
        assert await client.api(f"uuid_kill {a_uuid} CALL_REJECTED") == "+OK\n"
        async with asyncio.timeout(3):
            await two_hangups.wait()
        causes = {e.uuid: e.get("Hangup-Cause") for e in seen
                  if e.name == "CHANNEL_HANGUP_COMPLETE"}
        assert causes[a_uuid] == "CALL_REJECTED"
        assert {e.name for e in seen} == {"BACKGROUND_JOB", "CHANNEL_HANGUP_COMPLETE"}
    finally:
        await client.close()


async def test_reconnects_with_backoff_and_fails_the_jobs_in_flight(make_sim: MakeSim) -> None:
    sim = await make_sim()
    port = sim.esl_port
    logins: list[int] = []
    seen: list[str] = []
    client = EslClient("127.0.0.1", port, "ClueCon", backoff=Backoff(first_s=0.05, max_s=0.2),
                       on_connected=lambda: logins.append(1),
                       on_event=lambda event: seen.append(event.name))
    task = asyncio.get_running_loop().create_task(client.run())
    try:
        await client.wait_connected(3)
        await client.subscribe(["CHANNEL_CREATE"])
        job = asyncio.get_running_loop().create_task(
            client.bgapi("originate {originate_timeout=30}loopback/ring/default &park()"))
        await asyncio.sleep(0.2)
        await sim.stop()  # FreeSWITCH goes away with the job still running
        with pytest.raises(EslClosed):
            await job
        assert not client.connected
        with pytest.raises(EslClosed, match="not connected"):
            await client.api("version")
        await asyncio.sleep(0.3)  # a few refused attempts
        assert "Errno 111" in client.last_error  # refused while it is down
        seen.clear()
        again = await make_sim(port)
        await client.wait_connected(3)
        assert client.logins == 2 and len(logins) == 2
        assert (await client.bgapi("originate loopback/park/default &park()")).ok
        assert "CHANNEL_CREATE" in seen  # the subscription was renewed
        assert again.esl_port == port
    finally:
        await close_quietly(client, task)
