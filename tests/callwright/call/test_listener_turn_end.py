"""The listener ends a turn on what the recogniser heard: corpus audio frame by frame (call time
from the frame count, no clock), a recogniser whose partial is the answer once the audio of it
was said (a part's words ``LAG_MS`` after its end)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence

import pytest

from bench.turn_corpus import corpus, frames, render
from callwright.call.listener import CallerListener, CallerSpeech
from callwright.errors import ConfigError
from callwright.speech.barge_in import BargeInConfig, BargeInDetector, Decision, Pause
from callwright.speech.endpointing import Endpointer, EndpointingConfig
from callwright.speech.protocols import Transcript
from callwright.speech.turn_end import LikelyEnd, TurnEndConfig
from callwright.speech.vad import VoiceActivityDetector

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng is a system dependency (make system-deps)")


class Clock:
    now_ms = 0.0


class HearingStream:
    """Its partial is the words of each part ``LAG_MS`` after the part's end (``script``)."""

    def __init__(self, script: list[tuple[float, str]], clock: Clock) -> None:
        self.script, self.clock = script, clock

    def feed(self, pcm: bytes) -> None:
        return None

    def partial(self) -> str:
        return " ".join(text for end, text in self.script if end + LAG_MS <= self.clock.now_ms)

    async def finish(self) -> Transcript:
        return Transcript(" ".join(text for _, text in self.script), 0.9)

    async def close(self) -> None:
        return None


class HearingStt:
    name = "hearing"

    def __init__(self, script: list[tuple[float, str]], clock: Clock) -> None:
        self.script, self.clock = script, clock

    async def open_stream(
        self, sample_rate: int, grammar: Sequence[str] | None = None
    ) -> HearingStream:
        return HearingStream(self.script, self.clock)

    async def close(self) -> None:
        return None


LAG_MS = 80


async def listen(
    name: str, turn_end: TurnEndConfig | None, heard: tuple[str, ...] | None = None,
) -> tuple[list[CallerSpeech], list[LikelyEnd], float]:
    """``heard``: what the recogniser makes of each part (default: its words)."""
    item = next(i for i in corpus() if i.name == name)
    audio = render(item)
    clock = Clock()
    stt = HearingStt(list(zip(audio.part_ends_ms, heard or item.parts, strict=True)), clock)
    turns: list[CallerSpeech] = []
    likely: list[LikelyEnd] = []
    listener = CallerListener(
        sample_rate=8000, vad=VoiceActivityDetector(8000, 2, 20),
        endpointer=Endpointer(EndpointingConfig()), barge_in=BargeInDetector(BargeInConfig()),
        stt=stt, pre_roll_ms=300, on_turn=turns.append, on_speech_start=lambda _: None,
        on_barge_in=lambda _: None, on_error=lambda exc: pytest.fail(str(exc)),
        language=item.language, turn_end=turn_end, on_likely_end=likely.append,
    )
    listener.set_grammar(item.grammar, min_digits=item.min_digits, max_digits=item.max_digits)
    for i, pcm in enumerate(frames(audio.pcm)):
        clock.now_ms = i * 20.0
        listener.on_frame(pcm, i * 20.0)
        await asyncio.sleep(0)  # the stream opens and takes its audio
    for _ in range(10):
        await asyncio.sleep(0)
    await listener.close()
    return turns, likely, audio.speech_end_ms


@pytest.mark.parametrize("name", ["ko_yes", "ko_no", "ko_pin", "en_yes"])
async def test_a_closed_answer_ends_on_a_short_silence(name: str) -> None:
    turns, likely, speech_end = await listen(name, TurnEndConfig())
    [turn] = turns
    assert turn.end_reason == "complete"
    assert turn.detected_ms - speech_end <= 250
    assert len(likely) == 1 and likely[0].at_ms < turn.detected_ms


