from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwright.errors import ConfigError
from callwright.speech.endpointing import (
    LEGAL_TRANSITIONS,
    Endpointer,
    EndpointEvent,
    EndpointingConfig,
    EndpointState,
    NoiseDiscarded,
    PreRollBuffer,
    SpeechEnded,
    SpeechStarted,
    pre_roll_keep_ms,
)

Q, ST, SP, STOP = (
    EndpointState.QUIET,
    EndpointState.STARTING,
    EndpointState.SPEAKING,
    EndpointState.STOPPING,
)
EndpointerFactory = Callable[..., Endpointer]


@pytest.fixture
def make_endpointer() -> EndpointerFactory:
    def make(**overrides: float) -> Endpointer:
        return Endpointer(EndpointingConfig(**overrides))

    return make


def feed(ep: Endpointer, pattern: str, t0: float = 0.0) -> list[EndpointEvent]:
    """Feed one 20 ms frame per character: 'S' speech, '.' silence."""
    events: list[EndpointEvent] = []
    for i, c in enumerate(pattern):
        events += ep.process(c == "S", t0 + i * 20.0)
    return events


def test_silence_gives_nothing(make_endpointer: EndpointerFactory) -> None:
    ep = make_endpointer()
    assert feed(ep, "." * 100) == []
    assert ep.state is Q


def test_onset_is_confirmed_after_start_ms(make_endpointer: EndpointerFactory) -> None:
    ep = make_endpointer(start_ms=60)
    assert feed(ep, "...") == []
    assert ep.process(True, 60.0) == []
    assert ep.state is ST
    assert ep.process(True, 80.0) == []
    assert ep.process(True, 100.0) == [SpeechStarted(onset_ms=60.0, at_ms=120.0)]
    assert ep.state is SP and ep.in_turn


def test_blip_shorter_than_start_ms_is_ignored(make_endpointer: EndpointerFactory) -> None:
    ep = make_endpointer(start_ms=60)
    assert feed(ep, "SS." * 20) == []
    assert ep.state is Q


def test_turn_ends_after_end_silence(make_endpointer: EndpointerFactory) -> None:
    ep = make_endpointer(start_ms=60, end_silence_ms=600)
    events = feed(ep, "S" * 50 + "." * 29)
    assert events == [SpeechStarted(0.0, 60.0)]
    assert ep.state is STOP
    assert ep.process(False, 79 * 20.0) == [SpeechEnded(0.0, 1000.0, False, 1600.0)]
    assert ep.state is Q


def test_short_pauses_stay_inside_one_turn(make_endpointer: EndpointerFactory) -> None:
    ep = make_endpointer(end_silence_ms=600)
    events = feed(ep, "S" * 20 + "." * 15 + "S" * 20 + "." * 30)
    assert events == [SpeechStarted(0.0, 60.0), SpeechEnded(0.0, 1100.0, False, 1700.0)]


def test_turn_shorter_than_min_speech_is_discarded(make_endpointer: EndpointerFactory) -> None:
    ep = make_endpointer(start_ms=60, min_speech_ms=150, end_silence_ms=600)
    events = feed(ep, "S" * 5 + "." * 30)
    assert events == [SpeechStarted(0.0, 60.0), NoiseDiscarded(0.0, 100.0, 700.0)]
    assert ep.state is Q


def test_max_turn_forces_an_end_and_a_new_turn_follows(make_endpointer: EndpointerFactory) -> None:
    ep = make_endpointer(max_turn_ms=2000, start_ms=60)
    events = feed(ep, "S" * 110)
    assert events[:2] == [SpeechStarted(0.0, 60.0), SpeechEnded(0.0, 2000.0, True, 2000.0)]
    assert events[2] == SpeechStarted(2000.0, 2060.0)
    assert len(events) == 3
    assert ep.state is SP


def test_zero_start_ms_confirms_on_the_first_frame(make_endpointer: EndpointerFactory) -> None:
    ep = make_endpointer(start_ms=0)
    assert ep.process(True, 0.0) == [SpeechStarted(0.0, 20.0)]
    assert ep.state is SP


def test_finish_closes_an_open_turn(make_endpointer: EndpointerFactory) -> None:
    ep = make_endpointer()
    feed(ep, "S" * 30)
    assert ep.finish(700.0) == [SpeechEnded(0.0, 600.0, True, 700.0)]
    assert ep.state is Q
    assert ep.finish(800.0) == []
    feed(ep, "SS", t0=900.0)
    assert ep.finish(950.0) == []  # only a candidate onset: nothing to close
    assert ep.state is Q


