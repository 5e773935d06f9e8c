"""The end-of-turn decision, driven by the turn-taking corpus (bench/turn_corpus.py): real
espeak-ng audio through the WebRTC VAD, and the partial a recogniser would give (the words of each
part, ``PARTIAL_LAG_MS`` after the part ends). Time is the frames' call time; no clock is read."""

from __future__ import annotations

import shutil

import pytest

from bench.turn_corpus import CorpusItem, Rendered, corpus, frames, render
from callwright.errors import ConfigError
from callwright.speech.answers import AnswerKind, Completeness, Expectation, completeness
from callwright.speech.endpointing import (
    Endpointer,
    EndpointingConfig,
    EndpointState,
    SpeechEnded,
)
from callwright.speech.intonation import Contour, PitchTracker
from callwright.speech.turn_end import (
    LikelyEnd,
    SilencePlan,
    TurnEndConfig,
    TurnEndDecider,
    TurnEvent,
    TurnResumed,
)
from callwright.speech.vad import VoiceActivityDetector

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is a system dependency (make system-deps)")

#: How long after a part's end its words show in the partial (Vosk decodes as the audio comes).
PARTIAL_LAG_MS = 80
FRAME_MS = 20


def expectation(item: CorpusItem) -> Expectation:
    return Expectation.from_grammar(item.grammar, item.language,
                                    min_digits=item.min_digits, max_digits=item.max_digits)


def run(rendered: Rendered, *, lag_ms: float = PARTIAL_LAG_MS, eager: bool = True,
        decider: TurnEndDecider | None = None, tune: bool = True,
        ) -> list[tuple[float, TurnEvent]]:
    """``tune``: free speech's intonation is fed, as the listener does."""
    item = rendered.item
    decider = decider or TurnEndDecider(Endpointer(EndpointingConfig()), eager=eager)
    decider.expect(expectation(item))
    vad = VoiceActivityDetector(8000, 2, FRAME_MS)
    pitch = PitchTracker(8000) if tune and item.grammar is None else None
    events: list[tuple[float, TurnEvent]] = []
    for i, pcm in enumerate(frames(rendered.pcm)):
        t = i * FRAME_MS
        heard = [p for p, end in zip(item.parts, rendered.part_ends_ms, strict=True)
                 if end + lag_ms <= t]
        decider.partial(" ".join(heard))
        if pitch is not None:  # as the listener feeds it
            if decider.endpointer.state is EndpointState.STOPPING:
                decider.intonation(pitch.contour(decider.endpointer.onset_ms - 100))
            pitch.feed(pcm, t)
        events += [(t, e) for e in decider.process(vad.is_speech(pcm), t)]
    return events


_RENDERED: dict[str, Rendered] = {}


def rendered(item: CorpusItem) -> Rendered:
    if item.name not in _RENDERED:
        _RENDERED[item.name] = render(item)
    return _RENDERED[item.name]


ITEMS = corpus()


@needs_espeak
@pytest.mark.parametrize("item", ITEMS, ids=[i.name for i in ITEMS])
def test_each_turn_ends_once_after_the_caller_finished(item: CorpusItem) -> None:
    audio = rendered(item)
    ends = [e for _, e in run(audio) if isinstance(e, SpeechEnded)]
    assert len(ends) == 1, ends  # a pause inside the turn never ended it (no cut-off)
    end = ends[0]
    assert end.at_ms > audio.speech_end_ms
    # Closed answers and complete digit strings end within 250 ms of the end of the sound (VAD
    # hangover included); free speech within 450 ms; the backstop is 600 ms of VAD silence.
    budget = 450.0 if item.answer == "free" else 250.0
    if item.noise:
        budget += 120.0  # the VAD hears the noise as speech for a few frames after the words
    assert end.at_ms - audio.speech_end_ms <= budget, (end.reason, end.at_ms)


@needs_espeak
@pytest.mark.parametrize("name", ["ko_yes", "ko_no", "ko_pin", "en_yes", "ko_phone"])
def test_a_complete_closed_answer_ends_on_the_short_silence_after_a_likely_end(name: str) -> None:
    item = next(i for i in ITEMS if i.name == name)
    events = [e for _, e in run(rendered(item))]
    kinds = [type(e) for e in events]
    assert kinds.count(LikelyEnd) == 1 and TurnResumed not in kinds
    assert kinds.index(LikelyEnd) < kinds.index(SpeechEnded)
    end = next(e for e in events if isinstance(e, SpeechEnded))
    assert end.reason == "complete"


