"""Recovery after our own crash on FreeSWITCH: our callers found by the channel variables we set,
and the lifecycle rules applied (fs_app.recovery), against the simulator."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from ari_app.demo import DEMO_NUMBER
from ari_app.simulator.caller import SimulatedCaller
from callwright.dialog.resume import recovery_line
from callwright.store.calls import Call
from callwright.store.clock import utc_now_iso
from callwright.store.turns import NewTurn
from fs_app.esl_client import EslClient
from fs_app.recovery import (
    BRIDGED_VAR,
    CALL_VAR,
    NODE_VAR,
    listed_channels,
    recover_channels,
    recovery_action,
    transfer_line,
)
from fs_app.simulator.server import FreeswitchSimulator, SimCall, socket_dialplan
from tests.fs_app.conftest import FsHarness, MakeFsHarness

FACTS = Path(__file__).parents[1] / "freeswitch110" / "freeswitch-facts"


def recorded_show_channels() -> list[str]:
    """The bodies of ``api show channels as json`` in the outbound trace."""
    lines = [json.loads(line) for line in (FACTS / "esl-outbound.jsonl").read_text().splitlines()]
    bodies = []
    for i, line in enumerate(lines):
        if line.get("dir") == "send" and line.get("raw") == "api show channels as json\n\n":
            answer = next(m for m in lines[i + 1:] if m.get("dir") == "recv"
                          and m.get("conn") == line.get("conn"))
            bodies.append(answer["body"])
    return bodies


def test_the_recorded_channel_lists_parse() -> None:
    bodies = recorded_show_channels()
    assert len(bodies) == 3
    rows = [listed_channels(body) for body in bodies]
    assert [len(r) for r in rows] == [1, 0, 0]  # after the app closed TCP: no channel left
    assert rows[0][0]["uuid"] == "e92ea37c-e96d-4194-a589-e39689e6c0d0"
    assert (rows[0][0]["dest"], rows[0][0]["context"]) == ("outbound", "default")
    assert listed_channels("-ERR oops\n") == []


def test_the_action_follows_the_assistant_and_a_bridge_wins() -> None:
    assert recovery_action("resume", bridged=False) == "resume"
    assert recovery_action("hangup", bridged=False) == "hangup"
    assert recovery_action("dialplan", bridged=False) == "dialplan"
    assert recovery_action(None, bridged=False) == "dialplan"  # no assistant any more
    assert recovery_action("resume", bridged=True) == "bridged"
    assert transfer_line("u", "default,operator") == "uuid_transfer u operator XML default"
    assert transfer_line("u", "operator@agents") == "uuid_transfer u operator XML agents"
    assert transfer_line("u", "") is None and transfer_line("u", "a b,c") is None


async def left_over_call(h: FsHarness, *, bridged_to: str = "",
                         sim: FreeswitchSimulator | None = None) -> tuple[SimCall, Call]:
    """A caller of ours still in FreeSWITCH after our crash: answered and parked, carrying our
    variables, its row closed by the start-up sweep (failed/server_restart)."""
    assert h.service.services is not None
    sim = sim or h.sim
    call = sim.place_call("park", SimulatedCaller(), number="+821099998888", name="Left")
    uuid = call.b.channel.uuid
    async with asyncio.timeout(3):
        while call.b.channel.answer_state != "answered":  # noqa: ASYNC110 (simulator state)
            await asyncio.sleep(0.02)
    found = await h.service.services.numbers.find_inbound(DEMO_NUMBER)
    assert found is not None
    number, assistant = found
    assert assistant is not None
    row = await h.calls.create_call(
        org_id=number.org_id, assistant_id=assistant.id, number_id=number.id,
        dialed=DEMO_NUMBER, caller_number="+821099998888", caller_name="Left",
        channel_id=f"freeswitch/{uuid}", direction="inbound")
    await h.calls.add_turn(row.id, NewTurn(1, "assistant", "안녕하세요", utc_now_iso(),
                           meta={"node": "greet"}))
    await h.calls.close_call(row.id, "failed", "server_restart")
    for name, value in ((NODE_VAR, h.settings.node_id), (CALL_VAR, row.uid),
                        (BRIDGED_VAR, bridged_to)):
        if value:
            assert await sim.api(f"uuid_setvar {uuid} {name} {value}") == "+OK\n"
    return call, row


async def sweep(h: FsHarness) -> list[str]:
    """A sweep as the service runs it at each login (the channels its sessions hold left out)."""
    assert h.service.services is not None
    client = EslClient("127.0.0.1", h.sim.esl_port, "ClueCon")
    await client.connect()
    try:
        done = await recover_channels(h.service.services, client.api,
                                      held=h.service.services.held)
    finally:
        await client.close()
    return [f"{r.action}:{r.call_uid}" for r in done]


async def set_on_recovery(h: FsHarness, action: str) -> None:
    assert h.service.db is not None
    await h.service.db.execute("UPDATE assistants SET on_recovery = ?", (action,))


async def test_a_call_our_session_holds_is_marked_but_left_alone(
    make_fs_harness: MakeFsHarness,
) -> None:
    """Our variables are on the channel from the start; a sweep (FreeSWITCH reconnected) does
    not touch a call a session still holds. (A crash cannot leave such a call behind: the
    socket closing hangs it up, as observed; tests/fs_app/simulator/test_outbound_fork.py
    holds the simulator to that.)"""
    h = await make_fs_harness()
    caller = SimulatedCaller()
    call = h.dial(caller=caller)
    await caller.wait_for_speech(20)
    uuid = call.b.channel.uuid
    assert await h.sim.api(f"uuid_getvar {uuid} {NODE_VAR}") == h.settings.node_id
    assert h.service.services is not None and uuid in h.service.services.held
    assert await sweep(h) == []
    row = (await h.calls.list_recent_all_orgs(1))[0]
    assert row.status == "in_progress"
    assert await h.sim.api(f"uuid_getvar {uuid} {CALL_VAR}") == row.uid
    await caller.hangup()
    await h.closed_call()
    assert uuid not in h.service.services.held


async def test_hangup_and_dialplan_actions(make_fs_harness: MakeFsHarness) -> None:
    h = await make_fs_harness(env={"CALLWRIGHT_CALLS_FALLBACK_TARGET": "default,park"})
    await set_on_recovery(h, "hangup")
    gone, gone_row = await left_over_call(h)
    assert await sweep(h) == [f"hangup:{gone_row.uid}"]
    await asyncio.wait_for(gone.ended.wait(), 3)
    row = await h.calls.get(gone_row.id)
    assert (row.status, row.end_reason) == ("failed", "server_restart: hung up at recovery")
    events = {e.kind: e.detail for e in await h.calls.events(row.id)}
    assert events["recovered"]["action"] == "hangup" and events["recovered"]["turns"] == 1

    await set_on_recovery(h, "dialplan")
    moved, moved_row = await left_over_call(h)
    assert await sweep(h) == [f"dialplan:{moved_row.uid}"]
    row = await h.calls.get(moved_row.id)
    assert (row.status, row.end_reason) == ("transferred", "handed_back: recovered")
    assert moved.b.channel.alive  # with the dialplan now (the fallback extension)


async def test_a_caller_whose_row_its_session_closed_is_not_ours(
    make_fs_harness: MakeFsHarness,
) -> None:
    """A caller handed on (the row closed transferred) who still carries our variables (the
    unset failed) is left alone: resume would pull them back from the desk."""
    h = await make_fs_harness()
    kept, kept_row = await left_over_call(h)
    await h.calls.reopen_call(kept_row.id)
    await h.calls.close_call(kept_row.id, "transferred", "to_desk")
    assert await sweep(h) == [f"none:{kept_row.uid}"]
    row = await h.calls.get(kept_row.id)
    assert (row.status, row.end_reason) == ("transferred", "to_desk")
    assert kept.b.channel.alive and kept.b.channel.destination == "park"
    assert "recovered" not in [e.kind for e in await h.calls.events(row.id)]


async def test_a_bridged_caller_stays_with_the_target(make_fs_harness: MakeFsHarness) -> None:
    h = await make_fs_harness()
    kept, kept_row = await left_over_call(h, bridged_to="0000-target")
    assert await sweep(h) == [f"bridged:{kept_row.uid}"]
    row = await h.calls.get(kept_row.id)
    assert (row.status, row.end_reason) == ("transferred", "bridged: left to the PBX (recovered)")
    assert kept.b.channel.alive


@pytest.mark.slow
async def test_resume_brings_the_caller_back_with_the_lost_you_line(
    make_fs_harness: MakeFsHarness,
) -> None:
    h = await make_fs_harness()
    back, back_row = await left_over_call(h)
    assert await sweep(h) == [f"resume:{back_row.uid}"]
    assert await sweep(h) == []  # a second sweep (another login) does not send it back again
    await back.caller.wait_for_speech(20)  # the socket handed it to us again: it hears us
    assert h.service.services is not None
    async with asyncio.timeout(10):
        while len(await h.calls.turns(back_row.id)) < 2:  # noqa: ASYNC110 (store rows)
            await asyncio.sleep(0.1)
    await back.caller.hangup()
    row = await h.closed_call()
    assert row.id == back_row.id  # one call, one row
    assert row.status == "completed", row.end_reason
    turns = await h.calls.turns(row.id)
    assert turns[1].text.startswith(recovery_line("ko"))
    kinds = [e.kind for e in await h.calls.events(row.id)]
    assert kinds.index("recovered") < kinds.index("resumed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_service_sweeps_when_it_reaches_freeswitch(
    make_fs_harness: MakeFsHarness,
) -> None:
    """serve-freeswitch with [freeswitch] esl_host: the inbound client keeps trying until the
    switch answers, and each login runs the recovery sweep."""
    port = free_port()
    h = await make_fs_harness(env={"CALLWRIGHT_FREESWITCH_ESL_HOST": "127.0.0.1",
                                   "CALLWRIGHT_FREESWITCH_ESL_PORT": str(port)})
    await set_on_recovery(h, "hangup")
    assert h.service.esl is not None and not h.service.esl.connected  # nothing there yet
    switch = FreeswitchSimulator(dialplan=socket_dialplan("127.0.0.1", h.service.socket_port),
                                 esl_port=port, password="not-yet")  # logins refused for now
    await switch.start()
    try:
        gone, row = await left_over_call(h, sim=switch)
        assert not h.service.recovered
        switch.password = h.settings.freeswitch.esl_password  # the next attempt gets in
        await h.service.esl.wait_connected(10)
        async with asyncio.timeout(5):
            while not h.service.recovered:  # noqa: ASYNC110 (the service's record)
                await asyncio.sleep(0.05)
        assert [(r.action, r.call_uid) for r in h.service.recovered] == [("hangup", row.uid)]
        await asyncio.wait_for(gone.ended.wait(), 3)
    finally:
        await switch.stop()
