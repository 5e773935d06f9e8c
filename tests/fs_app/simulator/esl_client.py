"""A bare ESL client for tests: writes commands, reads messages with the real parser."""

from __future__ import annotations

import asyncio

from fs_app.esl.events import EslEvent, is_event, parse_event
from fs_app.esl.message import EslMessage
from fs_app.esl.parser import EslParser


class RawEsl:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = EslParser()
        self.pending: list[EslMessage] = []
        self.events: list[EslEvent] = []

    @classmethod
    async def open(cls, port: int) -> RawEsl:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def next(self, within_s: float = 3.0) -> EslMessage:
        """The next message that is not an event (events are kept in ``events``)."""
        async with asyncio.timeout(within_s):
            while True:
                while self.pending:
                    message = self.pending.pop(0)
                    if is_event(message):
                        self.events.append(parse_event(message))
                    else:
                        return message
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError("closed")
                self.pending.extend(self.parser.feed(data))

    async def event(self, name: str, *, within_s: float = 3.0, **fields: str) -> EslEvent:
        async with asyncio.timeout(within_s):
            while True:
                for message in [m for m in self.pending if is_event(m)]:
                    self.pending.remove(message)
                    self.events.append(parse_event(message))
                for i, event in enumerate(self.events):
                    if event.name == name and all(event.get(k) == v for k, v in fields.items()):
                        return self.events.pop(i)
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError("closed")
                for message in self.parser.feed(data):
                    if is_event(message):
                        self.events.append(parse_event(message))
                    else:
                        self.pending.append(message)

    async def next_any(self) -> EslMessage:
        """The next message, event or not (events already set aside first)."""
        while True:
            if self.pending:
                return self.pending.pop(0)
            data = await self.reader.read(65536)
            if not data:
                raise EOFError("closed")
            self.pending.extend(self.parser.feed(data))

    async def custom(self, subclass: str) -> EslEvent:
        """The next CUSTOM event of ``subclass``."""
        return await self.event("CUSTOM", **{"Event-Subclass": subclass})  # type: ignore[arg-type]

    async def command(self, raw: str) -> EslMessage:
        self.writer.write(raw.encode())
        await self.writer.drain()
        return await self.next()

    async def closed(self, within_s: float = 3.0) -> bool:
        async with asyncio.timeout(within_s):
            while data := await self.reader.read(65536):
                self.pending.extend(self.parser.feed(data))
        return True

    def close(self) -> None:
        self.writer.close()