async def test_without_the_smart_end_the_full_silence_ends_it() -> None:
    turns, likely, speech_end = await listen("ko_yes", None)
    [turn] = turns
    # (the VAD hears the last 20-40 ms of espeak's fading sound as silence)
    assert turn.end_reason == "silence" and turn.detected_ms - speech_end >= 550
    assert likely == []


async def test_a_phone_number_read_in_groups_is_one_turn() -> None:
    turns, _, speech_end = await listen("ko_phone", TurnEndConfig())
    [turn] = turns
    assert turn.onset_ms < 1000 and turn.detected_ms > speech_end


async def test_a_korean_digit_string_the_recogniser_undercounts_ends_on_its_syllables() -> None:
    # What Vosk heard for "일 이 삼 사" on the telephone band: three digits of the four asked.
    turns, _, speech_end = await listen("ko_pin", TurnEndConfig(), heard=("이 공 팔",))
    [turn] = turns
    assert turn.end_reason == "complete" and turn.detected_ms - speech_end <= 200


async def caller_goes_on_after(gap_ms: float) -> tuple[float, float]:
    """The caller says "네", the turn ends, the assistant starts speaking and the caller speaks
    again ``gap_ms`` after the end of the turn: (their onset, when the reply was paused)."""
    audio = render(next(i for i in corpus() if i.name == "ko_yes"))
    clock = Clock()
    stt = HearingStt([(audio.speech_end_ms, "네")], clock)
    ended: list[float] = []
    decisions: list[Decision] = []
    listener = CallerListener(
        sample_rate=8000, vad=VoiceActivityDetector(8000, 2, 20),
        endpointer=Endpointer(EndpointingConfig()), barge_in=BargeInDetector(BargeInConfig()),
        stt=stt, pre_roll_ms=300, on_turn=lambda turn: ended.append(turn.detected_ms),
        on_speech_start=lambda _: None, on_barge_in=decisions.append,
        on_error=lambda exc: pytest.fail(str(exc)), language="ko", turn_end=TurnEndConfig(),
    )
    listener.set_grammar(("네", "아니요"))
    said = frames(audio.pcm)
    t = 0.0
    for pcm in said[: int(audio.speech_end_ms + 400) // 20]:
        clock.now_ms = t
        listener.on_frame(pcm, t)
        await asyncio.sleep(0)
        t += 20.0
    for _ in range(10):
        await asyncio.sleep(0)
    [end] = ended
    listener.set_assistant_speaking(True)  # the reply to "네" starts
    silence = bytes(320)
    while t < end + gap_ms - 300:  # the caller's next words start 300 ms into the clip
        listener.on_frame(silence, t)
        t += 20.0
    onset = t + 300
    for pcm in said:
        listener.on_frame(pcm, t)
        t += 20.0
        if decisions:
            break
    await listener.close()
    pause = next(d for d in decisions if isinstance(d, Pause))
    return onset, pause.at_ms


async def test_a_caller_going_on_just_after_the_turn_ended_pauses_the_reply_at_once() -> None:
    onset, paused = await caller_goes_on_after(400.0)
    assert paused - onset <= 40.0  # the first frame the VAD calls speech
    onset, paused = await caller_goes_on_after(2500.0)  # later: an ordinary barge-in
    assert paused - onset >= 60.0


@pytest.mark.parametrize("name", ["ko_yes+noise", "ko_no+noise", "en_yes+noise"])
async def test_under_line_noise_the_end_of_turn_hears_only_what_stands_above_it(
    name: str,
) -> None:
    with_margin, _, speech_end = await listen(name, TurnEndConfig())
    without, _, _ = await listen(name, TurnEndConfig(noise_margin_db=None))
    [turn], [plain] = with_margin, without
    assert turn.end_reason == plain.end_reason == "complete"
    # The detector goes on calling the hiss after the words speech for 40-100 ms; the margin
    # does not wait for it.
    assert plain.detected_ms - turn.detected_ms >= 40
    assert turn.detected_ms - speech_end <= 200


async def test_barge_in_hears_the_detector_itself_not_the_noise_margin() -> None:
    """A caller as quiet as the line's noise was loud: below the margin, so no turn starts, yet
    talking over the reply still pauses it (barge-in keeps the detector's own verdict)."""
    clock = Clock()
    audio = render(next(i for i in corpus() if i.name == "ko_yes+noise"))
    decisions: list[Decision] = []
    started: list[float] = []
    listener = CallerListener(
        sample_rate=8000, vad=VoiceActivityDetector(8000, 2, 20, energy_floor_dbfs=None),
        endpointer=Endpointer(EndpointingConfig()), barge_in=BargeInDetector(BargeInConfig()),
        stt=HearingStt([], clock), pre_roll_ms=300, on_turn=lambda _: None,
        on_speech_start=started.append, on_barge_in=decisions.append,
        on_error=lambda exc: pytest.fail(str(exc)), language="ko",
        turn_end=TurnEndConfig(noise_margin_db=30.0),  # nothing stands 30 dB above the words
    )
    listener.set_grammar(("네", "아니요"))
    listener.set_assistant_speaking(True)
    t = 0.0
    for pcm in frames(audio.pcm):
        listener.on_frame(pcm, t)
        t += 20.0
    await listener.close()
    assert started == []
    assert any(isinstance(d, Pause) for d in decisions)


def test_a_noise_margin_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError, match="noise_margin_db"):
        TurnEndConfig(noise_margin_db=-1.0)


