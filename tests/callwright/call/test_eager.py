"""Eager end of turn (callwright.call.eager): the turn-taking corpus through the listener and its
end-of-turn decider (call time from the frame count, no clock), the likely ends handed to
:class:`EagerTurns` over a fake dialog whose steps can be taken back: a reply prepared on a likely
end is kept when the turn is confirmed with the same words, taken back when the caller goes on,
and dropped when the final transcript says something else."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest

from bench.turn_corpus import KO_YES_NO, CorpusItem, corpus, frames, render
from callwright.call.eager import (
    Confirmed,
    EagerOutcome,
    EagerTurns,
    PreparedSay,
    ReplyItem,
    SpeculativeDialog,
    same_words,
)
from callwright.call.listener import CallerListener, CallerSpeech
from callwright.dialog.actions import CallContext, CallerTurn, DialogAction, Listen, Say
from callwright.dialog.speculation import SideEffectGate
from callwright.speech.barge_in import BargeInConfig, BargeInDetector
from callwright.speech.endpointing import Endpointer, EndpointingConfig
from callwright.speech.protocols import Transcript
from callwright.speech.turn_end import LikelyEnd, TurnEndConfig, TurnResumed
from callwright.speech.vad import VoiceActivityDetector
from tests.callwright.call.test_listener_turn_end import Clock, HearingStream, HearingStt

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng is a system dependency (make system-deps)")

#: "네", a 140 ms pause (the decider's likely end, then the caller goes on), "아니요".
YES_THEN_NO = CorpusItem("ko_yes_then_no", "ko", "yes_no", ("네", "아니요"), (140,),
                         grammar=KO_YES_NO)


class UndoableDialog:
    """Answers "you said <words>"; remembers the turns it answered (its state, taken back by
    ``restore``); ``hook`` is its side effect, made after the first sentence."""

    def __init__(self) -> None:
        self.side_effects = SideEffectGate()
        self.answered: list[str] = []
        self.hooks: list[str] = []
        self.started: list[str] = []  # every step started, taken back or not

    async def begin(self, ctx: CallContext) -> AsyncIterator[DialogAction]:
        yield Listen()

    async def on_caller_turn(self, turn: CallerTurn) -> AsyncIterator[DialogAction]:
        self.started.append(turn.text)
        self.answered.append(turn.text)
        yield Say(f"You said {turn.text}.")
        await self.side_effects.wait()
        self.hooks.append(turn.text)
        yield Say("Noted.")
        yield Listen()

    async def on_no_input(self) -> AsyncIterator[DialogAction]:
        yield Listen()

    def on_interrupted(self, heard: str) -> None:
        return None

    def node_id(self) -> str | None:
        return None

    def snapshot(self) -> object:
        return list(self.answered)

    def restore(self, snapshot: object) -> None:
        assert isinstance(snapshot, list)
        self.answered = list(snapshot)


class MishearingStream(HearingStream):
    """Its final transcript is not what its partial said."""

    async def finish(self) -> Transcript:
        return Transcript("아니요", 0.9)


class MishearingStt(HearingStt):
    async def open_stream(
        self, sample_rate: int, grammar: Sequence[str] | None = None
    ) -> HearingStream:
        return MishearingStream(self.script, self.clock)


@dataclass
class Heard:
    """What the call did with one corpus item."""

    confirmed: Confirmed
    reply: list[ReplyItem]
    events: list[str]              # likely / resumed / turn, in order
    audio_ready_at_confirm: bool
    synthesised: list[str]


async def converse(item: CorpusItem, *, mishear: bool = False) -> tuple[Heard, UndoableDialog]:
    audio = render(item)
    clock = Clock()
    script = list(zip(audio.part_ends_ms, item.parts, strict=True))
    stt = MishearingStt(script, clock) if mishear else HearingStt(script, clock)
    dialog = UndoableDialog()
    synthesised: list[str] = []

    async def synthesize(text: str) -> bytes:
        synthesised.append(text)
        return b"\0\0" * 160

    assert isinstance(dialog, SpeculativeDialog)
    eager = EagerTurns(dialog, synthesize)
    pending: list[LikelyEnd | TurnResumed | CallerSpeech] = []
    listener = CallerListener(
        sample_rate=8000, vad=VoiceActivityDetector(8000, 2, 20),
        endpointer=Endpointer(EndpointingConfig()), barge_in=BargeInDetector(BargeInConfig()),
        stt=stt, pre_roll_ms=300, on_turn=pending.append, on_speech_start=lambda _: None,
        on_barge_in=lambda _: None, on_error=lambda exc: pytest.fail(str(exc)),
        language=item.language, turn_end=TurnEndConfig(), on_likely_end=pending.append,
        on_resumed=pending.append,
    )
    listener.set_grammar(item.grammar)
    events: list[str] = []
    result: Heard | None = None

    async def handle() -> None:
        nonlocal result
        while pending:
            event = pending.pop(0)
            if isinstance(event, LikelyEnd):
                events.append("likely")
                await eager.likely(event.partial)
            elif isinstance(event, TurnResumed):
                events.append("resumed")
                await eager.resumed()
            else:
                events.append("turn")
                current = eager.current
                ready = current is not None and current.audio_ready
                confirmed = await eager.confirm(event.text)
                reply: list[ReplyItem] = []
                if confirmed.reply is not None:
                    reply = [item async for item in confirmed.reply]
                else:
                    reply = [a async for a in dialog.on_caller_turn(CallerTurn(event.text))]
                result = Heard(confirmed, reply, events, ready, synthesised)

    for i, pcm in enumerate(frames(audio.pcm)):
        clock.now_ms = i * 20.0
        listener.on_frame(pcm, i * 20.0)
        for _ in range(3):
            await asyncio.sleep(0)  # the stream opens; a started step runs to its held point
        await handle()
    for _ in range(10):
        await asyncio.sleep(0)
    await handle()
    await listener.close()
    assert result is not None
    return result, dialog


async def test_a_reply_prepared_on_a_likely_end_is_kept_when_the_turn_is_confirmed() -> None:
    item = next(i for i in corpus() if i.name == "ko_yes")
    heard, dialog = await converse(item)
    assert heard.events == ["likely", "turn"]
    assert heard.confirmed.outcome is EagerOutcome.KEPT
    assert heard.confirmed.meta() == {"eager": "kept"}
    # The first sentence's audio was made before the turn was confirmed; it is the reply's first
    # item, and the side effect after it ran only once the turn was confirmed.
    assert heard.audio_ready_at_confirm and heard.synthesised == ["You said 네."]
    first = heard.reply[0]
    assert isinstance(first, PreparedSay) and first.say == Say("You said 네.")
    assert heard.reply[1:] == [Say("Noted."), Listen()]
    assert dialog.started == ["네"] and dialog.answered == ["네"] and dialog.hooks == ["네"]


async def test_a_reply_prepared_is_taken_back_when_the_caller_goes_on() -> None:
    heard, dialog = await converse(YES_THEN_NO)
    assert heard.events[:2] == ["likely", "resumed"] and heard.events[-1] == "turn"
    # The step for "네" was started, then taken back: its state undone, its side effect never
    # made; the whole turn was answered.
    assert dialog.started[0] == "네" and "네" not in dialog.answered and "네" not in dialog.hooks
    assert dialog.answered == ["네 아니요"] and dialog.hooks == ["네 아니요"]
    outcome = heard.confirmed.outcome
    assert outcome is not None and outcome is not EagerOutcome.MISMATCHED
    if outcome is EagerOutcome.KEPT:  # the whole answer had its own likely end
        assert heard.confirmed.meta() == {"eager": "kept", "eager_cancelled": 1}
    else:
        assert heard.confirmed.meta() == {"eager": "cancelled"}


async def test_a_reply_prepared_on_other_words_than_the_final_ones_is_dropped() -> None:
    item = next(i for i in corpus() if i.name == "ko_yes")
    heard, dialog = await converse(item, mishear=True)
    assert heard.events == ["likely", "turn"]
    assert heard.confirmed.outcome is EagerOutcome.MISMATCHED
    assert heard.confirmed.meta() == {"eager": "mismatched"}
    assert dialog.started == ["네", "아니요"]
    assert dialog.answered == ["아니요"] and dialog.hooks == ["아니요"]
    assert not any(isinstance(r, PreparedSay) for r in heard.reply)


async def test_free_speech_is_prepared_on_its_likely_end_too() -> None:
    item = next(i for i in corpus() if i.name == "en_free")
    heard, dialog = await converse(item)
    assert heard.events == ["likely", "turn"]
    assert heard.confirmed.outcome is EagerOutcome.KEPT
    assert dialog.started == ["I would like to book a table"]


async def test_a_turn_without_a_likely_end_has_no_eager_outcome() -> None:
    dialog = UndoableDialog()
    assert isinstance(dialog, SpeculativeDialog)

    async def synthesize(text: str) -> bytes:
        return b""

    eager = EagerTurns(dialog, synthesize)
    assert await eager.confirm("네") == Confirmed(None)
    assert Confirmed(None).meta() == {} and dialog.started == []


@pytest.mark.parametrize(("a", "b", "same"), [
    ("네", "네.", True), ("Yes, please", "yes please", True), ("예약 [unk]", "예약", True),
    ("네", "아니요", False), ("one two", "one", False),
])
def test_words_are_compared_without_case_or_punctuation(a: str, b: str, same: bool) -> None:
    assert same_words(a, b) is same
