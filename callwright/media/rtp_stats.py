"""Receive statistics of one inbound RTP stream (RFC 3550 appendices A.1, A.3 and A.8).

Sequence numbers are tracked as in A.1: a wrap of the 16-bit sequence adds a cycle, jumps of up
to ``MAX_DROPOUT`` ahead are accepted as losses, packets up to ``MAX_MISORDER`` behind are late or
duplicated, and any bigger jump is taken as a restart of the sender only when the next packet
follows it. Unlike A.1's sketch, duplicates are recognised (a window of recent sequence numbers)
and not counted as received, so the cumulative loss does not go negative because of them.

Interarrival jitter is A.8's running estimate, in timestamp units, from the arrival time (seconds,
any monotonic clock) converted to the stream's clock rate.

A new SSRC restarts the per-source figures (``received``, ``expected``, ``lost``, jitter) and is
counted in ``ssrc_changes``; the event counters (duplicates, out of order, ...) run for the life
of the object.
"""

from __future__ import annotations

from dataclasses import dataclass

from callwright.media.rtp import SEQ_MOD, TS_MOD, RtpPacket

MAX_DROPOUT = 3000
MAX_MISORDER = 100
_HISTORY_BITS = 128  # > MAX_MISORDER: every reorder we accept can be checked for duplication
_HISTORY_MASK = (1 << _HISTORY_BITS) - 1


@dataclass(frozen=True, slots=True)
class RtpReceiveSnapshot:
    """The receive statistics at one moment."""

    ssrc: int | None
    #: Distinct packets received from the current source (duplicates excluded).
    received: int
    #: Packets the sequence numbers say were sent (extended highest - base + 1).
    expected: int
    #: Cumulative packets lost: ``expected - received``.
    lost: int
    #: Fraction of the packets expected since the last interval reset that were lost (0..1).
    fraction_lost: float
    #: A.8 interarrival jitter, in timestamp units and in milliseconds.
    jitter: float
    jitter_ms: float
    extended_highest_sequence: int | None
    duplicates: int
    out_of_order: int
    #: Packets ignored because their sequence number jumped too far (a possible sender restart).
    bad_sequence: int
    #: Sender restarts accepted (two packets in sequence after a big jump).
    sequence_restarts: int
    ssrc_changes: int
    #: Every packet given to ``update``.
    packets_seen: int


class RtpReceiveStats:
    """Feed every valid inbound packet to :meth:`update`; read :meth:`snapshot`."""

    def __init__(self, clock_rate: int = 8000) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock_rate must be positive, got {clock_rate}")
        self.clock_rate = clock_rate
        self._ssrc: int | None = None
        self.duplicates = 0
        self.out_of_order = 0
        self.bad_sequence = 0
        self.sequence_restarts = 0
        self.ssrc_changes = 0
        self.packets_seen = 0
        self._init_source(None)

    def _init_source(self, ssrc: int | None) -> None:
        self._ssrc = ssrc
        self._base_ext = 0
        self._max_seq = 0
        self._cycles = 0
        self._bad_seq = SEQ_MOD + 1  # matches no sequence number
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._history = 0  # bit i set: extended sequence (highest - i) was received
        self._transit: float | None = None
        self._jitter = 0.0

    def _init_sequence(self, seq: int) -> None:
        self._base_ext = seq
        self._max_seq = seq
        self._cycles = 0
        self._bad_seq = SEQ_MOD + 1
        self._received = 1
        self._expected_prior = 0
        self._received_prior = 0
        self._history = 1

    def update(self, packet: RtpPacket, arrival_s: float) -> None:
        """Account for ``packet``, which arrived at ``arrival_s`` (seconds, monotonic)."""
        self.update_fields(packet.sequence, packet.timestamp, packet.ssrc, arrival_s)

    def update_fields(self, seq: int, timestamp: int, ssrc: int, arrival_s: float) -> None:
        """:meth:`update` from the header fields (the receiver's hot path, no packet object)."""
        self.packets_seen += 1
        if self._ssrc is None or ssrc != self._ssrc:
            if self._ssrc is not None:
                self.ssrc_changes += 1
            self._init_source(ssrc)
            self._init_sequence(seq)
            self._update_jitter(timestamp, arrival_s)
            return
        udelta = (seq - self._max_seq) % SEQ_MOD
        if udelta == 0:
            self.duplicates += 1
            return
        if udelta < MAX_DROPOUT:
            if seq < self._max_seq:
                self._cycles += SEQ_MOD
            self._max_seq = seq
            self._history = ((self._history << udelta) | 1) & _HISTORY_MASK
            self._received += 1
        elif udelta <= SEQ_MOD - MAX_MISORDER:
            if seq != self._bad_seq:
                self._bad_seq = (seq + 1) % SEQ_MOD
                self.bad_sequence += 1
                return
            # Two packets in sequence after a big jump: the sender restarted its numbering.
            self.sequence_restarts += 1
            self._init_sequence(seq)
            self._transit = None
        else:
            behind = SEQ_MOD - udelta
            if (self._history >> behind) & 1:
                self.duplicates += 1
                return
            self._history |= 1 << behind
            self.out_of_order += 1
            self._received += 1
            ext = self._cycles + self._max_seq - behind
            if ext < self._base_ext:  # older than the first packet we saw
                self._base_ext = ext
        self._update_jitter(timestamp, arrival_s)

    def _update_jitter(self, timestamp: int, arrival_s: float) -> None:
        arrival = arrival_s * self.clock_rate
        transit = arrival - timestamp
        if self._transit is not None:
            d = transit - self._transit
            # Timestamps wrap at 2**32: take the difference modulo 2**32, signed.
            d = (d + TS_MOD / 2) % TS_MOD - TS_MOD / 2
            self._jitter += (abs(d) - self._jitter) / 16.0
        self._transit = transit

    @property
    def ssrc(self) -> int | None:
        return self._ssrc

    @property
    def jitter(self) -> float:
        """Interarrival jitter in timestamp units."""
        return self._jitter

    def snapshot(self, reset_interval: bool = False) -> RtpReceiveSnapshot:
        """The current figures. ``reset_interval`` starts a new ``fraction_lost`` interval (as
        an RTCP receiver report does)."""
        if self._ssrc is None:
            expected = 0
            ext_max: int | None = None
        else:
            ext_max = self._cycles + self._max_seq
            expected = ext_max - self._base_ext + 1
        expected_interval = expected - self._expected_prior
        received_interval = self._received - self._received_prior
        lost_interval = expected_interval - received_interval
        fraction = (
            lost_interval / expected_interval
            if expected_interval > 0 and lost_interval > 0
            else 0.0
        )
        if reset_interval:
            self._expected_prior = expected
            self._received_prior = self._received
        return RtpReceiveSnapshot(
            ssrc=self._ssrc,
            received=self._received,
            expected=expected,
            lost=expected - self._received,
            fraction_lost=fraction,
            jitter=self._jitter,
            jitter_ms=self._jitter * 1000.0 / self.clock_rate,
            extended_highest_sequence=ext_max,
            duplicates=self.duplicates,
            out_of_order=self.out_of_order,
            bad_sequence=self.bad_sequence,
            sequence_restarts=self.sequence_restarts,
            ssrc_changes=self.ssrc_changes,
            packets_seen=self.packets_seen,
        )