@needs_espeak
def test_a_digit_string_short_of_its_length_holds_through_the_pauses_between_groups() -> None:
    item = next(i for i in ITEMS if i.name == "ko_card")  # a pause of 800 ms after 4 of 8 digits
    plain = TurnEndDecider(Endpointer(EndpointingConfig()))
    # Without knowing the length, the 800 ms pause ends the turn (the old behaviour's cut-off).
    blind = Expectation(AnswerKind.FREE, language="ko")
    plain.expect(blind)
    vad = VoiceActivityDetector(8000, 2, FRAME_MS)
    ends = [e for i, pcm in enumerate(frames(rendered(item).pcm))
            for e in plain.process(vad.is_speech(pcm), i * FRAME_MS) if isinstance(e, SpeechEnded)]
    assert len(ends) == 2
    # Knowing it, the turn is one.
    assert [e for _, e in run(rendered(item)) if isinstance(e, SpeechEnded)][0].reason == "complete"


@needs_espeak
def test_a_partial_that_lags_is_a_later_end_not_a_cut_off() -> None:
    item = next(i for i in ITEMS if i.name == "ko_phone")
    audio = rendered(item)
    ends = [e for _, e in run(audio, lag_ms=400) if isinstance(e, SpeechEnded)]
    assert len(ends) == 1 and ends[0].at_ms > audio.speech_end_ms


def feed(decider: TurnEndDecider, script: str, t0: float = 0.0) -> list[TurnEvent]:
    """``#`` a speech frame, ``.`` a silent one, from ``t0``."""
    out: list[TurnEvent] = []
    for i, ch in enumerate(script):
        out += decider.process(ch == "#", t0 + i * FRAME_MS)
    return out


def test_an_eager_end_taken_back_when_the_caller_goes_on() -> None:
    decider = TurnEndDecider(Endpointer(EndpointingConfig()))
    decider.expect(Expectation.from_grammar(("네", "아니요"), "ko"))
    events = feed(decider, "#" * 10)
    decider.partial("네")
    events += feed(decider, "......####", t0=200)  # 120 ms of silence, then speech again
    kinds = [type(e) for e in events]
    assert kinds.count(LikelyEnd) == 1
    assert kinds.index(TurnResumed) > kinds.index(LikelyEnd)
    assert SpeechEnded not in kinds
    resumed = next(e for e in events if isinstance(e, TurnResumed))
    likely = next(e for e in events if isinstance(e, LikelyEnd))
    # Taken back on the first speech frame: within one frame of the caller going on.
    assert resumed.at_ms - 320 <= FRAME_MS and likely.partial == "네"
    # The pause was learned as the caller's pace (120 ms is shorter than a pause that counts).
    assert len(decider.pace) == 0


def test_no_eager_end_when_turned_off() -> None:
    decider = TurnEndDecider(Endpointer(EndpointingConfig()), eager=False)
    decider.expect(Expectation.from_grammar(("yes", "no"), "en"))
    feed(decider, "#" * 10)
    decider.partial("yes")
    events = feed(decider, "." * 12, t0=200)
    assert [type(e) for e in events] == [SpeechEnded]


def test_free_speech_silence_follows_the_callers_pace() -> None:
    decider = TurnEndDecider(Endpointer(EndpointingConfig(end_silence_ms=800)), eager=False)
    decider.expect(Expectation.free("en"))
    feed(decider, "#" * 20)
    decider.partial("book a table")
    assert decider.plan().reason == "free" and decider.plan().silence_ms == 360
    feed(decider, "." * 15 + "#" * 10, t0=400)  # a 300 ms pause, then more words
    assert decider.pace.longest == 300
    assert decider.plan().reason == "paced" and decider.plan().silence_ms == 375
    # A turn ended, and the caller went on 500 ms after its last word: a cut-off, learned.
    events = feed(decider, "." * 19, t0=900)
    assert [type(e) for e in events] == [SpeechEnded]
    feed(decider, "." * 6 + "#" * 5, t0=1280)
    assert decider.pace.longest == 1400 - 900  # onset of the new speech - end of the last
    assert decider.plan().reason == "nothing"  # the new turn has no words yet
    decider.partial("at seven")
    assert decider.plan() == SilencePlan(500 * 1.25, "paced")


def test_a_pause_after_a_hesitation_is_not_the_callers_pace() -> None:
    decider = TurnEndDecider(Endpointer(EndpointingConfig()))
    decider.expect(Expectation.free("en"))
    feed(decider, "#" * 20)
    decider.partial("I'd like to")
    events = feed(decider, "." * 35 + "#" * 10, t0=400)  # 700 ms, longer than the backstop
    assert not [e for e in events if isinstance(e, SpeechEnded)]
    assert len(decider.pace) == 0


