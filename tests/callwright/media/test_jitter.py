from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwright.media.codecs import codec_for
from callwright.media.jitter import JitterBuffer, Playout, PlayoutKind, PushResult
from callwright.media.rtp import RtpPacket

MakeBuffer = Callable[..., JitterBuffer]


@pytest.fixture
def make_buffer() -> MakeBuffer:
    def make(**kwargs: int) -> JitterBuffer:
        return JitterBuffer(frame_samples=160, **kwargs)

    return make


def frame(seq: int) -> bytes:
    return seq.to_bytes(2, "big") * 4


def drain(jb: JitterBuffer, ticks: int) -> list[Playout]:
    return [jb.tick() for _ in range(ticks)]


def kinds(playouts: list[Playout]) -> str:
    return "".join({"frame": "F", "lost": "L", "idle": "."}[p.kind.value] for p in playouts)


def test_waits_for_depth_then_plays_in_order(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=3)
    assert jb.tick().kind is PlayoutKind.IDLE  # nothing yet
    jb.push_frame(100, frame(100))
    jb.push_frame(101, frame(101))
    assert jb.tick().kind is PlayoutKind.IDLE  # 2 < depth, first tick of waiting
    jb.push_frame(102, frame(102))
    out = drain(jb, 4)
    assert kinds(out) == "FFF."
    assert [p.sequence for p in out[:3]] == [100, 101, 102]
    assert [p.payload for p in out[:3]] == [frame(100), frame(101), frame(102)]
    assert jb.played == 3 and jb.lost == 0


def test_reorders(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=3)
    for seq in (5, 7, 6, 9, 8):
        assert jb.push_frame(seq, frame(seq)) is PushResult.ACCEPTED
    assert [p.sequence for p in drain(jb, 5)] == [5, 6, 7, 8, 9]


def test_missing_frame_inside_the_stream_is_lost(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=2)
    for seq in (10, 11, 13, 14):
        jb.push_frame(seq, frame(seq))
    out = drain(jb, 6)
    assert kinds(out) == "FFLFF."
    assert out[2].sequence == 12
    assert jb.lost == 1
    # A frame arriving after its slot was played out is late, and dropped.
    assert jb.push_frame(12, frame(12)) is PushResult.LATE
    assert jb.late == 1
    assert len(jb) == 0


def test_lost_frame_timestamp_is_inferred(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=1)
    jb.push_frame(1, frame(1), timestamp=1000)
    jb.push_frame(3, frame(3), timestamp=1320)
    out = drain(jb, 3)
    assert [(p.kind, p.timestamp) for p in out] == [
        (PlayoutKind.FRAME, 1000), (PlayoutKind.LOST, 1160), (PlayoutKind.FRAME, 1320)
    ]


def test_duplicates_are_dropped(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=2)
    assert jb.push_frame(1, frame(1)) is PushResult.ACCEPTED
    assert jb.push_frame(1, frame(1)) is PushResult.DUPLICATE  # still buffered
    jb.push_frame(2, frame(2))
    assert jb.tick().sequence == 1
    assert jb.push_frame(1, frame(1)) is PushResult.DUPLICATE  # already played
    assert jb.duplicates == 2 and jb.late == 0
    assert [p.sequence for p in drain(jb, 2)] == [2, None]


def test_pause_is_not_filled_with_silence(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=2)
    for seq in (1, 2, 3):
        jb.push_frame(seq, frame(seq))
    assert kinds(drain(jb, 10)) == "FFF......."
    assert jb.lost == 0 and not jb.playing
    # The stream resumes with the next sequence number: it buffers again, then plays on.
    jb.push_frame(4, frame(4))
    jb.push_frame(5, frame(5))
    out = drain(jb, 3)
    assert kinds(out) == "FF."
    assert [p.sequence for p in out[:2]] == [4, 5]


def test_short_burst_is_played_after_depth_ticks(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=3)
    jb.push_frame(40, frame(40))  # a single packet never reaches the depth
    assert kinds(drain(jb, 4)) == "..F."


def test_sequence_wrap_around(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=3)
    for seq in (65534, 0, 65535, 1, 2):
        jb.push_frame(seq, frame(seq))
    assert [p.sequence for p in drain(jb, 5)] == [65534, 65535, 0, 1, 2]
    assert jb.push_frame(65535, frame(65535)) is PushResult.DUPLICATE


def test_overflow_drops_the_oldest(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=2, max_frames=5)
    for seq in range(8):
        jb.push_frame(seq, frame(seq))
    assert len(jb) == 5
    assert jb.overflow == 3
    assert [p.sequence for p in drain(jb, 5)] == [3, 4, 5, 6, 7]


