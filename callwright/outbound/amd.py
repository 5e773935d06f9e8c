"""Answering-machine detection from the callee's first seconds of audio (sans-IO), for PBXes
whose outbound dialplan runs no ``AMD()``.

It follows the decisions Asterisk's ``AMD()`` makes with its defaults (amd.md of the recorded
facts: initialSilence 2500, greeting 1500, afterGreetingSilence 800, totalAnalysisTime 5000,
minimumWordLength 100, betweenWordsSilence 50, maximumNumberOfWords 2, silenceThreshold 256)
and gives the same AMDSTATUS / AMDCAUSE forms:

* silence from the start for ``initial_silence_ms`` -> ``MACHINE`` ``INITIALSILENCE-<ms>-<limit>``;
* voice for ``greeting_ms`` in a row -> ``MACHINE`` ``LONGGREETING-<ms>-<limit>``;
* more than ``max_words`` words -> ``MACHINE`` ``MAXWORDS-<words>-<limit>``;
* a greeting followed by ``after_greeting_silence_ms`` of silence -> ``HUMAN``
  ``HUMAN-<ms>-<limit>`` (a person says "Hello?" and waits);
* nothing decided within ``total_ms`` (no frames at all, say) -> ``NOTSURE`` ``TOOLONG-<ms>``
  (Asterisk counted 4900 for its 5000 in the lab; here it is the time elapsed).

A frame is silent when its mean absolute sample value is under ``silence_threshold`` (PCM16).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class AmdResult:
    status: str  # "HUMAN", "MACHINE" or "NOTSURE"
    cause: str

    @property
    def machine(self) -> bool:
        return self.status == "MACHINE"


@dataclass(frozen=True, slots=True)
class AmdSettings:
    initial_silence_ms: int = 2500
    greeting_ms: int = 1500
    after_greeting_silence_ms: int = 800
    total_ms: int = 5000
    min_word_ms: int = 100
    between_words_silence_ms: int = 50
    max_words: int = 2
    silence_threshold: int = 256


class AmdDetector:
    def __init__(self, settings: AmdSettings | None = None, frame_ms: int = 20) -> None:
        self.s = settings or AmdSettings()
        self.frame_ms = frame_ms
        self.result: AmdResult | None = None
        self._heard_ms = 0
        self._silence_ms = 0
        self._voice_ms = 0
        self._consecutive_voice_ms = 0
        self._words = 0
        self._in_word = False
        self._in_initial_silence = True
        self._in_greeting = False

    def feed(self, pcm: bytes) -> AmdResult | None:
        """One frame of PCM16 LE; the result once decided (then it stays)."""
        if self.result is not None:
            return self.result
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
        level = float(np.mean(np.abs(samples.astype(np.int32)))) if samples.size else 0.0
        ms = self.frame_ms
        self._heard_ms += ms
        s = self.s
        if level < s.silence_threshold:
            self._silence_ms += ms
            self._consecutive_voice_ms = 0
            if self._silence_ms >= s.between_words_silence_ms and self._in_word:
                self._in_word = False
            if self._in_initial_silence and self._silence_ms >= s.initial_silence_ms:
                return self._decide("MACHINE", f"INITIALSILENCE-{self._silence_ms}-"
                                               f"{s.initial_silence_ms}")
            if self._in_greeting and self._silence_ms >= s.after_greeting_silence_ms:
                return self._decide("HUMAN", f"HUMAN-{self._silence_ms}-"
                                             f"{s.after_greeting_silence_ms}")
        else:
            self._consecutive_voice_ms += ms
            self._voice_ms += ms
            if self._consecutive_voice_ms >= s.min_word_ms and not self._in_word:
                self._words += 1
                self._in_word = True
                if self._words > s.max_words:
                    return self._decide("MACHINE", f"MAXWORDS-{self._words}-{s.max_words}")
            if self._consecutive_voice_ms >= s.greeting_ms:
                return self._decide("MACHINE", f"LONGGREETING-{self._consecutive_voice_ms}-"
                                               f"{s.greeting_ms}")
            if self._consecutive_voice_ms >= s.min_word_ms:
                self._in_initial_silence = False
                self._in_greeting = True
            self._silence_ms = 0
        return self.elapsed(self._heard_ms)

    def elapsed(self, ms: int) -> AmdResult | None:
        """``ms`` since the analysis started (frames or not): NOTSURE once past total_ms."""
        if self.result is None and ms >= self.s.total_ms:
            return self._decide("NOTSURE", f"TOOLONG-{ms}")
        return self.result

    def _decide(self, status: str, cause: str) -> AmdResult:
        self.result = AmdResult(status, cause)
        return self.result
