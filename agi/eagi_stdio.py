"""The EAGI script's AGI channel: asyncio streams over its stdin and stdout, the pipes Asterisk
gives it (commands out on stdout, the environment and replies in on stdin)."""

from __future__ import annotations

import asyncio
import os
import stat


class PipeSink:
    """Commands to stdout (a pipe): short lines, buffered by the transport."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        self._transport.write(data)

    async def drain(self) -> None:
        if self._transport.is_closing():
            raise ConnectionResetError("stdout is closed")

    def close(self) -> None:
        self._transport.close()

    async def wait_closed(self) -> None:
        return None


def _is_pipe(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def open_stdio(
    stdin_fd: int, stdout_fd: int,
) -> tuple[asyncio.StreamReader, PipeSink, asyncio.BaseTransport]:
    """Asyncio streams over the script's stdin and stdout (pipes from Asterisk); the fds
    themselves stay open (their owner closes them)."""
    for fd in (stdin_fd, stdout_fd):
        if not _is_pipe(fd):
            raise ValueError(f"fd {fd} is not a pipe or socket")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    stdin, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader),
        os.fdopen(stdin_fd, "rb", buffering=0, closefd=False),
    )
    try:
        stdout, _ = await loop.connect_write_pipe(
            asyncio.Protocol, os.fdopen(stdout_fd, "wb", buffering=0, closefd=False)
        )
    except BaseException:
        stdin.close()
        raise
    return reader, PipeSink(stdout), stdin
