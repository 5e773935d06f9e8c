"""Which of the pipeline's frames are sent to mod_audio_fork, sans-IO.

The pipeline's pacer sends a frame every 20 ms, silence while the assistant says nothing. Fed
without a break, the module's playout buffer never empties, so it stays as deep as its first hold
made it (~160 ms, measured on a real FreeSWITCH; about 130 ms on average with its 80 ms chunks)
and every reply waits behind that much silence. Let empty between utterances, the buffer starts
each new one from nothing and it is heard once its first 80 ms chunk is in (measured: ~80 ms);
the channel's own silence playback fills the gap meanwhile. So :class:`UtteranceFeed` passes every
loud frame, the quiet ones within or just after an utterance (``TAIL_FRAMES``: the module keeps a
tail shorter than its 80 ms chunk until more audio comes, so ~100 ms of silence after each
utterance pushes it out), and drops the quiet frames after that until the next loud one. A pause
inside a reply longer than the tail is heard as long as it is (the channel's silence).
"""

from __future__ import annotations

import numpy as np

from fs_app.playout_marks import QUIET_PEAK

#: Quiet frames sent after each utterance: 100 ms, more than the module's 80 ms chunk.
TAIL_FRAMES = 5


def is_loud(pcm: bytes) -> bool:
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
    return samples.size > 0 and int(np.abs(samples.astype(np.int32)).max()) >= QUIET_PEAK


class UtteranceFeed:
    def __init__(self, tail_frames: int = TAIL_FRAMES) -> None:
        self._tail = tail_frames
        self._quiet = tail_frames  # the call starts with nothing to push out
        self.dropped = 0

    def wanted(self, pcm: bytes) -> bool:
        """Whether to send this frame to the module."""
        if is_loud(pcm):
            self._quiet = 0
            return True
        self._quiet += 1
        if self._quiet <= self._tail:
            return True
        self.dropped += 1
        return False