async def test_free_speech_under_noise_hears_the_margin_only_with_its_tune() -> None:
    """The rising voice before the pause keeps the sentence whole, so the end of turn may hear
    only what stands above the noise (the pause then measures its full length); without the tune
    free speech keeps the detector's verdict, whose hangover bridges some of the pause."""
    with_margin, _, end = await listen("ko_free_pause+noise", TurnEndConfig())
    without, _, _ = await listen("ko_free_pause+noise", TurnEndConfig(noise_margin_db=None))
    [turn], [plain] = with_margin, without
    assert plain.detected_ms - turn.detected_ms >= 60
    no_tune = TurnEndConfig(intonation=False)
    with_margin, _, _ = await listen("ko_free_pause+noise", no_tune)
    without, _, _ = await listen("ko_free_pause+noise",
                                 TurnEndConfig(intonation=False, noise_margin_db=None))
    assert [(t.onset_ms, t.detected_ms) for t in with_margin] == [
        (t.onset_ms, t.detected_ms) for t in without]


async def test_an_english_phone_number_the_recogniser_missed_is_not_cut_at_its_pause() -> None:
    # What pocketsphinx made of "five five five" (pause 600 ms) "one two three four" on the
    # telephone band: nothing, then one word. The syllables heard bound the digits said.
    turns, _, speech_end = await listen("en_phone", TurnEndConfig(), heard=("", "three"))
    [turn] = turns
    assert turn.onset_ms < 1000 and turn.detected_ms > speech_end


@pytest.mark.parametrize("name", ["ko_free_phrase", "ko_free_phrase+noise", "en_free_phrase",
                                  "ko_free_pause", "en_free_hesitant+noise"])
async def test_free_speech_follows_the_callers_tune(name: str) -> None:
    """A voice rising before a pause keeps the sentence one turn, one falling at its end ends it
    on a short silence; what the recogniser heard (a Korean sentence's words as garbled as Vosk
    makes them on espeak) does not matter."""
    garbled = {"ko": ("예년 녹이 벽", "어휴 네 이 올해 역할 곡이 버거")}
    item = next(i for i in corpus() if i.name == name)
    heard = garbled[item.language] if item.language == "ko" else None
    turns, _, speech_end = await listen(name, TurnEndConfig(), heard=heard)
    [turn] = turns
    assert turn.end_reason == "final"
    assert turn.detected_ms - speech_end <= 300
    off, _, _ = await listen(name, TurnEndConfig(intonation=False), heard=heard)
    assert off[-1].detected_ms - speech_end >= 340  # free speech's silence, or the paced one
