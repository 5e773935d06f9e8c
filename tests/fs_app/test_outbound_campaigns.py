"""Campaigns and ``callwright call place --wait`` on a FreeSWITCH node: the same store rows as on
Asterisk, placed by the FreeSWITCH call service through the simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ari_app.simulator.caller import SimulatedCaller
from callwright.campaigns.contacts_csv import parse_contacts
from callwright.store.campaigns import Campaign, CampaignRepository
from cli import calls as cli_calls
from cli.main import build_parser
from fs_app.simulator.destinations import Destination
from tests.fs_app.outbound_node import (  # noqa: F401 (make_node_fixture: the fixture)
    CALLEE,
    TURN_S,
    MakeNode,
    make_node_fixture,
    wait_for,
)

pytestmark = pytest.mark.slow


async def test_a_campaign_runs_its_dialer_on_a_freeswitch_node(make_node: MakeNode) -> None:
    node = await make_node(ring_timeout_s=1)
    answering = SimulatedCaller()
    node.sim.set_destination("+15550100201", Destination("answer", callee=lambda: answering))
    node.sim.set_destination("+15550100202", Destination("busy"))
    node.sim.set_destination("+15550100203", Destination("no_answer"))
    campaigns = CampaignRepository(node.db)
    parsed = parse_contacts("number,first_name\n+15550100201,Ana\n+15550100202,Bo\n"
                            "+15550100203,Cy\n")
    made = await campaigns.create(Campaign(
        0, node.org_id, "Reminders", node.assistant_id, timezone="UTC", window_start="00:00",
        window_end="23:59", window_days="1,2,3,4,5,6,7", max_attempts=1,
        calls_per_minute=600, max_concurrent=3), parsed.contacts)
    await campaigns.change(node.org_id, made.id, "start")
    await answering.wait_for_speech(TURN_S)  # the assistant called Ana and speaks
    await answering.hangup()

    async def finished() -> dict[str, int] | None:
        counts = await campaigns.counts(made.id)
        return counts if counts["pending"] == counts["calling"] == 0 else None

    counts = await wait_for(finished)
    assert (counts["outcome:answered"], counts["outcome:busy"], counts["outcome:no_answer"]) \
        == (1, 1, 1), counts
    rows = {r.to_number: r for r in await node.outbound.list_recent(node.org_id, 10)
            if r.campaign_id == made.id}
    assert {n: r.outcome for n, r in rows.items()} == {
        "+15550100201": "answered", "+15550100202": "busy", "+15550100203": "no_answer"}
    answered = await node.call_of(rows["+15550100201"])
    assert (answered.direction, answered.status, answered.end_reason) == (
        "outbound", "completed", "caller_hangup")
    assert answered.slots.get("first_name") == "Ana"
    assert (await campaigns.get(made.id)).status == "completed"


async def test_call_place_wait_against_a_freeswitch_node(
    make_node: MakeNode, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``callwright call place --wait`` is the same command whatever the node's PBX: it queues
    the row, the FreeSWITCH node places it, the command prints the outcome."""
    node = await make_node(ring_timeout_s=1)
    callee = SimulatedCaller()
    node.sim.set_destination(CALLEE, Destination("answer", ring_s=0.2, callee=lambda: callee))
    config = tmp_path / "cli.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path}"\nmaster_key_file = "{tmp_path / "master.key"}"\n'
        f'[store]\npath = "{tmp_path / "callwright.db"}"\n', encoding="utf-8")
    monkeypatch.setattr(cli_calls, "WAIT_POLL_S", 0.05)
    argv = ["--config", str(config), "call", "place", "--assistant", str(node.assistant_id),
            "--to", CALLEE, "--var", "first_name=Ana", "--wait"]
    command = asyncio.get_running_loop().create_task(asyncio.to_thread(cli_main, argv))
    await callee.wait_for_speech(TURN_S)  # the assistant speaks first
    await callee.hangup()
    assert await asyncio.wait_for(command, TURN_S) == 0
    out = capsys.readouterr().out
    assert f"via loopback/{CALLEE}/default" in out
    [row] = await node.outbound.list_recent(node.org_id, 5)
    call = await node.call_of(row)
    assert f"call {call.uid}: answered, rang " in out
    assert (call.direction, call.status, call.end_reason) == ("outbound", "completed",
                                                              "caller_hangup")
    node.sim.set_destination(CALLEE, Destination("busy"))
    code = await asyncio.to_thread(cli_main, argv)
    assert code == cli_calls.NOT_ANSWERED
    assert "busy (cause 17 User busy)" in capsys.readouterr().out


def cli_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
