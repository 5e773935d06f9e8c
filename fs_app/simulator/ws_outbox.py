"""What the simulated FreeSWITCH modules (mod_audio_fork, mod_audio_stream) share on their
WebSocket: the writer that sends their queued text and audio in order."""

from __future__ import annotations

import asyncio

import aiohttp

#: A module's queue of what to send: text, audio, or ``None`` to stop.
Outbox = asyncio.Queue[bytes | str | None]


async def send_queued(outbox: Outbox, ws: aiohttp.ClientWebSocketResponse) -> None:
    """Send what ``outbox`` holds, in order, until ``None`` comes, the socket closes, or a send
    fails (the module's reader sees the socket go)."""
    while True:
        item = await outbox.get()
        if item is None or ws.closed:
            return
        try:
            if isinstance(item, str):
                await ws.send_str(item)
            else:
                await ws.send_bytes(item)
        except (ConnectionError, RuntimeError):
            return
