"""The pure helpers of the benchmarks' load generator (no sockets, no timing assertions)."""

from __future__ import annotations

import math
import socket
import struct

import pytest

from bench.loadgen import (
    SO_TIMESTAMPNS,
    GapTracker,
    LoadConfig,
    is_voiced_ulaw,
    kernel_time,
    summarize,
)


def test_ulaw_silence_codes_are_not_voiced() -> None:
    assert not is_voiced_ulaw(b"\xff" * 160)
    assert not is_voiced_ulaw(b"\x7f\xff" * 80)
    assert not is_voiced_ulaw(b"")
    assert is_voiced_ulaw(b"\xff" * 159 + b"\xfe")
    assert is_voiced_ulaw(b"\x00" + b"\xff" * 159)


def test_kernel_time_reads_a_timespec_or_falls_back() -> None:
    data = struct.pack("qq", 1_700_000_000, 250_000_000)
    assert kernel_time([(socket.SOL_SOCKET, SO_TIMESTAMPNS, data)], 1.0) == pytest.approx(
        1_700_000_000.25
    )
    assert kernel_time([], 42.0) == 42.0
    assert kernel_time([(socket.SOL_SOCKET, SO_TIMESTAMPNS, b"\x00" * 4)], 7.0) == 7.0


def test_gap_tracker_measures_consecutive_packets_only() -> None:
    gaps = GapTracker()
    gaps.add(10, 0.000)
    gaps.add(11, 0.021)   # 1 ms late
    gaps.add(12, 0.040)   # 1 ms early
    gaps.add(15, 0.100)   # two packets missing: no gap measured
    gaps.add(16, 0.1205)  # 0.5 ms late
    assert [round(d, 6) for d in gaps.deviations] == [1.0, 1.0, 0.5]
    assert gaps.received == 5 and gaps.lost == 2 and gaps.reordered == 0


def test_gap_tracker_wraps_and_ignores_old_packets() -> None:
    gaps = GapTracker()
    gaps.add(65535, 1.0)
    gaps.add(0, 1.02)
    gaps.add(65535, 1.03)  # a duplicate of an older packet
    gaps.add(1, 1.04)
    assert len(gaps.deviations) == 2 and gaps.reordered == 1 and gaps.lost == 0


def test_summarize() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s["n"] == 5 and s["p50"] == 3.0 and s["max"] == 5.0
    assert s["p99"] == pytest.approx(4.96)
    empty = summarize([])
    assert empty["n"] == 0 and math.isnan(empty["p99"])


def test_config_from_json_line() -> None:
    cfg = LoadConfig.from_json('{"app_ports": [30000, 30002], "scenario": "barge_in", '
                               '"barge_delay_s": [1.0, 1.5]}')
    assert cfg.app_ports == [30000, 30002]
    assert cfg.barge_delay_s == (1.0, 1.5)
    assert cfg.caller_idle == "silence"
