"""Outbound calls through FreeSWITCH, whole: the FreeSWITCH call service places the queued call
from its inbound ESL (bgapi originate) on the FreeSWITCH simulator, whose destinations answer,
ring out or refuse as recorded; the answered callee is handed to our socket (uuid_transfer to the
outbound extension) and talks with the assistant (real Vosk, espeak-ng, SQLite)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ari_app.demo import DEMO_NUMBER, DEMO_PHRASES
from ari_app.demo_caller import heard_speech_after, synthesize_phrases
from ari_app.simulator.caller import SimulatedCaller
from ari_app.simulator.far_end import AMD_PROFILES, callee_audio
from callwright.campaigns.contacts_csv import parse_contacts
from callwright.config import load_config
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.outbound.placing import OutboundPlacer
from callwright.speech.vosk_stt import VoskModelCache
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import Call, CallRepository
from callwright.store.campaigns import Campaign, CampaignRepository
from callwright.store.db import open_store
from callwright.store.numbers import NumberRepository
from callwright.store.outbound_calls import (
    AssistantOutbound,
    OutboundCall,
    OutboundCallRepository,
)
from callwright.store.seed import seed_demo
from cli import calls as cli_calls
from cli.main import build_parser
from fs_app.service import FreeswitchService, with_ports
from fs_app.simulator.destinations import Destination
from fs_app.simulator.server import FreeswitchSimulator, socket_dialplan

pytestmark = pytest.mark.slow

FROM = "+15550111"
CALLEE = "+15550100199"
NOTICE = "이 통화는 녹음됩니다."
TURN_S = 25.0


class Node:
    """A FreeSWITCH node (the call service with its inbound ESL) and the simulated switch."""

    def __init__(self, service: FreeswitchService, sim: FreeswitchSimulator, org_id: int,
                 assistant_id: int) -> None:
        self.service, self.sim = service, sim
        self.org_id, self.assistant_id = org_id, assistant_id
        assert service.db is not None
        self.db = service.db
        self.calls = CallRepository(service.db)
        self.outbound = OutboundCallRepository(service.db)

    async def place(self, to: str = CALLEE, **variables: str) -> OutboundCall:
        placer = OutboundPlacer(AssistantRepository(self.db), NumberRepository(self.db),
                                self.outbound)
        return await placer.queue(self.org_id, self.assistant_id, to, variables=variables)

    async def ended(self, row: OutboundCall, within_s: float = TURN_S) -> OutboundCall:
        deadline = time.monotonic() + within_s
        while True:
            row = await self.outbound.get(row.id)
            if row.status == "ended":
                return row
            assert time.monotonic() < deadline, f"outbound call not ended: {row}"
            await asyncio.sleep(0.05)

    async def call_of(self, row: OutboundCall) -> Call:
        assert row.call_id is not None
        return await self.calls.get(row.call_id)


MakeNode = Callable[..., Awaitable[Node]]


@pytest.fixture
async def make_node(tmp_path: Path, vosk_models: VoskModelCache) -> AsyncIterator[MakeNode]:
    """``await make_node(amd="off")``: the demo assistant, an outbound number whose endpoint is
    ``loopback/{number}/default``, the simulator's dialplan handing the outbound extension (and
    the demo number) to the service's socket."""
    made: list[Node] = []

    async def make(*, amd: str = "off", ring_timeout_s: int = 2, record_calls: bool = False,
                   env: dict[str, str] | None = None) -> Node:
        sim = FreeswitchSimulator(dialplan={})
        await sim.start()
        settings = load_config(None, env={
            "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path),
            "CALLWRIGHT_STORE_PATH": str(tmp_path / "callwright.db"),
            "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "recordings"),
            "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
            "CALLWRIGHT_FREESWITCH_ESL_HOST": "127.0.0.1",
            "CALLWRIGHT_FREESWITCH_ESL_PORT": str(sim.esl_port),
            "CALLWRIGHT_OUTBOUND_AMD": amd,
            "CALLWRIGHT_OUTBOUND_RING_TIMEOUT_S": str(ring_timeout_s),
            **(env or {}),
        })
        settings = with_ports(settings, 0, 0)
        db = await open_store(settings.store)
        try:
            org, assistant, _ = await seed_demo(db, number=DEMO_NUMBER, language="ko",
                                                greeting="", flow=dict(DEMO_FLOW),
                                                record_calls=record_calls)
            await db.execute("UPDATE orgs SET encrypt_recordings = 0")  # the test reads the WAV
            await NumberRepository(db).create(org.id, FROM, direction="outbound", label="Acme",
                                              assistant_id=assistant.id,
                                              outbound_endpoint="loopback/{number}/default")
        finally:
            await db.close()
        service = FreeswitchService(settings, vosk_models=vosk_models, warm_streams=1)
        await service.start()
        sim.dialplan = socket_dialplan("127.0.0.1", service.socket_port,
                                       extensions=(DEMO_NUMBER, "callwright_outbound"))
        assert service.esl is not None
        await service.esl.wait_connected(5)
        node = Node(service, sim, org.id, assistant.id)
        made.append(node)
        return node

    yield make
    for node in made:
        await node.sim.stop()
        await node.service.stop()


