"""Silero VAD beside the WebRTC VAD on the sounds a caller's line carries: clean speech, speech
under line hiss and under office noise, coughs, and hiss or office noise alone.

Each clip goes frame by frame (20 ms, 8 kHz) through the detector as the call builds it
(:func:`callwright.speech.silero_vad.detector`: WebRTC aggressiveness 2 or Silero threshold 0.5,
both with the -50 dBFS energy floor, each also with the noise margin of
:data:`~callwright.speech.silero_vad.BENCH_NOISE_MARGIN_DB`, off for calls for now) and the
call's :class:`~callwright.speech.endpointing.Endpointer` with its default settings (an onset
after 60 ms of speech, noise under 150 ms discarded). Speech comes from the turn-taking corpus
(:mod:`bench.turn_corpus`, Korean and English espeak-ng, true onset and end known from the
rendering); the noises and coughs are synthetic
(:func:`bench.turn_corpus.hiss`, :func:`~bench.turn_corpus.office_noise`,
:func:`~bench.turn_corpus.cough`, seeded). Per detector and condition:

* ``false_starts``: onsets (SpeechStarted) where nobody speaks: in the noise-only clips, or more
  than 40 ms before the words in a speech clip; ``false_turns``: those that lasted long enough to
  become a caller turn (SpeechEnded, not discarded as noise);
* ``missed_onsets``: speech clips with no onset within 500 ms of the first word;
* ``onset_ms``: the first word's sound → SpeechStarted (what starts recognition and barge-in);
* ``end_lag_ms``: the end of the words → the end of the last speech frame (the VAD's hangover,
  which every end-of-turn silence is counted from);
* ``cpu_ms_per_audio_s``: the detector's CPU per second of audio (process time, one thread).

Audio time only: the figures do not depend on the machine's load, except the CPU.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.report import save, summarize
from bench.turn_corpus import (
    LEAD_MS,
    NOISE_DBFS,
    RATE,
    CorpusItem,
    corpus,
    cough,
    frames,
    hiss,
    office_noise,
    render,
)
from callwright.speech.endpointing import (
    Endpointer,
    EndpointingConfig,
    SpeechEnded,
    SpeechStarted,
)
from callwright.speech.silero_vad import (
    BENCH_NOISE_MARGIN_DB,
    SHARED_SILERO,
    FrameVad,
    detector,
)

#: Office noise level under speech, and the noise-only levels (RMS dBFS).
OFFICE_UNDER_SPEECH_DBFS = -34.0
NOISE_ONLY_DBFS = (-42.0, -36.0, -30.0)
COUGHS = 16
#: An onset this long before the words is not theirs.
EARLY_MS = 40.0
#: No onset this long after the words began: missed.
MISSED_MS = 500.0
#: The line as the detector hears it before the clip (during the greeting, in a call): the same
#: noise, fed to the detector and not counted.
WARM_UP_MS = 1500


@dataclass(slots=True)
class Clip:
    name: str
    pcm: bytes
    onset_ms: float | None = None  # None: no speech in it
    end_ms: float | None = None
    warm_up: bytes = b""           # heard before the clip, not counted


def pcm_of(signal: np.ndarray) -> bytes:
    return bytes(np.clip(np.round(signal), -32768, 32767).astype("<i2").tobytes())


def speech_clips(items: list[CorpusItem], under: str, seed: int = 16) -> list[Clip]:
    clips = []
    rng = np.random.default_rng(seed)
    warm = RATE * WARM_UP_MS // 1000
    for item in items:
        rendered = render(item.noisy() if under == "hiss" else item)
        pcm = rendered.pcm
        before = np.zeros(warm)
        if under == "office":
            signal = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
            pcm = pcm_of(signal + office_noise(signal.size, OFFICE_UNDER_SPEECH_DBFS, rng))
            before = office_noise(warm, OFFICE_UNDER_SPEECH_DBFS, rng)
        elif under == "hiss":
            before = hiss(warm, NOISE_DBFS, rng)
        clips.append(Clip(f"{item.name}@{under}", pcm, float(LEAD_MS), rendered.speech_end_ms,
                          pcm_of(before)))
    return clips


def noise_clips(seed: int = 17) -> dict[str, list[Clip]]:
    rng = np.random.default_rng(seed)
    two_s, warm = RATE * 2, RATE * WARM_UP_MS // 1000
    out: dict[str, list[Clip]] = {"hiss_only": [], "office_only": [], "coughs": []}
    for level in NOISE_ONLY_DBFS:
        for n in range(2):
            out["hiss_only"].append(Clip(f"hiss{level:g}#{n}", pcm_of(hiss(two_s, level, rng)),
                                         warm_up=pcm_of(hiss(warm, level, rng))))
            out["office_only"].append(Clip(
                f"office{level:g}#{n}", pcm_of(office_noise(two_s, level, rng)),
                warm_up=pcm_of(office_noise(warm, level, rng))))
    for n in range(COUGHS):
        burst = cough(rng)
        lead, tail = np.zeros(RATE * LEAD_MS // 1000), np.zeros(RATE * 1200 // 1000)
        signal = np.concatenate((lead, burst, tail))
        signal = signal + hiss(signal.size, -55.0, rng)  # a line is never digitally silent
        out["coughs"].append(Clip(f"cough#{n}", pcm_of(signal),
                                  warm_up=pcm_of(hiss(warm, -55.0, rng))))
    return out


@dataclass(slots=True)
class Run:
    starts: list[SpeechStarted]
    turns: int
    last_speech_end_ms: float | None
    cpu_s: float
    audio_s: float


def run_clip(make: Callable[[], FrameVad], clip: Clip) -> Run:
    vad = make()
    for pcm in frames(clip.warm_up):
        vad.is_speech(pcm)
    endpointer = Endpointer(EndpointingConfig())
    starts: list[SpeechStarted] = []
    turns = 0
    last_end: float | None = None
    cpu = 0.0
    t = 0.0
    for i, pcm in enumerate(frames(clip.pcm)):
        t = i * 20.0
        c0 = time.process_time()
        speech = vad.is_speech(pcm)
        cpu += time.process_time() - c0
        if speech:
            last_end = t + 20.0
        for event in endpointer.process(speech, t):
            if isinstance(event, SpeechStarted):
                starts.append(event)
            elif isinstance(event, SpeechEnded):
                turns += 1
    for event in endpointer.finish(t + 20.0):
        turns += isinstance(event, SpeechEnded)
    return Run(starts, turns, last_end, cpu, len(clip.pcm) / 2 / RATE)


def measure(make: Callable[[], FrameVad], clips: list[Clip]) -> dict[str, Any]:
    runs = [(clip, run_clip(make, clip)) for clip in clips]
    cpu = sum(r.cpu_s for _, r in runs)
    audio = sum(r.audio_s for _, r in runs)
    figures: dict[str, Any] = {"clips": len(clips)}
    if clips[0].onset_ms is None:
        figures["false_starts"] = sum(len(r.starts) for _, r in runs)
        figures["false_turns"] = sum(r.turns for _, r in runs)
        figures["clips_with_a_false_start"] = sum(1 for _, r in runs if r.starts)
    else:
        onsets, ends, early, missed = [], [], 0, []
        for clip, r in runs:
            assert clip.onset_ms is not None and clip.end_ms is not None
            early += sum(1 for s in r.starts if s.onset_ms < clip.onset_ms - EARLY_MS)
            theirs = [s for s in r.starts if s.onset_ms >= clip.onset_ms - EARLY_MS]
            if not theirs or theirs[0].at_ms - clip.onset_ms > MISSED_MS:
                missed.append(clip.name)
            else:
                onsets.append(theirs[0].at_ms - clip.onset_ms)
            if r.last_speech_end_ms is not None:
                ends.append(r.last_speech_end_ms - clip.end_ms)
        figures.update({
            "false_starts": early, "missed_onsets": len(missed), "missed": missed,
            "onset_ms": summarize(onsets), "end_lag_ms": summarize(ends),
        })
    figures["cpu_ms_per_audio_s"] = round(cpu / audio * 1000.0, 3) if audio else None
    return figures


def run() -> dict[str, Any]:
    SHARED_SILERO.load()  # at start-up, as the service does
    margin = BENCH_NOISE_MARGIN_DB
    detectors: dict[str, Callable[[], FrameVad]] = {
        "webrtc": lambda: detector("webrtc", RATE, 2, 20),
        "silero": lambda: detector("silero", RATE, 2, 20),
        "webrtc_noise_margin": lambda: detector("webrtc", RATE, 2, 20, noise_margin_db=margin),
        "silero_noise_margin": lambda: detector("silero", RATE, 2, 20, noise_margin_db=margin),
    }
    items = corpus(noise=False)
    conditions: dict[str, list[Clip]] = {
        "clean_speech": speech_clips(items, "clean"),
        "speech_under_hiss": speech_clips(items, "hiss"),
        "speech_under_office_noise": speech_clips(items, "office"),
        **noise_clips(),
    }
    results: dict[str, Any] = {}
    for name, make in detectors.items():
        results[name] = {cond: measure(make, clips) for cond, clips in conditions.items()}
    return results


def main(argv: list[str]) -> int:
    del argv
    figures = run()
    figures["conditions"] = (
        "audio time, 20 ms frames at 8 kHz through detector() and the default Endpointer; "
        f"speech: bench.turn_corpus ({len(corpus(noise=False))} items, ko+en espeak-ng), clean, "
        "under its -42 dBFS line hiss, under office noise at "
        f"{OFFICE_UNDER_SPEECH_DBFS:g} dBFS; noise only: 2 s of hiss or office noise at "
        f"{', '.join(f'{x:g}' for x in NOISE_ONLY_DBFS)} dBFS; {COUGHS} synthetic coughs over "
        f"-55 dBFS hiss (bench.turn_corpus.cough); before each clip the detector hears "
        f"{WARM_UP_MS} ms of the same line (not counted), as during a greeting; CPU is process "
        "time of is_speech alone (warm-up excluded)")
    figures["loadavg_1min"] = round(os.getloadavg()[0], 1)
    save("vad_compare", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
