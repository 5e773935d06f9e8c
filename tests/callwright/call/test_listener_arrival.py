"""Barge-in on frames as they arrive (before the transport's jitter buffer): the listener's
``arrivals`` lane, and the played-out frame reusing the verdict given on arrival. Frames are fed
with call times, no clock is read."""

from __future__ import annotations

import pytest

from callwright.call.listener import CallerListener
from callwright.speech.barge_in import (
    BargeInConfig,
    BargeInDetector,
    Decision,
    Interrupt,
    Pause,
    Resume,
)
from callwright.speech.endpointing import Endpointer, EndpointingConfig
from tests.callwright.call.test_listener_turn_end import Clock, HearingStt


def speech() -> bytes:
    return bytes(bytearray(b"speech"))  # a new object each time, as each packet is


def silence() -> bytes:
    return bytes(bytearray(b"silence"))


class ScriptedVad:
    """Speech for frames that start with b"speech"; refuses empty frames, as a VAD does."""

    def __init__(self) -> None:
        self.frames = 0

    def is_speech(self, pcm: bytes) -> bool:
        if not pcm:
            raise ValueError("not a frame")
        self.frames += 1
        return pcm.startswith(b"speech")


def make_listener(arrivals: bool) -> tuple[CallerListener, ScriptedVad, list[Decision]]:
    decisions: list[Decision] = []
    vad = ScriptedVad()
    listener = CallerListener(
        sample_rate=8000, vad=vad, endpointer=Endpointer(EndpointingConfig()),
        barge_in=BargeInDetector(BargeInConfig()), stt=HearingStt([], Clock()), pre_roll_ms=300,
        on_turn=lambda _: None, on_speech_start=lambda _: None, on_barge_in=decisions.append,
        on_error=lambda exc: pytest.fail(str(exc)), arrivals=arrivals,
    )
    return listener, vad, decisions


async def test_barge_in_acts_on_arrival_and_the_played_out_frame_reuses_the_verdict() -> None:
    listener, vad, decisions = make_listener(arrivals=True)
    listener.set_assistant_speaking(True)
    frames = [speech() for _ in range(10)]
    for i, pcm in enumerate(frames[:3]):  # 60 ms of speech arrive (BargeInConfig.start_ms)...
        listener.on_arrival(pcm, 1000.0 + 20 * i)
    assert [type(d) for d in decisions] == [Pause]
    assert decisions[0].at_ms == 1060.0
    for i, pcm in enumerate(frames[3:]):
        listener.on_arrival(pcm, 1060.0 + 20 * i)
    assert vad.frames == 10
    assert [type(d) for d in decisions] == [Pause, Interrupt]  # 200 ms: min_speech_ms
    for i, pcm in enumerate(frames):  # ...played out 40 ms later: no second verdict or decision
        listener.on_frame(pcm, 1040.0 + 20 * i)
    assert vad.frames == 10
    assert [type(d) for d in decisions] == [Pause, Interrupt]
    await listener.close()


async def test_without_arrivals_the_played_out_frames_are_heard() -> None:
    listener, vad, decisions = make_listener(arrivals=False)
    listener.set_assistant_speaking(True)
    listener.on_arrival(speech(), 1000.0)  # ignored: no lane
    assert vad.frames == 0
    for i in range(3):
        listener.on_frame(speech(), 1040.0 + 20 * i)
    assert [type(d) for d in decisions] == [Pause]
    assert decisions[0].at_ms == 1100.0
    await listener.close()


async def test_a_frame_made_up_for_a_lost_packet_gets_its_own_verdict() -> None:
    listener, vad, _ = make_listener(arrivals=True)
    first, lost, third = speech(), speech(), silence()
    listener.on_arrival(first, 0.0)
    listener.on_arrival(third, 40.0)  # the second packet never came
    listener.on_frame(first, 40.0)
    assert vad.frames == 2
    listener.on_frame(lost, 60.0)  # the jitter buffer's silence in its place
    assert vad.frames == 3
    listener.on_frame(third, 80.0)
    assert vad.frames == 3
    late = speech()
    listener.on_arrival(late, 90.0)  # arrived, then dropped by the buffer as late
    listener.on_arrival(following := silence(), 100.0)
    listener.on_frame(following, 120.0)  # the late one's verdict is dropped with it
    assert vad.frames == 5
    await listener.close()


async def test_frames_arriving_together_are_consecutive_frames() -> None:
    listener, _, decisions = make_listener(arrivals=True)
    listener.set_assistant_speaking(True)
    listener.on_arrival(speech(), 1000.0)
    listener.on_arrival(speech(), 1001.0)  # a burst: the packets after a network hiccup
    assert decisions == []  # 40 ms of speech, not 21
    listener.on_arrival(speech(), 1002.0)
    assert [type(d) for d in decisions] == [Pause] and decisions[0].at_ms == 1060.0
    await listener.close()


async def test_a_caller_who_stops_sending_is_heard_as_silence_and_the_reply_resumes() -> None:
    listener, _, decisions = make_listener(arrivals=True)
    listener.set_assistant_speaking(True)
    for i in range(3):
        listener.on_arrival(speech(), 1000.0 + 20 * i)
    t = 1060.0
    while t < 3000.0 and not any(isinstance(d, Resume) for d in decisions):
        listener.on_tick(t)  # Asterisk sends nothing while the caller is quiet
        t += 20.0
    assert [type(d) for d in decisions] == [Pause, Resume]
    await listener.close()


async def test_barge_in_is_only_while_the_assistant_speaks_and_a_bad_frame_is_dropped() -> None:
    listener, vad, decisions = make_listener(arrivals=True)
    for i in range(5):
        listener.on_arrival(speech(), 1000.0 + 20 * i)
    assert vad.frames == 5 and decisions == []  # a verdict for the playout, no barge-in
    listener.set_assistant_speaking(True)
    listener.on_arrival(b"", 1100.0)  # refused by the detector: dropped, the call goes on
    listener.on_arrival(silence(), 1120.0)
    assert vad.frames == 6 and decisions == []
    await listener.close()
    listener.on_arrival(speech(), 1140.0)  # closed
    assert vad.frames == 6
