"""mod_audio_fork's playout as measured: 160 ms held, 80 ms chunks, a short tail waits, marks."""

from __future__ import annotations

from fs_app.simulator.playout import Playout

MS = 16  # bytes per ms at 8 kHz


def frames(playout: Playout, n: int) -> list[tuple[bytes | None, list[str]]]:
    return [playout.next_frame() for _ in range(n)]


def test_nothing_plays_until_160_ms_are_buffered() -> None:
    p = Playout(8000, 8000)
    p.add_audio(b"\x01\x00" * (150 * 8))
    assert all(frame is None for frame, _ in frames(p, 10))
    p.add_audio(b"\x01\x00" * (10 * 8))
    out = frames(p, 8)
    assert all(frame is not None and len(frame) == 320 for frame, _ in out)
    assert p.idle


def test_a_tail_shorter_than_80_ms_waits_and_so_does_its_mark() -> None:
    p = Playout(8000, 8000)
    p.add_audio(bytes(200 * MS))  # 160 + 40 ms
    p.add_mark("after")
    played = [frame for frame, _ in frames(p, 20) if frame is not None]
    assert len(played) == 8  # 160 ms; the last 40 ms stay
    assert all(not marks for _, marks in frames(p, 5))
    p.add_audio(bytes(40 * MS))  # completes the chunk
    reported = [marks for _, marks in frames(p, 5)]
    assert ["after"] in reported


def test_kill_clears_the_buffer_and_reports_pending_marks_cleared() -> None:
    p = Playout(8000, 8000)
    p.add_audio(bytes(800 * MS))
    p.add_mark("m2")
    frames(p, 10)
    assert p.kill() == ["m2"]
    assert p.idle and all(frame is None for frame, _ in frames(p, 5))


def test_odd_byte_counts_are_carried_over_and_other_rates_resampled() -> None:
    p = Playout(8000, 16000)
    p.add_audio(bytes(321 * 30))
    p.add_audio(b"\x00")
    assert sum(1 for frame, _ in frames(p, 20) if frame is not None) >= 4