def test_reset_forgets_the_turn(make_endpointer: EndpointerFactory) -> None:
    ep = make_endpointer()
    feed(ep, "S" * 30)
    ep.reset()
    assert ep.state is Q
    assert feed(ep, "." * 40) == []


def test_time_must_not_go_backwards(make_endpointer: EndpointerFactory) -> None:
    ep = make_endpointer()
    ep.process(True, 100.0)
    ep.process(True, 100.0)  # equal is fine
    with pytest.raises(ValueError):
        ep.process(True, 80.0)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"start_ms": -1}, "endpointing.start_ms"),
        ({"end_silence_ms": 0}, "endpointing.end_silence_ms"),
        ({"min_speech_ms": -5}, "endpointing.min_speech_ms"),
        ({"max_turn_ms": 50, "start_ms": 60}, "endpointing.max_turn_ms"),
        ({"pre_roll_ms": -1}, "endpointing.pre_roll_ms"),
    ],
)
def test_bad_config_names_its_key(overrides: dict[str, float], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        EndpointingConfig(**overrides)
    assert caught.value.key == key


def test_pre_roll_buffer_hands_over_audio_from_before_onset() -> None:
    config = EndpointingConfig(start_ms=60, pre_roll_ms=100)
    ep = Endpointer(config)
    buf = PreRollBuffer(pre_roll_keep_ms(config))
    handed: bytes = b""
    for i, c in enumerate("." * 30 + "SSS"):
        t = i * 20.0
        buf.push(bytes([i]) * 4, t)
        for event in ep.process(c == "S", t):
            if isinstance(event, SpeechStarted):
                handed = buf.take_since(event.onset_ms - config.pre_roll_ms)
    # onset at frame 30 (600 ms): pre-roll covers frames 25..29, then the 3 onset frames
    assert handed == b"".join(bytes([i]) * 4 for i in range(25, 33))
    assert len(buf) == 0
    for i in range(100):
        buf.push(b"x", i * 20.0)
    assert len(buf) == 9  # (100 + 60 + 20) ms / 20 ms: bounded


# -- property test ------------------------------------------------------------------------------

configs = st.builds(
    EndpointingConfig,
    start_ms=st.sampled_from([0.0, 20.0, 60.0, 100.0]),
    end_silence_ms=st.sampled_from([20.0, 200.0, 600.0]),
    min_speech_ms=st.sampled_from([0.0, 150.0, 400.0]),
    max_turn_ms=st.sampled_from([400.0, 1000.0, 30_000.0]),
    pre_roll_ms=st.just(300.0),
)
frames = st.lists(st.tuples(st.booleans(), st.integers(min_value=1, max_value=3)), max_size=300)


@settings(max_examples=300, deadline=None)
@given(config=configs, steps=frames, finish=st.booleans())
def test_property_legal_transitions_and_paired_ordered_events(
    config: EndpointingConfig, steps: list[tuple[bool, int]], finish: bool
) -> None:
    ep = Endpointer(config)
    t = 0.0
    open_onset: float | None = None
    last_at = -1.0
    all_events: list[EndpointEvent] = []
    for is_speech, gap_frames in steps:
        before = ep.state
        events = ep.process(is_speech, t)
        after = ep.state
        assert before == after or (before, after) in LEGAL_TRANSITIONS, (before, after)
        all_events += events
        t += 20.0 * gap_frames
    if finish:
        all_events += ep.finish(t)
        assert ep.state is Q
    for event in all_events:
        assert event.at_ms >= last_at  # time order
        last_at = event.at_ms
        if isinstance(event, SpeechStarted):
            assert open_onset is None, "two starts without an end"
            assert event.onset_ms + config.start_ms <= event.at_ms
            open_onset = event.onset_ms
        else:
            assert open_onset is not None, "an end without its start"
            assert event.onset_ms == open_onset
            assert event.onset_ms < event.end_ms <= event.at_ms
            duration = event.end_ms - event.onset_ms
            if isinstance(event, NoiseDiscarded):
                assert duration < config.min_speech_ms
            else:
                assert duration >= config.min_speech_ms
                assert event.forced or event.at_ms - event.end_ms >= config.end_silence_ms
            open_onset = None
    assert (open_onset is not None) == ep.in_turn
