"""A scripted caller for the PBX simulator: listens to the assistant, waits for it to finish a
turn, says the next phrase, and so on; used by ``callwright demo``, the end-to-end tests and the
benchmarks, so all three exercise the same path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ari_app.simulator.caller import SimulatedCaller, frame_rms
from ari_app.simulator.calls import SimulatedCall
from callwright.speech.protocols import TtsEngine

CALLER_RATE = 8000


@dataclass(slots=True)
class CallerTurnTiming:
    phrase: str
    said_at: float             # monotonic: the caller started speaking
    stopped_at: float          # monotonic: the caller's last frame was sent
    reply_heard_at: float | None = None  # monotonic: first reply audio heard after that


@dataclass(slots=True)
class ConversationReport:
    placed_at: float
    greeting_heard_at: float | None = None
    turns: list[CallerTurnTiming] = field(default_factory=list)
    ended_by_assistant: bool = False


async def synthesize_phrases(tts: TtsEngine, phrases: Sequence[str], voice: str) -> list[bytes]:
    return [await tts.synthesize(text, CALLER_RATE, voice) for text in phrases]


async def heard_speech_after(
    caller: SimulatedCaller, after: float, within_s: float, poll_s: float = 0.02
) -> float:
    """Monotonic time of the first speech frame heard after monotonic time ``after``."""
    deadline = time.monotonic() + within_s
    seen = 0
    while True:
        frames = caller.heard_frames()
        for t_rel, pcm in frames[seen:]:
            at = caller.t0 + t_rel
            if at > after and frame_rms(pcm) >= caller.speech_rms:
                return at
        seen = len(frames)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no speech heard within {within_s} s")
        await asyncio.sleep(poll_s)


async def converse(
    call: SimulatedCall,
    phrases: Sequence[str],
    audio: Sequence[bytes],
    *,
    placed_at: float,
    quiet_ms: int = 900,
    turn_timeout_s: float = 20.0,
    hang_up_at_end: bool = False,
) -> ConversationReport:
    """Wait for the greeting, then say each phrase after the assistant goes quiet."""
    caller = call.caller
    report = ConversationReport(placed_at=placed_at)
    report.greeting_heard_at = await heard_speech_after(caller, placed_at, turn_timeout_s)
    for phrase, pcm in zip(phrases, audio, strict=True):
        await caller.wait_until_quiet(quiet_ms, timeout=turn_timeout_s)
        said_at = time.monotonic()
        await caller.say(pcm)
        timing = CallerTurnTiming(phrase, said_at, time.monotonic())
        report.turns.append(timing)
        timing.reply_heard_at = await heard_speech_after(
            caller, timing.stopped_at, turn_timeout_s
        )
    if hang_up_at_end:
        await caller.wait_until_quiet(quiet_ms, timeout=turn_timeout_s)
        await caller.hangup()
    else:
        try:
            await asyncio.wait_for(call.ended(), timeout=turn_timeout_s)
            report.ended_by_assistant = True
        except TimeoutError:
            await caller.hangup()
    return report
