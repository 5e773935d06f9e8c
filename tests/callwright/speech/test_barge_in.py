from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwright.errors import ConfigError
from callwright.speech.barge_in import (
    BargeInConfig,
    BargeInDetector,
    BargeInState,
    Decision,
    Interrupt,
    Pause,
    Resume,
)

DetectorFactory = Callable[..., BargeInDetector]


@pytest.fixture
def make_detector() -> DetectorFactory:
    def make(**overrides: float | bool) -> BargeInDetector:
        return BargeInDetector(BargeInConfig(**overrides))  # type: ignore[arg-type]

    return make


def feed(det: BargeInDetector, pattern: str, t0: float = 0.0) -> list[Decision]:
    """One 20 ms frame per character: 'S' speech, '.' silence."""
    decisions: list[Decision] = []
    for i, c in enumerate(pattern):
        decisions += det.process(c == "S", t0 + i * 20.0)
    return decisions


def test_noise_burst_pauses_then_resumes(make_detector: DetectorFactory) -> None:
    det = make_detector(start_ms=60, min_speech_ms=200, resume_after_ms=300)
    decisions = feed(det, "S" * 5 + "." * 30)  # 100 ms burst
    assert decisions == [Pause(0.0, 60.0), Resume(0.0, 400.0)]
    assert det.state is BargeInState.LISTENING


def test_resume_waits_for_resume_after_ms(make_detector: DetectorFactory) -> None:
    det = make_detector(resume_after_ms=300)
    feed(det, "S" * 5)
    assert feed(det, "." * 14, t0=100.0) == []  # 280 ms of silence
    assert det.state is BargeInState.PAUSED
    assert det.process(False, 380.0) == [Resume(0.0, 400.0)]


def test_sustained_speech_pauses_then_interrupts(make_detector: DetectorFactory) -> None:
    det = make_detector(start_ms=60, min_speech_ms=200)
    decisions = feed(det, "S" * 20)  # 400 ms
    assert decisions == [Pause(0.0, 60.0), Interrupt(0.0, 200.0)]
    assert det.state is BargeInState.INTERRUPTED
    assert feed(det, "S" * 10 + "." * 40, t0=400.0) == []  # nothing more until reset


def test_short_gaps_do_not_break_the_speech_nor_count(make_detector: DetectorFactory) -> None:
    det = make_detector(min_speech_ms=200, resume_after_ms=300)
    decisions = feed(det, "SSSS" + "." * 5 + "SSSSSS")  # 80 ms + 100 ms gap + 120 ms
    assert decisions == [Pause(0.0, 60.0), Interrupt(0.0, 300.0)]


def test_cough_gap_cough_is_not_an_interruption(make_detector: DetectorFactory) -> None:
    det = make_detector(min_speech_ms=200, resume_after_ms=300)
    decisions = feed(det, "SSSSS" + "." * 5 + "SSSS" + "." * 20)  # 100 + 80 ms of sound
    assert decisions == [Pause(0.0, 60.0), Resume(0.0, 580.0)]


def test_blip_shorter_than_start_ms_does_nothing(make_detector: DetectorFactory) -> None:
    det = make_detector(start_ms=60)
    assert feed(det, "SS." * 30) == []
    assert det.state is BargeInState.LISTENING


def test_require_partial_speech_alone_never_interrupts(make_detector: DetectorFactory) -> None:
    det = make_detector(require_partial=True, min_speech_ms=200, resume_after_ms=300)
    decisions = feed(det, "S" * 100)
    assert decisions == [Pause(0.0, 60.0)]
    assert det.on_partial("", 2000.0) == []
    assert det.on_partial("   ", 2000.0) == []
    assert feed(det, "." * 15, t0=2000.0) == [Resume(0.0, 2300.0)]
    assert det.on_partial("hello", 2300.0) == []  # too late: already resumed


