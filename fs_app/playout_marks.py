"""What the caller actually heard, from mod_audio_fork's marks, sans-IO.

A mark sent just before the first frame of an utterance comes back ``playout`` when FreeSWITCH
writes that frame into the call (``cleared`` when a killAudio dropped it first). The time from
sending to that report is the playout lag the module adds (measured on a real FreeSWITCH:
~155 ms for the first utterance, then ~80 ms chunks). An utterance starts at a loud frame after
at least ``quiet_frames`` quiet ones (the pacer sends silence between replies).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import numpy as np

#: A frame whose peak is below this is quiet (silence, comfort noise).
QUIET_PEAK = 200
QUIET_FRAMES = 10


class PlayoutMarks:
    def __init__(self, send_mark: Callable[[str], None], clock: Callable[[], float],
                 quiet_frames: int = QUIET_FRAMES) -> None:
        self._send_mark = send_mark
        self._clock = clock
        self._quiet_needed = quiet_frames
        self._quiet = quiet_frames  # the call starts quiet
        self._count = 0
        self._pending: dict[str, float] = {}
        self.lags_ms: list[float] = []
        self.cleared = 0

    def before_frame(self, pcm: bytes) -> None:
        """Called with each frame about to be sent: marks the start of an utterance."""
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
        loud = samples.size > 0 and int(np.abs(samples.astype(np.int32)).max()) >= QUIET_PEAK
        if not loud:
            self._quiet += 1
            return
        if self._quiet >= self._quiet_needed:
            self._count += 1
            name = f"u{self._count}"
            self._pending[name] = self._clock()
            self._send_mark(name)
        self._quiet = 0

    def reported(self, name: str, event: str) -> None:
        sent = self._pending.pop(name, None)
        if sent is None:
            return
        if event == "playout":
            self.lags_ms.append((self._clock() - sent) * 1000)
        else:
            self.cleared += 1

    def figures(self) -> dict[str, float | int | None]:
        lags = self.lags_ms
        return {
            "marks_played": len(lags), "marks_cleared": self.cleared,
            "playout_lag_ms_p50": round(statistics.median(lags), 1) if lags else None,
            "playout_lag_ms_max": round(max(lags), 1) if lags else None,
        }
