"""A call's media is started once, whoever asks first: the session begins it as the call is
answered, the pipeline awaits the same start."""

from __future__ import annotations

import asyncio

import pytest

from callwright.errors import MediaError
from fs_app.media_start import StartOnce


async def test_begun_early_and_awaited_later_it_runs_once() -> None:
    runs: list[str] = []
    gate = asyncio.Event()

    async def start() -> str:
        runs.append("start")
        await gate.wait()
        return "transport"

    once = StartOnce(start)
    once.begin()
    once.begin()
    await asyncio.sleep(0)
    assert runs == ["start"]  # under way before anyone waits for it
    gate.set()
    assert await once() == "transport"
    assert await once() == "transport"
    assert runs == ["start"]


async def test_a_failed_start_reaches_whoever_awaits_it() -> None:
    async def start() -> str:
        raise MediaError("mod_audio_fork did not connect")

    once = StartOnce(start)
    once.begin()
    await asyncio.sleep(0)
    with pytest.raises(MediaError, match="did not connect"):
        await once()


async def test_a_start_the_call_no_longer_needs_is_abandoned() -> None:
    started = asyncio.Event()

    async def start() -> str:
        started.set()
        await asyncio.sleep(30)
        return "never"

    once = StartOnce(start)
    once.begin()
    await started.wait()
    once.cancel()
    with pytest.raises(asyncio.CancelledError):
        await once()
