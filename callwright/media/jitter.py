"""A playout buffer for one inbound RTP stream, keyed by the RTP sequence number (sans-IO).

Packets are pushed as they arrive, in any order; :meth:`JitterBuffer.tick` is called once per
frame period (20 ms) and plays the slots in sequence order:

* Before playing, the buffer waits until ``depth_frames`` frames are buffered, or until
  ``depth_frames`` ticks have passed since the first one arrived (a short burst is not held back
  for ever). That wait is the buffer's added latency, and what absorbs reordering and jitter.
* A slot whose packet is missing while later packets are buffered is played as ``LOST`` (the
  caller inserts silence; :meth:`pop_filled` does it). A packet arriving after its slot was played
  is dropped as late; one already buffered or played is dropped as a duplicate.
* When the buffer runs empty the stream has paused (Asterisk sends only while the caller makes
  sound) or stalled: ``tick`` returns ``IDLE`` and nothing is counted lost. The next packets are
  buffered again to ``depth_frames`` before playing resumes, continuing from the next sequence
  number, so a pause never turns into invented silence.
* At most ``max_frames`` frames are held; when full the oldest is dropped (``overflow``) and
  playout skips past it.
* Sequence numbers wrap at 65536. A jump of more than ``MAX_DROPOUT`` ahead or ``max_misorder``
  behind is ignored (``stray``) unless the next packet follows it, which is taken as the sender
  restarting its numbering (``restarts``), as RFC 3550 A.1 does. A gap ahead of more than
  ``max_frames`` slots is skipped (``resyncs``) instead of being played as that many lost
  frames. A new SSRC resets the buffer (``ssrc_changes``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from callwright.media.rtp import SEQ_MOD, TS_MOD, RtpPacket

MAX_DROPOUT = 3000


class PlayoutKind(enum.Enum):
    FRAME = "frame"   # the slot's packet was there
    LOST = "lost"     # the slot's packet is missing: play silence
    IDLE = "idle"     # nothing to play this tick (not started, paused, or rebuffering)


@dataclass(frozen=True, slots=True)
class Playout:
    """What one tick played. ``sequence`` is the slot's 16-bit sequence number (not for IDLE);
    ``timestamp`` is the packet's RTP timestamp, or the expected one for a lost slot if known."""

    kind: PlayoutKind
    payload: bytes | None = None
    sequence: int | None = None
    timestamp: int | None = None


