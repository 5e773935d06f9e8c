from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from callwright.media.rtp import RtpPacket
from callwright.media.rtp_stats import RtpReceiveStats

Feed = Callable[[Iterable[int]], RtpReceiveStats]


def packet(seq: int, ts: int | None = None, ssrc: int = 0xABCD) -> RtpPacket:
    return RtpPacket(
        payload_type=0,
        sequence=seq % 65536,
        timestamp=(seq * 160 if ts is None else ts) % 2**32,
        ssrc=ssrc,
        payload=bytes(160),
    )


@pytest.fixture
def feed() -> Feed:
    """Factory: a fresh stats object fed the given sequence numbers, arriving on time."""

    def make(sequences: Iterable[int]) -> RtpReceiveStats:
        stats = RtpReceiveStats(clock_rate=8000)
        for i, seq in enumerate(sequences):
            stats.update(packet(seq), arrival_s=i * 0.02)
        return stats

    return make


def test_in_order_stream(feed: Feed) -> None:
    snap = feed(range(1000, 1100)).snapshot()
    assert (snap.received, snap.expected, snap.lost) == (100, 100, 0)
    assert snap.fraction_lost == 0.0
    assert snap.extended_highest_sequence == 1099
    assert snap.duplicates == snap.out_of_order == 0
    assert snap.jitter == pytest.approx(0.0, abs=1e-6)


def test_wrap_around_adds_a_cycle(feed: Feed) -> None:
    snap = feed(s % 65536 for s in range(65500, 65600)).snapshot()
    assert snap.extended_highest_sequence == 65536 + (65599 - 65536)
    assert (snap.received, snap.expected, snap.lost) == (100, 100, 0)


def test_losses_are_counted(feed: Feed) -> None:
    sequences = [s for s in range(0, 100) if s % 10 != 3]  # 10 lost
    snap = feed(sequences).snapshot()
    assert (snap.received, snap.expected, snap.lost) == (90, 100, 10)
    assert snap.fraction_lost == pytest.approx(0.1)


def test_losses_across_the_wrap(feed: Feed) -> None:
    snap = feed([65534, 65535, 2, 3]).snapshot()  # 0 and 1 lost
    assert (snap.received, snap.expected, snap.lost) == (4, 6, 2)


def test_duplicates_and_reordering(feed: Feed) -> None:
    snap = feed([10, 11, 13, 12, 12, 14, 14, 11, 15]).snapshot()
    assert snap.duplicates == 3
    assert snap.out_of_order == 1
    assert (snap.received, snap.expected, snap.lost) == (6, 6, 0)


def test_reordered_packet_older_than_the_first(feed: Feed) -> None:
    snap = feed([5, 6, 4, 7]).snapshot()
    assert (snap.received, snap.expected, snap.lost) == (4, 4, 0)


def test_fraction_lost_per_interval(feed: Feed) -> None:
    stats = feed([s for s in range(50) if s not in (10, 11)])
    first = stats.snapshot(reset_interval=True)
    assert first.fraction_lost == pytest.approx(2 / 50)
    for i, seq in enumerate(range(50, 100)):
        stats.update(packet(seq), arrival_s=1.0 + i * 0.02)
    second = stats.snapshot()
    assert second.fraction_lost == 0.0
    assert second.lost == 2


def test_big_jump_is_ignored_until_confirmed(feed: Feed) -> None:
    stats = feed(range(100, 110))
    stats.update(packet(20000), arrival_s=1.0)  # a stray
    snap = stats.snapshot()
    assert snap.bad_sequence == 1
    assert snap.extended_highest_sequence == 109
    stats.update(packet(110), arrival_s=1.02)
    stats.update(packet(30000), arrival_s=1.04)
    stats.update(packet(30001), arrival_s=1.06)  # in sequence: the sender restarted
    snap = stats.snapshot()
    assert snap.sequence_restarts == 1
    assert snap.extended_highest_sequence == 30001
    assert (snap.received, snap.expected) == (1, 1)


def test_ssrc_change_resets_and_is_counted(feed: Feed) -> None:
    stats = feed([s for s in range(0, 20) if s != 5])
    assert stats.snapshot().lost == 1
    for i, seq in enumerate(range(7000, 7010)):
        stats.update(packet(seq, ssrc=0x9999), arrival_s=1.0 + i * 0.02)
    snap = stats.snapshot()
    assert snap.ssrc == 0x9999
    assert snap.ssrc_changes == 1
    assert (snap.received, snap.expected, snap.lost) == (10, 10, 0)
    assert snap.packets_seen == 29


def test_jitter_follows_rfc3550_a8() -> None:
    stats = RtpReceiveStats(clock_rate=8000)
    # Packets every 20 ms of media, arriving alternately 0 and 5 ms late: |D| = 40 units.
    for i in range(200):
        stats.update(packet(i), arrival_s=i * 0.02 + (0.005 if i % 2 else 0.0))
    snap = stats.snapshot()
    assert snap.jitter == pytest.approx(40.0, rel=1e-3)
    assert snap.jitter_ms == pytest.approx(5.0, rel=1e-3)


def test_jitter_first_steps_by_hand() -> None:
    stats = RtpReceiveStats(clock_rate=8000)
    stats.update(packet(0, ts=0), arrival_s=0.0)
    stats.update(packet(1, ts=160), arrival_s=0.030)  # transit grew by 80 units
    assert stats.jitter == pytest.approx(80 / 16)
    stats.update(packet(2, ts=320), arrival_s=0.050)  # same transit: D = 0
    assert stats.jitter == pytest.approx(5 - 5 / 16)


def test_jitter_survives_timestamp_wrap() -> None:
    stats = RtpReceiveStats(clock_rate=8000)
    base = 2**32 - 480
    for i in range(10):
        stats.update(packet(i, ts=base + 160 * i), arrival_s=i * 0.02)
    assert stats.jitter == pytest.approx(0.0, abs=1e-3)


def test_empty_snapshot() -> None:
    snap = RtpReceiveStats().snapshot()
    assert snap.ssrc is None
    assert (snap.received, snap.expected, snap.lost) == (0, 0, 0)
    assert snap.extended_highest_sequence is None
