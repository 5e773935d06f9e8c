"""A blind transfer to a queue goes only when the AMI says an agent is free (issue 15)."""

from __future__ import annotations

import asyncio

import pytest

from ari_app.ami.client import AmiClient, AmiSettings
from ari_app.ami.status import PbxLiveStatus
from ari_app.simulator.ami import SimQueueMember
from tests.ari_app.conftest import PASSWORD, Harness, MakeHarness
from tests.ari_app.simulator.conftest import SimFactory, make_sim  # noqa: F401
from tests.ari_app.test_transfers import say_hello, transfer_flow

pytestmark = pytest.mark.slow


def ami_env(port: int) -> dict[str, str]:
    return {"CALLWRIGHT_AMI_HOST": "127.0.0.1", "CALLWRIGHT_AMI_PORT": str(port),
            "CALLWRIGHT_AMI_USERNAME": "callwright", "CALLWRIGHT_AMI_SECRET": PASSWORD}


async def connected(h: Harness) -> None:
    outbound = h.service.outbound
    assert outbound is not None
    for _ in range(200):
        if outbound.ami is not None and outbound.ami.connected:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("AMI not connected")


async def test_queue_availability_over_the_ami(make_sim: SimFactory) -> None:  # noqa: F811
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    sim.ami.queues["sales"] = [SimQueueMember("Ann", "PJSIP/201", status="2", in_call=True),
                               SimQueueMember("Bob", "PJSIP/202", paused=True)]
    sim.ami.queues["support"] = [SimQueueMember("Cy", "PJSIP/203")]
    client = AmiClient(AmiSettings("127.0.0.1", sim.ami.port, "callwright", sim.password))
    await client.connect(timeout_s=3)
    try:
        live = PbxLiveStatus(client)
        assert await live.queue_availability("sales") is False
        assert await live.queue_availability("support") is True
        assert await live.queue_availability("operator") is None
        members = await live.queue_members()
        assert [(m.queue, m.name, m.available) for m in members] == [
            ("sales", "Ann", False), ("sales", "Bob", False), ("support", "Cy", True)]
    finally:
        client.close()


async def test_no_free_agent_takes_the_flows_fallback(
    make_harness: MakeHarness, free_tcp_port: int
) -> None:
    h = await make_harness(flow=transfer_flow("callwright-transfer,sales,1"),
                           env=ami_env(free_tcp_port),
                           sim_options={"ami": True, "ami_port": free_tcp_port})
    assert h.sim.ami is not None
    h.sim.ami.queues["sales"] = [SimQueueMember("Ann", "PJSIP/201", paused=True)]
    await connected(h)
    call = await say_hello(h, "5552101")
    await asyncio.wait_for(call.ended(), 30)
    assert call.continued_to is None
    row = await h.closed_call()
    assert (row.status, row.end_reason) == ("completed", "transfer_fallback")
    events = {e.kind: e.detail for e in await h.calls.events(row.id)}
    assert events["transfer_no_agent"] == {"target": "callwright-transfer,sales,1",
                                           "queue": "sales"}


async def test_a_free_agent_lets_the_transfer_go(
    make_harness: MakeHarness, free_tcp_port: int
) -> None:
    h = await make_harness(flow=transfer_flow("callwright-transfer,sales,1"),
                           env=ami_env(free_tcp_port),
                           sim_options={"ami": True, "ami_port": free_tcp_port})
    assert h.sim.ami is not None
    h.sim.ami.queues["sales"] = [SimQueueMember("Ann", "PJSIP/201")]
    await connected(h)
    call = await say_hello(h, "5552102")
    await asyncio.wait_for(call.ended(), 30)
    assert call.continued_to is not None and call.continued_to.extension == "sales"
    assert (await h.closed_call()).status == "transferred"
