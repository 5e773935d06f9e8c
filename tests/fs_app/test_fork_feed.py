"""What of the pipeline's audio goes to mod_audio_fork: utterances and a short tail, not the
silence between them, so the module's playout buffer empties between replies."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fs_app.fork_feed import TAIL_FRAMES, UtteranceFeed
from fs_app.simulator.playout import Playout

FRAME = 320  # 20 ms at 8 kHz
QUIET = bytes(FRAME)
LOUD = np.full(FRAME // 2, 3000, "<i2").tobytes()


def test_only_utterances_and_their_tails_are_sent() -> None:
    feed = UtteranceFeed()
    frames = [QUIET] * 10 + [LOUD] * 5 + [QUIET] * 3 + [LOUD] * 5 + [QUIET] * 20 + [LOUD]
    sent = [feed.wanted(f) for f in frames]
    assert sent[:10] == [False] * 10  # nothing before the first utterance
    assert all(sent[10:23])  # the utterance, its short pause, the rest of it
    tail = sent[23:43]
    assert tail == [True] * TAIL_FRAMES + [False] * (20 - TAIL_FRAMES)
    assert sent[43]  # the next utterance
    assert feed.dropped == 10 + 20 - TAIL_FRAMES


def heard_after(playout: Playout, feed: Callable[[bytes], bool], gap_frames: int) -> int:
    """Frames from the second utterance's first frame sent to its first frame played, the
    pipeline's frames fed to the module (the simulator's model of it) one per 20 ms tick."""
    script = [LOUD] * 50 + [QUIET] * gap_frames + [LOUD] * 20
    second = 50 + gap_frames
    for tick, frame in enumerate(script + [QUIET] * 20):
        if feed(frame):
            playout.add_audio(frame)
        out, _ = playout.next_frame()
        if tick >= second and out is not None and out == LOUD:
            return tick - second
    raise AssertionError("the second utterance was never played")


def test_a_reply_after_a_pause_waits_for_one_chunk_not_the_first_hold() -> None:
    """Fed without a break, the module's buffer stays as deep as its first 160 ms hold made it;
    let empty, the next utterance is played once its first 80 ms chunk is in."""
    continuous = heard_after(Playout(8000, 8000), lambda _: True, gap_frames=40)
    gated = heard_after(Playout(8000, 8000), UtteranceFeed().wanted, gap_frames=40)
    assert continuous >= 6, continuous  # 120 ms and more behind the silence
    assert gated <= 4, gated  # within the first 80 ms chunk