@pytest.mark.parametrize(("expect", "partial", "state"), [
    (Expectation.from_grammar(("네", "아니요"), "ko"), "네", Completeness.COMPLETE),
    (Expectation.from_grammar(("네", "아니요"), "ko"), "", Completeness.NOTHING),
    (Expectation.from_grammar(("네", "아니요"), "ko"), "[unk] 아니요", Completeness.COMPLETE),
    (Expectation.from_grammar(("yes", "yes please"), "en"), "yes", Completeness.OPEN),
    (Expectation.from_grammar(("yes please", "no"), "en"), "yes", Completeness.UNFINISHED),
    (Expectation.from_grammar(("yes", "no"), "en"), "uh", Completeness.UNFINISHED),
    (Expectation.from_grammar(tuple("공일이삼사오육칠팔구"), "ko", min_digits=4, max_digits=4),
     "일 이 삼", Completeness.UNFINISHED),
    (Expectation.from_grammar(tuple("공일이삼사오육칠팔구"), "ko", min_digits=4, max_digits=4),
     "일 이 삼 사", Completeness.COMPLETE),
    (Expectation.from_grammar(tuple("공일이삼사오육칠팔구"), "ko"), "일 이", Completeness.OPEN),
    (Expectation.free("ko"), "예약하고 싶어요", Completeness.COMPLETE),
    (Expectation.free("ko"), "저는 예약하고", Completeness.OPEN),
    (Expectation.free("ko"), "저는 음", Completeness.UNFINISHED),
    (Expectation.free("en"), "I'd like to", Completeness.UNFINISHED),
    (Expectation.free("en"), "book a table", Completeness.OPEN),
])
def test_completeness(expect: Expectation, partial: str, state: Completeness) -> None:
    assert completeness(expect, partial) is state


def test_expectation_from_a_listen() -> None:
    assert Expectation.from_grammar(None, "ko").kind is AnswerKind.FREE
    assert Expectation.from_grammar(("one", "two", "oh"), "en").kind is AnswerKind.DIGITS
    assert Expectation.from_grammar(("예약", "취소"), "ko").kind is AnswerKind.CLOSED


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        TurnEndConfig(complete_silence_ms=0)
    with pytest.raises(ConfigError):
        TurnEndConfig(pace_factor=0.5)


def test_a_closed_answer_not_yet_in_the_partial_ends_on_a_moderate_silence() -> None:
    decider = TurnEndDecider(Endpointer(EndpointingConfig()))
    decider.expect(Expectation.from_grammar(("네", "아니요"), "ko"))
    feed(decider, "#" * 10)
    assert decider.plan() == SilencePlan(250, "closed")  # the partial lags the audio
    decider.partial("네")
    assert decider.plan() == SilencePlan(160, "complete")
    decider.expect(Expectation.from_grammar(tuple("공일이삼사오육칠팔구"), "ko", min_digits=4))
    decider.partial("")
    assert decider.plan().reason == "nothing"  # not for digits: groups come with pauses


def test_one_word_of_free_speech_waits_the_full_silence() -> None:
    decider = TurnEndDecider(Endpointer(EndpointingConfig()))
    decider.expect(Expectation.free("ko"))
    decider.partial("내일")
    assert decider.plan() == SilencePlan(600, "short")
    decider.partial("저는 내일 예약하고 싶어요")
    assert decider.plan() == SilencePlan(160, "complete")
    decider.partial("저는 내일 예약")
    assert decider.plan() == SilencePlan(360, "free")


def test_free_speech_has_a_likely_end_announced_again_when_the_partial_grows() -> None:
    decider = TurnEndDecider(Endpointer(EndpointingConfig()))
    decider.expect(Expectation.free("en"))
    feed(decider, "#" * 20)
    decider.partial("a table")
    events = feed(decider, "." * 7, t0=400)  # 140 ms of silence: the plan is 360 ms ("free")
    assert [type(e) for e in events] == [LikelyEnd]
    assert isinstance(events[0], LikelyEnd) and events[0].partial == "a table"
    assert feed(decider, ".", t0=540) == []  # once per partial
    decider.partial("a table for two")  # the recogniser catches up in the silence
    events = feed(decider, ".", t0=560)
    assert [e.partial for e in events if isinstance(e, LikelyEnd)] == ["a table for two"]
    events = feed(decider, "." * 12, t0=580)
    assert [type(e) for e in events] == [SpeechEnded]


def test_no_likely_end_while_nothing_is_recognised_or_the_answer_is_unfinished() -> None:
    for partial in ("", "i'd like to"):
        decider = TurnEndDecider(Endpointer(EndpointingConfig()))
        decider.expect(Expectation.free("en"))
        feed(decider, "#" * 20)
        decider.partial(partial)
        events = feed(decider, "." * 20, t0=400)
        assert not any(isinstance(e, LikelyEnd) for e in events)


