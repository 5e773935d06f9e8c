"""A raw AMI client for tests, and the recorded transcripts (ami-*.txt) as messages."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

FACTS = Path(__file__).parents[2] / "asterisk22" / "asterisk-facts" / "outbound-ami"
Message = list[tuple[str, str]]


def recorded(name: str) -> list[tuple[str, str]]:
    """(direction, raw text with real CRLF) of each block of a recorded AMI transcript."""
    text = (FACTS / name).read_text()
    out = []
    for block in re.split(r"\n(?=### )", text):
        head, _, body = block.partition("\n")
        if not head.startswith("### "):
            continue
        direction = head.split()[2]
        raw = body.strip("\n").replace("\\r\\n\n", "\r\n").replace("\\r\\n", "\r\n")
        out.append((direction, raw.rstrip("\r\n")))
    return out


def keys(raw: str) -> list[str]:
    return [line.split(":", 1)[0] for line in raw.split("\r\n") if ":" in line]


def fields(raw: str) -> dict[str, str]:
    out = {}
    for line in raw.split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            out[key] = value
    return out


class RawAmi:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> RawAmi:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        opened = cls(reader, writer)
        OPENED.append(opened)
        return opened

    async def banner(self) -> bytes:
        return await self.reader.readline()

    def send(self, *pairs: tuple[str, str]) -> None:
        self.writer.write("".join(f"{k}: {v}\r\n" for k, v in pairs).encode() + b"\r\n")

    async def read(self, wait_s: float = 3.0) -> str:
        """The next message, its CRLF kept, without the final empty line."""
        async with asyncio.timeout(wait_s):
            raw = await self.reader.readuntil(b"\r\n\r\n")
        return raw.decode()[:-4]

    async def response(self, wait_s: float = 3.0) -> str:
        """The next response, skipping the events that come before it."""
        while True:
            raw = await self.read(wait_s)
            if raw.startswith("Response: "):
                return raw

    async def until(self, event: str, wait_s: float = 8.0) -> list[str]:
        """Messages up to and including the event ``event``."""
        out = []
        while True:
            raw = await self.read(wait_s)
            out.append(raw)
            if raw.startswith(f"Event: {event}\r\n") or raw == f"Event: {event}":
                return out

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


#: Every RawAmi a test opened, closed by the ``ami_sockets`` fixture.
OPENED: list[RawAmi] = []
