"""A flow's transfer to an endpoint on FreeSWITCH: rung with bgapi originate from the inbound
ESL (the outcomes recorded: busy, no answer), bridged when answered, the flow's on_fail when
not; against the simulator."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ari_app.simulator.caller import SimulatedCaller
from fs_app.bridged_transfer import TRANSFER_VAR, endpoint_of, originate_line
from fs_app.esl_client import EslClient
from fs_app.recovery import BRIDGED_VAR
from tests.fs_app.conftest import FsHarness, MakeFsHarness

pytestmark = pytest.mark.slow


def flow_to(target: str) -> dict[str, Any]:
    return {
        "version": 1, "name": "bridged", "language": "ko", "start": "to_desk",
        "nodes": {
            "to_desk": {"kind": "transfer", "text": "연결해 드리겠습니다.", "target": target,
                        "reason": "to_desk", "on_fail": "sorry"},
            "sorry": {"kind": "hangup", "text": "죄송합니다.", "reason": "transfer_failed"},
        },
    }


def test_endpoints_and_the_originate_line() -> None:
    assert endpoint_of("user/200") == "user/200"
    assert endpoint_of("dial:sofia/gateway/office/200") == "sofia/gateway/office/200"
    assert endpoint_of("default,desk") is None and endpoint_of("desk@default") is None
    assert endpoint_of("/200") is None and endpoint_of("user/2 00") is None
    assert originate_line("user/200", "t-1", ring_s=12.4, call_uid="C1",
                          caller_number="+8210") == (
        "originate {origination_uuid=t-1,originate_timeout=12,callwright_transfer_of=C1,"
        "origination_caller_id_number=+8210}user/200 &park()")
    assert "caller_id" not in originate_line("user/200", "t", ring_s=1, call_uid="C",
                                             caller_number="a,b")


async def with_inbound_esl(h: FsHarness) -> EslClient:
    client = EslClient("127.0.0.1", h.sim.esl_port, "ClueCon")
    await client.connect()
    assert h.service.services is not None
    h.service.services.esl = client  # as serve-freeswitch wires it when esl_host is set
    return client


async def failed_transfer(h: FsHarness) -> tuple[str, str]:
    caller = SimulatedCaller()
    h.dial(caller=caller)
    row = await h.closed_call(within_s=25)
    assert (row.status, row.end_reason) == ("completed", "transfer_failed")  # on_fail ran
    events = await h.calls.events(row.id)
    kinds = [e.kind for e in events]
    assert "transfer_failed" in kinds and "transferred" not in kinds
    why = next(e.detail for e in events if e.kind == "bridge_failed")
    turns = await h.calls.turns(row.id)
    assert turns[-1].text == "죄송합니다."  # the caller heard the fallback
    return str(why["why"]), str(why["target"])


async def test_a_busy_target_leaves_the_caller_with_the_assistant(
    make_fs_harness: MakeFsHarness,
) -> None:
    h = await make_fs_harness(flow=flow_to("loopback/busy/default"))
    h.sim.dialplan = {**h.sim.dialplan, "busy": [("hangup", "USER_BUSY")]}
    client = await with_inbound_esl(h)
    try:
        assert await failed_transfer(h) == ("USER_BUSY", "loopback/busy/default")
    finally:
        await client.close()


async def test_a_target_that_does_not_answer_in_time(make_fs_harness: MakeFsHarness) -> None:
    h = await make_fs_harness(flow=flow_to("dial:loopback/ring/default"),
                              env={"CALLWRIGHT_CALLS_TRANSFER_RING_S": "1"})
    h.sim.dialplan = {**h.sim.dialplan, "ring": [("ring_ready", ""), ("sleep", "60000")]}
    client = await with_inbound_esl(h)
    try:
        assert (await failed_transfer(h))[0] == "NO_ANSWER"
    finally:
        await client.close()


async def test_without_the_inbound_esl_the_flow_falls_back(make_fs_harness: MakeFsHarness) -> None:
    h = await make_fs_harness(flow=flow_to("loopback/desk/default"))
    assert (await failed_transfer(h))[0] == "no inbound ESL"


async def test_an_answering_target_is_bridged_with_the_caller(
    make_fs_harness: MakeFsHarness,
) -> None:
    h = await make_fs_harness(flow=flow_to("loopback/desk/default"))
    h.sim.dialplan = {**h.sim.dialplan, "desk": [("answer", ""), ("park", "")]}
    client = await with_inbound_esl(h)
    try:
        caller = SimulatedCaller()
        call = h.dial(caller=caller)
        row = await h.closed_call(within_s=25)
        assert (row.status, row.end_reason) == ("transferred", "to_desk")
        detail = next(e.detail for e in await h.calls.events(row.id) if e.kind == "transferred")
        assert detail["how"] == "uuid_bridge" and detail["target"] == "loopback/desk/default"
        target = h.sim.channels[str(detail["target_uuid"])]
        assert target.alive and target.variables[TRANSFER_VAR] == row.uid
        assert call.b.channel.alive
        assert call.b.channel.variables[BRIDGED_VAR] == target.uuid  # recovery leaves it so
        await caller.hangup()
        await asyncio.wait_for(call.ended.wait(), 5)
        async with asyncio.timeout(3):
            while target.alive:  # noqa: ASYNC110 (simulator state) the bridge ends for both
                await asyncio.sleep(0.02)
    finally:
        await client.close()