def test_overflow_while_playing_skips_forward(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=1, max_frames=4)
    jb.push_frame(0, frame(0))
    assert jb.tick().sequence == 0
    for seq in range(2, 8):  # 1 missing, then more than max_frames
        jb.push_frame(seq, frame(seq))
    out = drain(jb, 4)
    assert [p.sequence for p in out] == [4, 5, 6, 7]
    assert jb.lost == 0 and jb.overflow == 2


def test_ssrc_change_resets(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=1)
    jb.push_frame(100, frame(100), ssrc=1)
    jb.push_frame(101, frame(101), ssrc=1)
    assert jb.tick().sequence == 100
    jb.push_frame(5, frame(5), ssrc=2)  # new source, unrelated numbering
    assert len(jb) == 1 and jb.ssrc_changes == 1
    assert [p.sequence for p in drain(jb, 2)] == [5, None]


def test_stray_packet_is_ignored_and_restart_is_followed(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=1)
    for seq in (1000, 1001):
        jb.push_frame(seq, frame(seq))
    assert jb.tick().sequence == 1000
    assert jb.push_frame(20000, frame(0)) is PushResult.STRAY
    assert jb.tick().sequence == 1001
    # Two packets in sequence after a big jump: the sender restarted its numbering.
    assert jb.push_frame(300, frame(300)) is PushResult.STRAY
    assert jb.push_frame(301, frame(301)) is PushResult.ACCEPTED
    assert jb.restarts == 1
    assert [p.sequence for p in drain(jb, 2)] == [301, None]


def test_large_gap_is_skipped_not_played_as_losses(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=1, max_frames=10)
    jb.push_frame(0, frame(0))
    assert jb.tick().sequence == 0
    jb.push_frame(500, frame(500))  # within MAX_DROPOUT, beyond max_frames
    assert jb.tick().sequence == 500
    assert jb.lost == 0 and jb.resyncs == 1


def test_push_rtp_packet(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=1)
    jb.push(RtpPacket(payload_type=0, sequence=9, timestamp=1440, ssrc=3, payload=b"abc"))
    out = jb.tick()
    assert (out.payload, out.sequence, out.timestamp) == (b"abc", 9, 1440)


def test_pop_and_pop_filled_with_codec_silence(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=1)
    jb.push_frame(1, frame(1))
    jb.push_frame(3, frame(3))
    silence = codec_for("ulaw").silence(20)
    assert jb.pop_filled(silence) == frame(1)
    assert jb.pop_filled(silence) == silence
    assert jb.pop() == frame(3)
    assert jb.pop() is None
    assert jb.pop_filled(silence) is None  # idle, not lost


def test_reset_forgets_the_stream(make_buffer: MakeBuffer) -> None:
    jb = make_buffer(depth_frames=1)
    jb.push_frame(1, frame(1))
    jb.tick()
    jb.reset()
    assert jb.push_frame(1, frame(1)) is PushResult.ACCEPTED


def test_constructor_validation() -> None:
    with pytest.raises(ValueError):
        JitterBuffer(0)
    with pytest.raises(ValueError):
        JitterBuffer(160, depth_frames=0)
    with pytest.raises(ValueError):
        JitterBuffer(160, depth_frames=10, max_frames=5)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(-120, 160), st.booleans()),
        st.tuples(st.just("tick"), st.just(0), st.just(False)),
    ),
    max_size=300,
)


@settings(max_examples=300)
@given(operations, st.integers(0, 65535), st.integers(1, 5), st.integers(5, 40))
def test_never_out_of_order_and_never_over_max(
    ops: list[tuple[str, int, bool]], base: int, depth: int, max_frames: int
) -> None:
    jb = JitterBuffer(160, depth_frames=depth, max_frames=max_frames)
    last: int | None = None  # extended sequence of the last slot played
    restarts = 0
    for op, offset, switch_ssrc in ops:
        if op == "push":
            seq = (base + offset) % 65536
            jb.push_frame(seq, frame(seq), ssrc=2 if switch_ssrc and offset % 7 == 0 else 1)
        else:
            out = jb.tick()
            if jb.restarts + jb.ssrc_changes != restarts:  # a new stream: order starts over
                restarts = jb.restarts + jb.ssrc_changes
                last = None
            if out.sequence is not None:
                if last is not None:
                    step = (out.sequence - last) % 65536
                    assert 0 < step < 32768, f"{out.sequence} played after {last}"
                last = out.sequence
            if out.kind is PlayoutKind.FRAME:
                assert out.payload == frame(out.sequence or 0)
        assert len(jb) <= max_frames