class PushResult(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    LATE = "late"
    STRAY = "stray"


_IDLE = Playout(PlayoutKind.IDLE)


class JitterBuffer:
    """Reorders the frames of one RTP stream and plays them one per tick. See the module doc."""

    def __init__(
        self,
        frame_samples: int,
        depth_frames: int = 3,
        max_frames: int = 50,
        max_misorder: int = 100,
    ) -> None:
        if frame_samples <= 0:
            raise ValueError(f"frame_samples must be positive, got {frame_samples}")
        if not 1 <= depth_frames <= max_frames:
            raise ValueError(
                f"need 1 <= depth_frames ({depth_frames}) <= max_frames ({max_frames})"
            )
        if max_misorder < 1:
            raise ValueError(f"max_misorder must be positive, got {max_misorder}")
        self.frame_samples = frame_samples
        self.depth_frames = depth_frames
        self.max_frames = max_frames
        self.max_misorder = max_misorder
        self._window_mask = (1 << max_misorder) - 1
        self.lost = 0
        self.late = 0
        self.duplicates = 0
        self.overflow = 0
        self.stray = 0
        self.resyncs = 0
        self.restarts = 0
        self.ssrc_changes = 0
        self.played = 0
        self._ssrc: int | None = None
        self._bad_seq = SEQ_MOD + 1
        self._clear_stream()

    def _clear_stream(self) -> None:
        self._frames: dict[int, tuple[bytes, int | None]] = {}
        self._next: int | None = None   # extended sequence number of the next slot to play
        self._last_ts: int | None = None  # timestamp of the slot before ``_next``, if known
        self._played_mask = 0           # bit i: slot ``_next - 1 - i`` was played from a packet
        self._playing = False
        self._wait_ticks = 0

    def reset(self) -> None:
        """Forget the stream (buffered frames and position); counters are kept."""
        self._clear_stream()
        self._ssrc = None
        self._bad_seq = SEQ_MOD + 1

    @property
    def playing(self) -> bool:
        return self._playing

    def __len__(self) -> int:
        return len(self._frames)

    def push(self, packet: RtpPacket) -> PushResult:
        """Buffer a parsed RTP packet's payload."""
        return self.push_frame(
            packet.sequence, packet.payload, timestamp=packet.timestamp, ssrc=packet.ssrc
        )

    def push_frame(
        self,
        sequence: int,
        payload: bytes,
        *,
        timestamp: int | None = None,
        ssrc: int | None = None,
    ) -> PushResult:
        """Buffer one frame by its 16-bit sequence number (and SSRC, when known)."""
        if not 0 <= sequence < SEQ_MOD:
            raise ValueError(f"sequence must be in 0..65535, got {sequence}")
        if ssrc is not None:
            if self._ssrc is not None and ssrc != self._ssrc:
                self.ssrc_changes += 1
                self._clear_stream()
                self._bad_seq = SEQ_MOD + 1
            self._ssrc = ssrc
        ref = self._reference()
        if ref is None:
            ext = sequence
        else:
            ext = ref + (sequence - ref + SEQ_MOD // 2) % SEQ_MOD - SEQ_MOD // 2
            offset = ext - ref
            if offset >= MAX_DROPOUT or offset < -self.max_misorder:
                if sequence != self._bad_seq:
                    self._bad_seq = (sequence + 1) % SEQ_MOD
                    self.stray += 1
                    return PushResult.STRAY
                self.restarts += 1
                self._clear_stream()
                ext = sequence
            elif self._next is not None and ext < self._next:
                behind = self._next - ext
                if (self._played_mask >> (behind - 1)) & 1:
                    self.duplicates += 1
                    return PushResult.DUPLICATE
                self.late += 1
                return PushResult.LATE
        if ext in self._frames:
            self.duplicates += 1
            return PushResult.DUPLICATE
        self._frames[ext] = (payload, timestamp)
        if len(self._frames) > self.max_frames:
            oldest = min(self._frames)
            del self._frames[oldest]
            self.overflow += 1
            if self._next is not None and oldest >= self._next:
                self._advance(oldest + 1 - self._next, played=False)
        return PushResult.ACCEPTED

    def _reference(self) -> int | None:
        if self._next is not None:
            return self._next
        if self._frames:
            return min(self._frames)
        return None

    def _advance(self, slots: int, *, played: bool) -> None:
        assert self._next is not None
        self._played_mask = ((self._played_mask << slots) | int(played)) & self._window_mask
        self._next += slots

    def tick(self) -> Playout:
        """Play the next slot. Call once per frame period while the stream is active."""
        if not self._frames:
            self._playing = False
            self._wait_ticks = 0
            return _IDLE
        if not self._playing:
            self._wait_ticks += 1
            if len(self._frames) < self.depth_frames and self._wait_ticks < self.depth_frames:
                return _IDLE
            self._playing = True
            lowest = min(self._frames)
            if self._next is None or lowest - self._next > self.max_frames:
                if self._next is not None:
                    self.resyncs += 1
                self._next = lowest
                self._last_ts = None
        assert self._next is not None
        slot = self._next
        entry = self._frames.pop(slot, None)
        if entry is None:
            lowest = min(self._frames)
            if lowest - slot <= self.max_frames:
                self.lost += 1
                timestamp = None
                if self._last_ts is not None:
                    timestamp = (self._last_ts + self.frame_samples) % TS_MOD
                self._last_ts = timestamp
                self._advance(1, played=False)
                return Playout(PlayoutKind.LOST, None, slot % SEQ_MOD, timestamp)
            self.resyncs += 1
            self._advance(lowest - slot, played=False)
            slot = lowest
            entry = self._frames.pop(slot)
        payload, timestamp = entry
        self._last_ts = timestamp
        self._advance(1, played=True)
        self.played += 1
        return Playout(PlayoutKind.FRAME, payload, slot % SEQ_MOD, timestamp)

    def pop(self) -> bytes | None:
        """The next frame's payload; None when it is lost or nothing is playing (see ``tick``)."""
        return self.tick().payload

    def pop_filled(self, silence: bytes) -> bytes | None:
        """The next frame's payload, ``silence`` for a lost frame (e.g. ``codec.silence(20)``),
        or None when nothing is playing this tick."""
        playout = self.tick()
        if playout.kind is PlayoutKind.LOST:
            return silence
        return playout.payload
