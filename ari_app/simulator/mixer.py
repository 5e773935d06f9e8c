"""Audio inside a bridge, as Asterisk's two bridge technologies move it.

* ``simple_bridge`` (two members): each frame a member produces is handed to the other member
  at once, as it is. Nothing is sent while nobody produces audio.
* ``softmix`` (three or more): every 20 ms each member gets the sum of the others' latest frames,
  silence included, so a continuous stream flows.

All audio here is 8 kHz PCM16 LE, 20 ms frames (the last frame of an utterance may be shorter).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

import numpy as np

from ari_app.simulator.state import MediaPort

FRAME_BYTES = 320
FRAME_S = 0.02
#: Frames a softmix member may have queued before the oldest are dropped (Asterisk's softmix
#: keeps a short buffer per member, too).
_SOFTMIX_QUEUE = 5


class BridgeMixer:
    def __init__(self) -> None:
        self._ports: dict[str, MediaPort] = {}
        self._queues: dict[str, deque[bytes]] = {}
        self._ticker: asyncio.Task[None] | None = None

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(self._ports)

    def add(self, channel_id: str, port: MediaPort | None) -> None:
        if port is not None:
            self._ports[channel_id] = port
            self._queues[channel_id] = deque(maxlen=_SOFTMIX_QUEUE)
        self._update_mode()

    def remove(self, channel_id: str) -> None:
        self._ports.pop(channel_id, None)
        self._queues.pop(channel_id, None)
        self._update_mode()

    def on_audio(self, source_id: str, pcm: bytes) -> None:
        """A member produced one frame."""
        if source_id not in self._ports:
            return
        if self._ticker is None:
            for member, port in list(self._ports.items()):
                if member != source_id:
                    port.deliver(pcm)
        else:
            self._queues[source_id].append(pcm)

    def on_dtmf(self, source_id: str, digit: str) -> None:
        """A member sent a digit: the others that carry DTMF (AudioSocket) get it."""
        for member, port in list(self._ports.items()):
            forward = getattr(port, "deliver_dtmf", None)
            if member != source_id and callable(forward):
                forward(digit)

    def close(self) -> None:
        self._ports.clear()
        self._queues.clear()
        self._update_mode()

    def _update_mode(self) -> None:
        want_softmix = len(self._ports) > 2
        if want_softmix and self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._softmix())
        elif not want_softmix and self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    async def _softmix(self) -> None:
        next_tick = time.monotonic()
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                next_tick += FRAME_S
                await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
                self._mix_once()

    def _mix_once(self) -> None:
        frames: dict[str, np.ndarray] = {}
        for member, queue in self._queues.items():
            raw = queue.popleft() if queue else b""
            arr = np.zeros(FRAME_BYTES // 2, dtype=np.int32)
            if raw:
                got = np.frombuffer(raw[: FRAME_BYTES - (len(raw) % 2)], dtype="<i2")
                arr[: got.size] = got
            frames[member] = arr
        if not frames:
            return
        total = np.sum(list(frames.values()), axis=0)
        for member, port in list(self._ports.items()):
            mixed = total - frames[member]
            port.deliver(np.clip(mixed, -32768, 32767).astype("<i2").tobytes())