async def test_an_answered_call_talks_with_the_assistant_and_is_logged_outbound(
    make_node: MakeNode,
) -> None:
    node = await make_node()
    callee = SimulatedCaller()
    node.sim.set_destination(CALLEE, Destination("answer", ring_s=0.3, callee=lambda: callee))
    queued = await node.place(first_name="Ana")
    voice = await node.service.speech.tts_for({"engine": "espeak-ng", "voice": "ko"})
    audio = await synthesize_phrases(voice, DEMO_PHRASES, "ko")
    await callee.wait_for_speech(TURN_S)  # the assistant speaks first
    for pcm in audio:
        await callee.wait_until_quiet(900, timeout=TURN_S)
        await callee.say(pcm)
        stopped = time.monotonic()
        assert await heard_speech_after(callee, stopped, TURN_S) - stopped < 5

    row = await node.ended(queued)
    assert (row.outcome, row.cause) == ("answered", None)
    assert row.ring_ms is not None and 300 <= row.ring_ms < 3000
    call = await node.call_of(row)
    assert (call.direction, call.status, call.end_reason) == ("outbound", "completed",
                                                              "demo_booked")
    assert (call.dialed, call.caller_number, call.pbx) == (CALLEE, FROM, "freeswitch")
    assert call.answered_at is not None and call.slots.get("first_name") == "Ana"
    turns = await node.calls.turns(call.id)
    assert [t.speaker for t in turns][:2] == ["assistant", "caller"]
    assert [t.text for t in turns if t.speaker == "caller"] == list(DEMO_PHRASES)
    events = {e.kind: e.detail for e in await node.calls.events(call.id)}
    assert events["originate"]["outbound"] == row.uid
    uuid = events["originate"]["uuid"]
    assert call.channel_id == f"freeswitch/{uuid}"
    assert events["freeswitch_socket"] == {"uuid": uuid, "outbound": True, "pbx": "freeswitch"}
    assert events["freeswitch_media"]["frames_in"] > 100
    await asyncio.sleep(0.2)
    assert node.sim.channels == {}  # nothing left on the switch
    services = node.service.services
    assert services is not None and services.outbound is not None
    assert len(services.outbound) == 0  # no handoff left waiting


@pytest.mark.parametrize(("outcome", "expected", "cause", "text"), [
    ("busy", "busy", 17, "User busy"),
    ("no_answer", "no_answer", 19, "User alerting, no answer"),
    ("rejected", "failed", 21, "Call Rejected"),
    ("unallocated", "failed", 1, "Unallocated (unassigned) number"),
])
async def test_unanswered_calls_end_with_the_outcome_cause_and_ring_time(
    make_node: MakeNode, outcome: str, expected: str, cause: int, text: str,
) -> None:
    node = await make_node(ring_timeout_s=1)
    node.sim.set_destination(CALLEE, Destination(outcome, ring_s=0.2))
    row = await node.ended(await node.place())
    assert (row.outcome, row.cause, row.cause_text) == (expected, cause, text)
    assert row.ring_ms is not None
    assert row.ring_ms >= (1000 if outcome == "no_answer" else 200)
    call = await node.call_of(row)
    assert (call.direction, call.status) == ("outbound", "failed")
    assert call.end_reason == f"{expected} (cause {cause} {text})"
    assert call.answered_at is None


async def test_a_number_the_switch_cannot_route_fails_the_call(make_node: MakeNode) -> None:
    node = await make_node()
    row = await node.ended(await node.place("+15559999"))  # no destination, no extension
    assert (row.outcome, row.cause) == ("failed", 3)
    assert (await node.call_of(row)).status == "failed"


async def test_an_answering_machine_is_heard_by_our_detector_and_hung_up_on(
    make_node: MakeNode,
) -> None:
    node = await make_node(amd="audio")
    callee = SimulatedCaller()
    node.sim.set_destination(CALLEE, Destination("answer", callee=lambda: callee))
    queued = await node.place()

    async def machine_greeting() -> None:
        for _ in range(1000):  # until the call is answered
            if callee.connected:
                break
            await asyncio.sleep(0.02)
        await callee.say(callee_audio(AMD_PROFILES["speech"]))

    speaking = asyncio.get_running_loop().create_task(machine_greeting())
    row = await node.ended(queued)
    speaking.cancel()
    assert row.outcome == "machine"
    assert row.amd_status == "MACHINE" and row.amd_cause.startswith(("MAXWORDS", "LONGGREETING"))
    call = await node.call_of(row)
    assert (call.status, call.end_reason) == ("completed", "machine")
    events = {e.kind: e.detail for e in await node.calls.events(call.id)}
    assert events["amd"]["by"] == "audio"
    assert [t for t in await node.calls.turns(call.id) if t.speaker == "assistant"] == []


