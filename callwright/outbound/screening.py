"""Listening to an answered outbound call before the assistant speaks ([outbound] amd = "audio"),
whatever the PBX: the adapters wrap the answered call's media transport in it.

:class:`ScreeningTransport` wraps a call's media transport: :meth:`~ScreeningTransport.screen`
starts it and feeds the callee's frames to an :class:`~callwright.outbound.amd.AmdDetector`
until it decides (or ``total_ms`` passes with no decision: NOTSURE); the pipeline then starts
the same transport through the wrapper, and the frames go to it from then on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from callwright.media.transport import FrameSink, MediaFormat, MediaTransport
from callwright.outbound.amd import AmdDetector, AmdResult


class ScreeningTransport:
    def __init__(self, inner: MediaTransport) -> None:
        self._inner = inner
        self.format: MediaFormat = inner.format
        self._sink: FrameSink | None = None
        self._on_closed: Callable[[str], None] | None = None
        self._closed: str | None = None
        self._started = False

    def _frame(self, pcm: bytes) -> None:
        if self._sink is not None:
            self._sink(pcm)

    def _gone(self, reason: str) -> None:
        self._closed = reason
        if self._on_closed is not None:
            self._on_closed(reason)

    async def screen(self, detector: AmdDetector,
                     clock: Callable[[], float] = time.monotonic) -> AmdResult:
        decided = asyncio.Event()

        def feed(pcm: bytes) -> None:
            if detector.feed(pcm) is not None:
                decided.set()

        self._sink = feed
        if not self._started:
            self._started = True
            await self._inner.start(self._frame, self._gone)
        start = clock()
        while not decided.is_set() and self._closed is None:
            result = detector.elapsed(int((clock() - start) * 1000))
            if result is not None:
                break
            try:
                await asyncio.wait_for(decided.wait(), 0.1)
            except TimeoutError:
                continue
        self._sink = None
        if detector.result is None:
            return detector.elapsed(detector.s.total_ms) or AmdResult("NOTSURE", "TOOLONG")
        return detector.result

    async def start(self, on_frame: FrameSink, on_closed: Callable[[str], None]) -> None:
        self._sink = on_frame
        self._on_closed = on_closed
        if self._closed is not None:
            on_closed(self._closed)
        if not self._started:
            self._started = True
            await self._inner.start(self._frame, self._gone)

    def send_frame(self, pcm: bytes) -> None:
        self._inner.send_frame(pcm)

    async def close(self) -> None:
        await self._inner.close()