def test_free_speech_ending_falling_ends_on_a_short_silence_and_rising_holds() -> None:
    decider = TurnEndDecider(Endpointer(EndpointingConfig()))
    decider.expect(Expectation.free("ko"))
    feed(decider, "#" * 20)
    decider.partial("내일 오후 세 시에")
    assert decider.plan() == SilencePlan(360, "free")  # no tune heard yet
    decider.intonation(Contour.FALLING)
    assert decider.plan() == SilencePlan(200, "final")
    decider.intonation(Contour.RISING)
    assert decider.plan() == SilencePlan(800, "continuing")  # past the backstop
    decider.partial("예약하고 싶어요")  # a sentence ending the recogniser may have made up
    assert decider.plan().reason == "continuing"
    decider.partial("저는 음")
    assert decider.plan().reason == "unfinished"  # the words still say more than the tune
    decider.partial("내일")
    decider.intonation(Contour.FALLING)
    assert decider.plan().reason == "short"  # one word waits the backstop, whatever its tune
    decider.intonation(Contour.LEVEL)
    decider.partial("내일 오후 세 시에")
    assert decider.plan() == SilencePlan(360, "free")


def test_a_pause_held_for_a_rising_voice_is_not_the_callers_pace() -> None:
    decider = TurnEndDecider(Endpointer(EndpointingConfig()))
    decider.expect(Expectation.free("en"))
    feed(decider, "#" * 20)
    decider.partial("a table for two")
    decider.intonation(Contour.RISING)
    events = feed(decider, "." * 35 + "#" * 10, t0=400)  # 700 ms, longer than the backstop
    assert not [e for e in events if isinstance(e, SpeechEnded)]
    assert len(decider.pace) == 0
    decider.intonation(Contour.FALLING)
    feed(decider, "." * 5 + "#" * 10, t0=1300)  # 100 ms: a gap between words, not a pause
    assert len(decider.pace) == 0
    # The pace learned elsewhere raises the short silence after a falling voice too.
    decider.pace.pause(400)
    decider.intonation(Contour.FALLING)
    assert decider.plan() == SilencePlan(500, "paced")


def test_the_tune_is_for_free_speech_only_and_can_be_turned_off() -> None:
    decider = TurnEndDecider(Endpointer(EndpointingConfig()))
    decider.expect(Expectation.from_grammar(("네", "아니요"), "ko"))
    feed(decider, "#" * 10)
    decider.partial("네")
    decider.intonation(Contour.RISING)
    assert decider.plan() == SilencePlan(160, "complete")
    off = TurnEndDecider(Endpointer(EndpointingConfig()), TurnEndConfig(intonation=False))
    off.expect(Expectation.free("en"))
    off.partial("a table for two")
    off.intonation(Contour.FALLING)
    assert off.plan() == SilencePlan(360, "free")
    off.intonation(Contour.RISING)
    assert off.plan() == SilencePlan(360, "free")
    with pytest.raises(ConfigError):
        TurnEndConfig(final_silence_ms=0)


def test_a_new_turn_forgets_the_last_ones_tune() -> None:
    decider = TurnEndDecider(Endpointer(EndpointingConfig()))
    decider.expect(Expectation.free("en"))
    feed(decider, "#" * 20)
    decider.intonation(Contour.FALLING)
    decider.partial("a table for two")
    assert any(isinstance(e, SpeechEnded) for e in feed(decider, "." * 12, t0=400))
    feed(decider, "." * 100 + "#" * 10, t0=640)
    decider.partial("tomorrow evening")
    assert decider.plan() == SilencePlan(360, "free")


@needs_espeak
@pytest.mark.parametrize("name", ["ko_free_phrase", "en_free_phrase", "ko_free_phrase+noise"])
def test_a_sentence_paused_after_a_phrase_is_cut_without_its_tune(name: str) -> None:
    """The corpus's pause after a whole phrase: only the rising voice before it keeps the turn
    whole (the words are complete, and the pause is longer than free speech's silence)."""
    audio = rendered(next(i for i in ITEMS if i.name == name))
    with_tune = [e for _, e in run(audio) if isinstance(e, SpeechEnded)]
    without = [e for _, e in run(audio, tune=False) if isinstance(e, SpeechEnded)]
    assert len(with_tune) == 1 and len(without) == 2
    assert with_tune[0].reason in {"final", "complete"}
    assert with_tune[0].at_ms - audio.speech_end_ms <= 300


def test_a_pause_before_any_syllable_is_not_the_callers_pace() -> None:
    decider = TurnEndDecider(Endpointer(EndpointingConfig()))
    decider.expect(Expectation.free("en"))
    feed(decider, "#" * 5)  # the line's noise starting, as the VAD hears it: no syllable in it
    decider.syllables(0)  # (the listener gives the count every frame of a turn)
    feed(decider, "." * 12 + "#" * 10, t0=100)  # 240 ms, then the words
    assert len(decider.pace) == 0
    decider.syllables(3)
    feed(decider, "." * 12 + "#" * 10, t0=540)  # the same pause after words
    assert decider.pace.longest == 240