def test_require_partial_interrupts_when_the_partial_comes(make_detector: DetectorFactory) -> None:
    det = make_detector(require_partial=True, min_speech_ms=200)
    feed(det, "S" * 15)  # 300 ms
    assert det.on_partial(" wait ", 310.0) == [Interrupt(0.0, 310.0, "wait")]
    assert det.state is BargeInState.INTERRUPTED


def test_early_partial_interrupts_once_min_speech_is_reached(
    make_detector: DetectorFactory,
) -> None:
    det = make_detector(require_partial=True, min_speech_ms=200)
    feed(det, "S" * 5)
    assert det.on_partial("no", 100.0) == []
    assert feed(det, "S" * 10, t0=100.0) == [Interrupt(0.0, 200.0, "no")]


def test_disabled_decides_nothing(make_detector: DetectorFactory) -> None:
    det = make_detector(enabled=False)
    assert feed(det, "S" * 50 + "." * 50) == []
    assert det.on_partial("stop", 1000.0) == []
    assert det.state is BargeInState.LISTENING


def test_reset_starts_over(make_detector: DetectorFactory) -> None:
    det = make_detector()
    feed(det, "S" * 20)
    det.reset()
    assert det.state is BargeInState.LISTENING
    assert feed(det, "S" * 3, t0=0.0) == [Pause(0.0, 60.0)]  # time may restart after reset


def test_time_must_not_go_backwards(make_detector: DetectorFactory) -> None:
    det = make_detector()
    det.process(False, 100.0)
    with pytest.raises(ValueError):
        det.process(False, 80.0)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"start_ms": -1.0}, "barge_in.start_ms"),
        ({"min_speech_ms": -1.0}, "barge_in.min_speech_ms"),
        ({"resume_after_ms": 0.0}, "barge_in.resume_after_ms"),
    ],
)
def test_bad_config_names_its_key(overrides: dict[str, float], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        BargeInConfig(**overrides)  # type: ignore[arg-type]
    assert caught.value.key == key


@settings(max_examples=300, deadline=None)
@given(
    speech=st.lists(st.booleans(), max_size=200),
    partials=st.dictionaries(st.integers(0, 199), st.sampled_from(["", "yes", " "])),
    require_partial=st.booleans(),
)
def test_property_decisions_follow_the_grammar(
    speech: list[bool], partials: dict[int, str], require_partial: bool
) -> None:
    config = BargeInConfig(require_partial=require_partial)
    det = BargeInDetector(config)
    decisions: list[Decision] = []
    for i, is_speech in enumerate(speech):
        decisions += det.process(is_speech, i * 20.0)
        if i in partials:
            decisions += det.on_partial(partials[i], i * 20.0 + 20.0)
    paused = False
    last_at = -1.0
    for n, d in enumerate(decisions):
        assert d.at_ms >= last_at
        last_at = d.at_ms
        if isinstance(d, Pause):
            assert not paused
            paused = True
        else:
            assert paused
            paused = False
            if isinstance(d, Interrupt):
                assert n == len(decisions) - 1  # nothing after an interruption
                assert d.at_ms - d.onset_ms >= config.min_speech_ms
                assert bool(d.text) or not require_partial
    if decisions and isinstance(decisions[-1], Interrupt):
        assert det.state is BargeInState.INTERRUPTED
    elif paused:
        assert det.state is BargeInState.PAUSED
    else:
        assert det.state is BargeInState.LISTENING


def test_a_shorter_start_for_a_frame_pauses_on_the_first_speech_frame() -> None:
    quick = BargeInDetector(BargeInConfig(start_ms=60.0))
    [pause] = quick.process(True, 100.0, start_ms=20.0)
    assert isinstance(pause, Pause) and pause.at_ms == 120.0
    usual = BargeInDetector(BargeInConfig(start_ms=60.0))
    assert usual.process(True, 100.0) == [] and usual.process(True, 120.0) == []
    assert isinstance(usual.process(True, 140.0)[0], Pause)
