"""Barge-in: deciding, while the assistant speaks, whether the caller is interrupting.

:class:`BargeInDetector` is sans-IO: it gets the per-frame VAD verdict with the frame's start time
on the call timeline (the frame covers ``[t_ms, t_ms + frame_ms)``) and STT partials, and returns
decisions for the pipeline:

- :class:`Pause` as soon as ``start_ms`` of speech confirm an onset. The pipeline pauses the pacer,
  so the assistant goes quiet within a frame or two of the onset (the barge-in stop-time target).
- :class:`Interrupt` once ``min_speech_ms`` of speech frames were heard since the onset (and, with
  ``require_partial``, the recognizer produced a non-empty partial): flush the pacer, cancel the
  reply. The detector then stays ``INTERRUPTED`` until :meth:`BargeInDetector.reset`.
- :class:`Resume` when the speech stopped before that and ``resume_after_ms`` of silence followed
  (a cough, a noise burst): the pacer resumes where it paused.

Pauses in the speech shorter than ``resume_after_ms`` do not end it, but do not count as speech
either (a cough, a gap, a cough is not an interruption). With ``require_partial``, make
``resume_after_ms`` longer than the recognizer's partial latency, or real words are resumed over.
Call :meth:`reset` when the assistant starts a new reply or stops speaking.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from callwright.errors import ConfigError


@dataclass(frozen=True, slots=True)
class BargeInConfig:
    """Per-assistant barge-in settings, in milliseconds."""

    enabled: bool = True
    start_ms: float = 60.0
    min_speech_ms: float = 200.0
    require_partial: bool = False
    resume_after_ms: float = 300.0

    def __post_init__(self) -> None:
        for name in ("start_ms", "min_speech_ms"):
            if getattr(self, name) < 0:
                raise ConfigError(f"barge_in.{name}", "a duration ≥ 0 ms", getattr(self, name))
        if self.resume_after_ms <= 0:
            raise ConfigError("barge_in.resume_after_ms", "a duration > 0 ms",
                              self.resume_after_ms)


class BargeInState(enum.Enum):
    LISTENING = "listening"      # assistant speaking, no caller speech confirmed
    PAUSED = "paused"            # caller speech confirmed, pacer paused, not yet an interruption
    INTERRUPTED = "interrupted"  # decided: the reply is cut


@dataclass(frozen=True, slots=True)
class Pause:
    onset_ms: float
    at_ms: float


@dataclass(frozen=True, slots=True)
class Resume:
    onset_ms: float
    at_ms: float


@dataclass(frozen=True, slots=True)
class Interrupt:
    onset_ms: float
    at_ms: float
    text: str = ""  # the partial that confirmed it, when one did


Decision = Pause | Resume | Interrupt


class BargeInDetector:
    """Barge-in decisions for one call. Time is passed in; nothing here reads a clock."""

    def __init__(self, config: BargeInConfig, *, frame_ms: float = 20.0) -> None:
        if frame_ms <= 0:
            raise ConfigError("barge_in.frame_ms", "a duration > 0 ms", frame_ms)
        self.config = config
        self.frame_ms = frame_ms
        self.reset()

    @property
    def state(self) -> BargeInState:
        return self._state

    def reset(self) -> None:
        """Start over (new reply, or the assistant stopped speaking)."""
        self._state = BargeInState.LISTENING
        self._run_start: float | None = None  # candidate onset while LISTENING
        self._onset = 0.0
        self._speech_end = 0.0
        self._voiced = 0.0  # ms of speech frames since the onset
        self._partial = ""
        self._last_t: float | None = None

    def process(
        self, is_speech: bool, t_ms: float, *, start_ms: float | None = None,
    ) -> list[Decision]:
        """Feed the VAD verdict of the frame starting at ``t_ms`` (non-decreasing).
        ``start_ms`` overrides the speech that confirms an onset for this frame (shorter just
        after the caller's turn ended: their going on takes a premature reply back at once)."""
        if self._last_t is not None and t_ms < self._last_t:
            raise ValueError(f"time went backwards: {t_ms} after {self._last_t}")
        self._last_t = t_ms
        cfg = self.config
        if not cfg.enabled or self._state is BargeInState.INTERRUPTED:
            return []
        end = t_ms + self.frame_ms
        decisions: list[Decision] = []
        if self._state is BargeInState.LISTENING:
            if not is_speech:
                self._run_start = None
                return decisions
            if self._run_start is None:
                self._run_start = t_ms
            if end - self._run_start >= (cfg.start_ms if start_ms is None else start_ms):
                self._state = BargeInState.PAUSED
                self._onset, self._speech_end, self._partial = self._run_start, end, ""
                self._voiced = end - self._run_start
                self._run_start = None
                decisions.append(Pause(self._onset, end))
                self._maybe_interrupt(end, decisions)
            return decisions
        # PAUSED
        if is_speech:
            self._speech_end = end
            self._voiced += self.frame_ms
            self._maybe_interrupt(end, decisions)
        elif end - self._speech_end >= cfg.resume_after_ms:
            self._state = BargeInState.LISTENING
            decisions.append(Resume(self._onset, end))
        return decisions

    def on_partial(self, text: str, t_ms: float) -> list[Decision]:
        """An STT partial arrived at ``t_ms``. Only counts while paused. An Interrupt it causes is
        stamped no earlier than the latest speech frame, so decisions stay in time order."""
        if not self.config.enabled or self._state is not BargeInState.PAUSED:
            return []
        if text.strip():
            self._partial = text.strip()
        decisions: list[Decision] = []
        self._maybe_interrupt(max(t_ms, self._speech_end), decisions)
        return decisions

    def _maybe_interrupt(self, at: float, decisions: list[Decision]) -> None:
        cfg = self.config
        if self._voiced < cfg.min_speech_ms:
            return
        if cfg.require_partial and not self._partial:
            return
        self._state = BargeInState.INTERRUPTED
        decisions.append(Interrupt(self._onset, at, self._partial))
