"""The far end of an outbound call: what a destination does when it is dialed, and AMD() on it.

A test (or another process, through ``PUT /_sim/destinations/{number}``) says per destination
(the extension of the ``Local/<exten>@<context>`` endpoint) whether it answers, is busy, is
congested, rings until the timeout, or does not exist. The event sequences are the recorded ones
(tests/asterisk22/asterisk-facts/outbound-ami/README.md, Asterisk 22.10.1):

* ``POST /channels`` (originate, the app subscribed to both halves):
  busy: ``ChannelCallerId ;2``, ``ChannelConnectedLine ;2``, ``Dial ;1 ""``,
  ``ChannelDialplan ;2 Busy``, ``ChannelStateChange ;2 Busy``, ``Dial ;1 BUSY``,
  ``ChannelHangupRequest ;2 (0)``, ``ChannelDestroyed ;1 0 Unknown``,
  ``ChannelHangupRequest ;2 (16, soft)``, ``ChannelDestroyed ;2 17 User busy``; congestion the
  same with ``CONGESTION`` and cause 34; no StasisStart, no StasisEnd.
  No answer: ``ChannelDialplan ;2 Ringing``, ``ChannelStateChange ;1 Ringing``,
  ``Dial ;1 RINGING``, ``ChannelDialplan ;2 Wait``, then at the originate's ``timeout``
  ``ChannelHangupRequest ;2 (19)``, ``ChannelHangupRequest ;2 (16, soft)``,
  ``ChannelDestroyed ;2 19``, ``ChannelDestroyed ;1 19``; no final Dial event.
  Invalid (no such extension or context): 200, then ``ChannelDestroyed ;2`` and ``;1``, cause 0.
* ``/channels/create`` + ``/dial`` (the app hears only ``;1``): busy gives ``Dial ""`` and
  ``Dial BUSY`` (dialstring ``""``) and the channel **stays** in Stasis (Down) until the dial
  timeout (``ChannelHangupRequest (32, soft)``, ``StasisEnd``, ``ChannelDestroyed 19``) or until
  the far end's ``Busy(N)`` ends first (``ChannelHangupRequest (17)``, ``StasisEnd``,
  ``ChannelDestroyed 17``). No answer: ``Dial ""``, ``ChannelStateChange Ringing``,
  ``Dial RINGING``, then the timeout sequence.

Congestion after ``/dial`` and the ringing before an answer were not recorded; they are built
from the recorded busy and no-answer sequences (never kinder than Asterisk).

AMD (``amd.md``): a channel sent (``/continue``) into an AMD context runs ``AMD()`` for the
recorded duration of the destination's profile, sets ``AMDSTATUS`` then ``AMDCAUSE`` and enters
``Stasis(app, amd)`` again; the result is read with ``GET /channels/{id}/variable``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

OUTCOMES = ("answer", "busy", "congestion", "no_answer", "invalid")

#: Originate's ``timeout`` when none is given (ARI's default), seconds.
DEFAULT_ORIGINATE_TIMEOUT_S = 30


@dataclass(frozen=True, slots=True)
class AmdProfile:
    """What the callee sends after answering and what AMD() (defaults) concluded, recorded."""

    status: str
    cause: str
    #: How long AMD() ran, seconds (about 0.5 s of it before the callee's audio starts).
    duration_s: float
    #: What the callee plays, as (kind, seconds) pieces: "speech" (syllables), "word" (one
    #: voiced stretch, a "Hello?"), "silence", "tone", "none".
    audio: tuple[tuple[str, float], ...]


#: amd.md's table: profile name -> result (AMD() with the built-in defaults).
AMD_PROFILES: dict[str, AmdProfile] = {
    "speech": AmdProfile("MACHINE", "MAXWORDS-3-2", 1.482, (("speech", 5.0),)),
    "hello": AmdProfile("HUMAN", "HUMAN-800-800", 1.722, (("word", 0.72), ("silence", 6.0))),
    "silence": AmdProfile("MACHINE", "INITIALSILENCE-2500-2500", 2.982, (("silence", 8.0),)),
    "tone": AmdProfile("MACHINE", "LONGGREETING-1500-1500", 1.983, (("tone", 6.0),)),
    "noframes": AmdProfile("NOTSURE", "TOOLONG-4900", 5.013, (("none", 10.0),)),
}

#: Where the callee's audio starts after the answer (the far end's Answer() waits ~500 ms).
ANSWER_SETTLE_S = 0.5


@dataclass(frozen=True, slots=True)
class FarEnd:
    """How one destination behaves when dialed."""

    outcome: str = "answer"
    #: Seconds of ringing before the answer (0: answers at once, as the recorded ``Answer()``).
    ring_s: float = 0.0
    #: Busy(N)/Congestion(N): how long the far end holds the indication before hanging up.
    busy_s: float = 5.0
    #: AMD profile (a key of AMD_PROFILES) when the call is sent through AMD(); None: "hello".
    amd: str | None = None
    #: The callee hangs up this long after answering (None: when the test says so).
    hangup_after_s: float | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        if self.amd is not None and self.amd not in AMD_PROFILES:
            raise ValueError(f"amd must be one of {', '.join(AMD_PROFILES)}")
        for name in ("ring_s", "busy_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0")
        if self.hangup_after_s is not None and not (
            math.isfinite(self.hangup_after_s) and self.hangup_after_s >= 0
        ):
            raise ValueError("hangup_after_s must be a number >= 0")

    @property
    def amd_profile(self) -> AmdProfile:
        return AMD_PROFILES[self.amd or "hello"]

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome, "ring_s": self.ring_s, "busy_s": self.busy_s,
            "amd": self.amd, "hangup_after_s": self.hangup_after_s,
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FarEnd:
        """From a control API body; ValueError on anything wrong (unknown keys included)."""
        unknown = set(body) - {"outcome", "ring_s", "busy_s", "amd", "hangup_after_s"}
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        numbers: dict[str, float | None] = {}
        for key in ("ring_s", "busy_s", "hangup_after_s"):
            value = body.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key} must be a number")
            numbers[key] = float(value)
        default = cls()
        return cls(
            outcome=str(body.get("outcome", default.outcome)),
            ring_s=numbers.get("ring_s") or 0.0,
            busy_s=numbers.get("busy_s", default.busy_s) or 0.0,
            amd=None if body.get("amd") is None else str(body["amd"]),
            hangup_after_s=numbers.get("hangup_after_s"),
        )


@dataclass
class Destinations:
    """The far ends by destination; unknown ones answer after ``default_ring_s``."""

    default_ring_s: float = 0.0
    by_exten: dict[str, FarEnd] = field(default_factory=dict)

    def set(self, exten: str, far_end: FarEnd) -> None:
        self.by_exten[exten] = far_end

    def remove(self, exten: str) -> bool:
        return self.by_exten.pop(exten, None) is not None

    def lookup(self, exten: str, context: str) -> FarEnd:
        found = self.by_exten.get(f"{exten}@{context}") or self.by_exten.get(exten)
        return found if found is not None else FarEnd(ring_s=self.default_ring_s)


def callee_audio(profile: AmdProfile, rng: np.random.Generator | None = None) -> bytes:
    """8 kHz PCM16 LE of what the callee plays for ``profile`` ("none" pieces are left out:
    the caller sends no frames for them)."""
    rng = rng or np.random.default_rng(7)
    out: list[np.ndarray[Any, Any]] = []
    for kind, seconds in profile.audio:
        n = int(8000 * seconds)
        t = np.arange(n) / 8000.0
        if kind in ("speech", "word"):
            # Voiced sound (harmonics of 140 Hz, noise); speech as 340 ms words, 100 ms gaps.
            voiced = (np.sin(2 * np.pi * 140 * t) + 0.5 * np.sin(2 * np.pi * 420 * t)
                      + 0.3 * rng.standard_normal(n))
            envelope = ((t % 0.44) < 0.34).astype(np.float64) if kind == "speech" else 1.0
            out.append(4000 * voiced * envelope)
        elif kind == "tone":
            out.append(0.3 * 32767 * np.sin(2 * np.pi * 400 * t))
        elif kind == "silence":
            out.append(np.zeros(n))
    if not out:
        return b""
    pcm: bytes = np.clip(np.concatenate(out), -32768, 32767).astype("<i2").tobytes()
    return pcm
