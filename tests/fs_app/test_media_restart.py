"""One restart policy for a call's audio socket, mod_audio_fork's and mod_audio_stream's alike."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from callwright.errors import MediaError
from fs_app.fork_media import ForkTransport
from fs_app.media_restart import MAX_RESTARTS, SocketRestarts


class Module:
    """The module's stop and start as the policy drives them, and what the call noted."""

    def __init__(self, *, up: bool = True, refuse: bool = False) -> None:
        self.up = up
        self.refuse = refuse
        self.did: list[str] = []
        self.notes: list[tuple[str, dict[str, Any]]] = []
        self.tasks: list[asyncio.Task[None]] = []

    def restarts(self, what: str = "stream") -> SocketRestarts:
        return SocketRestarts(what, uuid="u1", call_is_up=lambda: self.up, note=self.note,
                              stop=self.stop, connect=self.connect, spawn=self.spawn)

    async def note(self, kind: str, detail: dict[str, Any]) -> None:
        self.notes.append((kind, detail))

    async def stop(self) -> str:
        self.did.append("stop")
        return "-ERR Operation Failed\n"  # the module had already let the socket go

    async def connect(self, transport: ForkTransport) -> None:
        self.did.append("start")
        if self.refuse:
            raise MediaError("mod_audio_stream did not connect")

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(coro))

    async def settle(self) -> None:
        await asyncio.gather(*self.tasks)


async def test_a_drop_while_the_call_is_up_is_a_stop_and_a_new_start() -> None:
    module = Module()
    restarts = module.restarts("stream")
    transport = ForkTransport(8000)
    restarts.watch(transport)
    assert transport.on_lost is not None
    transport.on_lost("FreeSWITCH closed the fork (1001)")
    await module.settle()
    assert module.did == ["stop", "start"]
    assert module.notes == [("stream_lost", {"reason": "FreeSWITCH closed the fork (1001)"})]
    assert restarts.count == 1 and transport.closed_reason is None


async def test_after_the_last_restart_the_media_has_ended() -> None:
    module = Module()
    restarts = module.restarts("fork")
    transport = ForkTransport(16000)
    restarts.watch(transport)
    assert transport.on_lost is not None
    for _ in range(MAX_RESTARTS + 1):
        transport.on_lost("gone")
        await module.settle()
    assert module.did == ["stop", "start"] * MAX_RESTARTS
    assert [kind for kind, _ in module.notes] == ["fork_lost"] * (MAX_RESTARTS + 1)
    assert transport.closed_reason == f"gone (after {MAX_RESTARTS} restarts)"


async def test_a_call_no_longer_ours_is_not_restarted() -> None:
    module = Module(up=False)  # hung up, or transferred
    restarts = module.restarts()
    transport = ForkTransport(8000)
    restarts.watch(transport)
    assert transport.on_lost is not None
    transport.on_lost("gone")
    await module.settle()
    assert module.did == [] and module.notes == []
    assert transport.closed_reason == "gone" and restarts.count == 0


async def test_a_start_that_fails_ends_the_media_with_why() -> None:
    module = Module(refuse=True)
    restarts = module.restarts("stream")
    transport = ForkTransport(8000)
    restarts.watch(transport)
    assert transport.on_lost is not None
    transport.on_lost("gone")
    await module.settle()
    assert transport.closed_reason == \
        "gone; restarting the stream failed: mod_audio_stream did not connect"