async def say_when_answered(callee: SimulatedCaller, pcm: bytes) -> None:
    for _ in range(1000):  # until the call is answered
        if callee.connected:
            break
        await asyncio.sleep(0.02)
    await callee.say(pcm)


async def test_a_machine_gets_the_message_when_the_assistant_leaves_one(
    make_node: MakeNode,
) -> None:
    node = await make_node(amd="audio")
    await node.outbound.set_assistant_settings(
        AssistantOutbound(node.assistant_id, "leave_message", "Please call us back"))
    callee = SimulatedCaller()
    node.sim.set_destination(CALLEE, Destination("answer", callee=lambda: callee))
    queued = await node.place()
    speaking = asyncio.get_running_loop().create_task(
        say_when_answered(callee, callee_audio(AMD_PROFILES["speech"])))
    row = await node.ended(queued)
    speaking.cancel()
    assert (row.outcome, row.amd_status) == ("machine", "MACHINE")
    call = await node.call_of(row)
    turns = await node.calls.turns(call.id)
    assert [(t.speaker, t.text) for t in turns if t.speaker == "assistant"] == [
        ("assistant", "Please call us back")]
    assert call.status == "completed"


async def test_a_person_who_says_hello_is_talked_to(make_node: MakeNode) -> None:
    node = await make_node(amd="audio")
    callee = SimulatedCaller()
    node.sim.set_destination(CALLEE, Destination("answer", callee=lambda: callee))
    queued = await node.place()
    hello = asyncio.get_running_loop().create_task(
        say_when_answered(callee, callee_audio(AMD_PROFILES["hello"])[:int(8000 * 0.72) * 2]))
    await callee.wait_for_speech(TURN_S)  # the assistant greets once AMD says HUMAN
    await hello
    await callee.wait_until_quiet(1500, timeout=30)  # the whole greeting
    await callee.hangup()
    row = await node.ended(queued)
    assert (row.outcome, row.amd_status) == ("answered", "HUMAN")
    call = await node.call_of(row)
    assert (call.status, call.end_reason) == ("completed", "caller_hangup")
    turns = await node.calls.turns(call.id)
    assert turns[0].speaker == "assistant"
    assert turns[0].text == DEMO_FLOW["nodes"]["greet"]["prompt"]


async def test_without_the_inbound_esl_calls_wait_queued(make_node: MakeNode) -> None:
    node = await make_node()
    esl = node.service.esl
    assert esl is not None
    await esl.close()
    queued = await node.place()
    await asyncio.sleep(1.0)
    assert (await node.outbound.get(queued.id)).status == "queued"


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


async def test_an_outbound_call_is_recorded_after_the_consent_notice(
    make_node: MakeNode,
) -> None:
    node = await make_node(record_calls=True)
    await node.db.execute("UPDATE assistants SET consent_prompt = ?", (NOTICE,))
    callee = SimulatedCaller()
    node.sim.set_destination(CALLEE, Destination("answer", callee=lambda: callee))
    queued = await node.place()
    await callee.wait_for_speech(TURN_S)
    await callee.wait_until_quiet(1500, timeout=30)
    await callee.hangup()
    call = await node.call_of(await node.ended(queued))
    turns = await node.calls.turns(call.id)
    assert turns[0].speaker == "assistant"
    assert turns[0].text == f"{NOTICE} {DEMO_FLOW['nodes']['greet']['prompt']}"
    assert call.recording_path is not None
    assert await asyncio.to_thread(Path(call.recording_path).is_file)


async def test_the_callee_s_restrictions_are_honoured(make_node: MakeNode) -> None:
    node = await make_node(record_calls=True)
    services = node.service.services
    assert services is not None
    await services.restrictions.restrict(node.org_id, CALLEE, frozenset({"record", "store"}))
    callee = SimulatedCaller()
    node.sim.set_destination(CALLEE, Destination("answer", callee=lambda: callee))
    queued = await node.place()
    await callee.wait_for_speech(TURN_S)
    await callee.hangup()
    call = await node.call_of(await node.ended(queued))
    assert call.recording_path is None
    assert call.dialed != CALLEE  # kept hashed, as an inbound caller's number
    events = {e.kind: e.detail for e in await node.calls.events(call.id)}
    assert events["recording_skipped"] == {"reason": "caller_restriction"}
    assert events["privacy_restriction"] == {"kinds": ["record", "store"]}
    assert "endpoint" not in events["originate"]  # it names the number
    # objected since the call was queued: not dialled at all
    await services.restrictions.restrict(node.org_id, CALLEE, frozenset({"object"}))
    row = await node.ended(await node.place())
    assert (row.outcome, row.cause_text) == ("failed", "on the do-not-call list")
    assert node.sim.calls == []


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


async def wait_for(check: Callable[[], Awaitable[Any]], within_s: float = TURN_S) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.1)
