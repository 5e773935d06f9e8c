"""Endpointing: turn per-frame VAD verdicts into caller turns.

:class:`Endpointer` is a sans-IO state machine ``quiet → starting → speaking → stopping → quiet``.
It is fed one verdict per frame with the frame's start time on the call timeline (``t_ms``; the
frame covers ``[t_ms, t_ms + frame_ms)``) and returns events:

- :class:`SpeechStarted` once ``start_ms`` of uninterrupted speech confirm an onset (``onset_ms`` is
  the start of the first speech frame). Open the recognizer then and feed it the pre-roll.
- :class:`SpeechEnded` after ``end_silence_ms`` of silence (``end_ms`` is the end of the last speech
  frame), or with ``forced=True`` when the turn reaches ``max_turn_ms``.
- :class:`NoiseDiscarded` instead of ``SpeechEnded`` when the turn was shorter than
  ``min_speech_ms``: drop what the recognizer got.

Every event carries ``at_ms``, the end of the frame that decided it (for latency figures).
:class:`PreRollBuffer` keeps the last frames so that audio from ``onset - pre_roll_ms`` can be
handed to the recognizer when the onset is confirmed.

Legal transitions: quiet→starting, quiet→speaking (``start_ms`` ≤ one frame), starting→quiet,
starting→speaking, speaking→stopping, speaking→quiet (forced end), stopping→speaking,
stopping→quiet.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass

from callwright.errors import ConfigError


class EndpointState(enum.Enum):
    QUIET = "quiet"
    STARTING = "starting"
    SPEAKING = "speaking"
    STOPPING = "stopping"


LEGAL_TRANSITIONS: frozenset[tuple[EndpointState, EndpointState]] = frozenset(
    {
        (EndpointState.QUIET, EndpointState.STARTING),
        (EndpointState.QUIET, EndpointState.SPEAKING),
        (EndpointState.STARTING, EndpointState.QUIET),
        (EndpointState.STARTING, EndpointState.SPEAKING),
        (EndpointState.SPEAKING, EndpointState.STOPPING),
        (EndpointState.SPEAKING, EndpointState.QUIET),
        (EndpointState.STOPPING, EndpointState.SPEAKING),
        (EndpointState.STOPPING, EndpointState.QUIET),
    }
)


@dataclass(frozen=True, slots=True)
class EndpointingConfig:
    """Per-assistant endpointing settings, in milliseconds."""

    start_ms: float = 60.0
    end_silence_ms: float = 600.0
    min_speech_ms: float = 150.0
    max_turn_ms: float = 30_000.0
    pre_roll_ms: float = 300.0

    def __post_init__(self) -> None:
        for name in ("start_ms", "min_speech_ms", "pre_roll_ms"):
            if getattr(self, name) < 0:
                raise ConfigError(f"endpointing.{name}", "a duration ≥ 0 ms", getattr(self, name))
        if self.end_silence_ms <= 0:
            raise ConfigError("endpointing.end_silence_ms", "a duration > 0 ms",
                              self.end_silence_ms)
        if self.max_turn_ms <= self.start_ms:
            raise ConfigError("endpointing.max_turn_ms", "a duration longer than start_ms",
                              self.max_turn_ms)


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    onset_ms: float
    at_ms: float


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    onset_ms: float
    end_ms: float
    forced: bool
    at_ms: float
    #: Which silence ended the turn: "silence" (``end_silence_ms``), or the reason a
    #: :class:`~callwright.speech.turn_end.TurnEndDecider` chose a shorter or longer one.
    reason: str = "silence"


@dataclass(frozen=True, slots=True)
class NoiseDiscarded:
    onset_ms: float
    end_ms: float
    at_ms: float


EndpointEvent = SpeechStarted | SpeechEnded | NoiseDiscarded


class Endpointer:
    """The endpointing state machine of one call. Time is passed in; nothing here reads a clock."""

    def __init__(self, config: EndpointingConfig, *, frame_ms: float = 20.0) -> None:
        if frame_ms <= 0:
            raise ConfigError("endpointing.frame_ms", "a duration > 0 ms", frame_ms)
        self.config = config
        self.frame_ms = frame_ms
        self._state = EndpointState.QUIET
        self._onset = 0.0       # start of the first speech frame of the current (candidate) turn
        self._speech_end = 0.0  # end of the latest speech frame
        self._last_t: float | None = None

    @property
    def state(self) -> EndpointState:
        return self._state

    @property
    def onset_ms(self) -> float:
        """Start of the first speech frame of the current (candidate) turn."""
        return self._onset

    @property
    def in_turn(self) -> bool:
        """True between SpeechStarted and its SpeechEnded/NoiseDiscarded."""
        return self._state in (EndpointState.SPEAKING, EndpointState.STOPPING)

    def reset(self) -> None:
        """Back to quiet, forgetting any turn in progress (no event)."""
        self._state = EndpointState.QUIET
        self._last_t = None

    def process(
        self, is_speech: bool, t_ms: float, *, end_silence_ms: float | None = None
    ) -> list[EndpointEvent]:
        """Feed the verdict for the frame starting at ``t_ms`` (non-decreasing).
        ``end_silence_ms`` overrides the configured silence for this frame (what a
        :class:`~callwright.speech.turn_end.TurnEndDecider` asks for)."""
        if self._last_t is not None and t_ms < self._last_t:
            raise ValueError(f"time went backwards: {t_ms} after {self._last_t}")
        self._last_t = t_ms
        end = t_ms + self.frame_ms
        events: list[EndpointEvent] = []
        state = self._state

        if state is EndpointState.QUIET:
            if is_speech:
                self._onset, self._speech_end = t_ms, end
                self._state = EndpointState.STARTING
                self._confirm(end, events)
        elif state is EndpointState.STARTING:
            if is_speech:
                self._speech_end = end
                self._confirm(end, events)
            else:
                self._state = EndpointState.QUIET
        elif state is EndpointState.SPEAKING:
            if is_speech:
                self._speech_end = end
            else:
                self._state = EndpointState.STOPPING
            self._check_end(end, events, end_silence_ms)
        else:  # STOPPING
            if is_speech:
                self._speech_end = end
                self._state = EndpointState.SPEAKING
            self._check_end(end, events, end_silence_ms)
        return events

    def finish(self, t_ms: float) -> list[EndpointEvent]:
        """End a turn in progress at ``t_ms`` (hang-up, assistant takes over): a forced
        SpeechEnded or NoiseDiscarded, or nothing if no turn is open."""
        events: list[EndpointEvent] = []
        if self.in_turn:
            self._close(forced=True, at=t_ms, events=events)
        self._state = EndpointState.QUIET
        return events

    def _confirm(self, end: float, events: list[EndpointEvent]) -> None:
        if end - self._onset >= self.config.start_ms:
            self._state = EndpointState.SPEAKING
            events.append(SpeechStarted(self._onset, end))

    def _check_end(
        self, end: float, events: list[EndpointEvent], end_silence_ms: float | None
    ) -> None:
        cfg = self.config
        silence = cfg.end_silence_ms if end_silence_ms is None else end_silence_ms
        if self._state is EndpointState.STOPPING and end - self._speech_end >= silence:
            self._close(forced=False, at=end, events=events)
        elif end - self._onset >= cfg.max_turn_ms:
            self._close(forced=True, at=end, events=events)

    def _close(self, *, forced: bool, at: float, events: list[EndpointEvent]) -> None:
        if self._speech_end - self._onset < self.config.min_speech_ms:
            events.append(NoiseDiscarded(self._onset, self._speech_end, at))
        else:
            events.append(SpeechEnded(self._onset, self._speech_end, forced, at))
        self._state = EndpointState.QUIET


class PreRollBuffer:
    """The last ``keep_ms`` of caller frames with their start times, to give the recognizer the
    audio just before (and during) onset confirmation. Size it with :func:`pre_roll_keep_ms`."""

    def __init__(self, keep_ms: float, frame_ms: float = 20.0) -> None:
        frames = max(1, math.ceil(keep_ms / frame_ms))
        self._frames: deque[tuple[float, bytes]] = deque(maxlen=frames)

    def push(self, pcm: bytes, t_ms: float) -> None:
        self._frames.append((t_ms, pcm))

    def take_since(self, t_ms: float) -> bytes:
        """The frames that start at or after ``t_ms``, joined, and empty the buffer."""
        audio = b"".join(pcm for start, pcm in self._frames if start >= t_ms)
        self._frames.clear()
        return audio

    def __len__(self) -> int:
        return len(self._frames)


def pre_roll_keep_ms(config: EndpointingConfig, frame_ms: float = 20.0) -> float:
    """How much audio a :class:`PreRollBuffer` must hold: the pre-roll, the onset confirmation
    time and the frame that confirms it."""
    return config.pre_roll_ms + config.start_ms + frame_ms
