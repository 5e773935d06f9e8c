"""``POST /channels/{id}/silence`` (and ``DELETE``): silence played to a channel.

Asterisk starts its silence generator on the channel: every 20 ms, driven by the channel's timer
(a timing module such as res_timing_timerfd), a frame of silence is written to the channel, that
is to its far end. An ExternalMedia channel therefore sends a continuous stream, silence
included, to its peer even when it is in no bridge and nobody talks: RTP packets, AudioSocket or
WebSocket media frames. (Not in the recorded facts, which never used this operation; this is
what Asterisk's silence generator does.) It lasts until ``DELETE /channels/{id}/silence`` or
until the channel is gone. A ``play`` would suspend it; the simulator has no ``play``.

Not modelled: the frames of a channel that is also in a bridge (the generator's silence would
interleave with the bridge's audio).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from ari_app.simulator.mixer import FRAME_BYTES, FRAME_S
from ari_app.simulator.state import Channel, MediaPort

SILENT_FRAME = bytes(FRAME_BYTES)


class SilenceGenerators:
    """The channels playing silence, by channel id."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def playing(self, channel_id: str) -> bool:
        return channel_id in self._tasks

    def start(self, ch: Channel) -> None:
        """Start (or keep) the generator of ``ch``; it stops by itself when the channel goes."""
        if ch.id in self._tasks:
            return
        port = ch.media
        if port is None:  # no far end to write to
            return
        self._tasks[ch.id] = asyncio.get_running_loop().create_task(
            self._run(port), name=f"sim-silence-{ch.id}"
        )
        ch.on_gone.append(lambda gone: self.stop(gone.id))

    def stop(self, channel_id: str) -> None:
        task = self._tasks.pop(channel_id, None)
        if task is not None:
            task.cancel()

    @staticmethod
    async def _run(port: MediaPort) -> None:
        next_tick = time.monotonic()
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                port.deliver(SILENT_FRAME)
                next_tick += FRAME_S
                await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
