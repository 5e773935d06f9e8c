"""Factories for the AGI tests: the recorded Asterisk facts, a fake Asterisk peer that speaks
AGI over TCP (FastAGI) or over pipes (EAGI), and a real SQLite store seeded through the
repositories."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agi.fastagi import FastAgiServer, Handler
from agi.protocol import split_command_line
from callwright.store.assistants import Assistant, AssistantRepository
from callwright.store.db import Database
from callwright.store.numbers import Number, NumberRepository
from callwright.store.orgs import Org, OrgRepository


@dataclass(frozen=True)
class AgiFacts:
    """What a real Asterisk 22 sent (tests/asterisk22/asterisk-facts/agi/)."""

    fastagi_env: str                 # the FastAGI environment block, verbatim
    eagi_env: str                    # the EAGI environment block, verbatim
    exchanges: list[tuple[str, str]]  # (command line sent, reply text received), in order
    hangup_notice: str               # the unsolicited line after HANGUP


@pytest.fixture
def agi_facts(asterisk22_dir: Path) -> AgiFacts:
    folder = asterisk22_dir / "asterisk-facts" / "agi"
    transcript = json.loads((folder / "fastagi-transcript.json").read_text(encoding="utf-8"))
    env = transcript[0]["raw"]
    exchanges: list[tuple[str, str]] = []
    notice = ""
    for entry in transcript[1:]:
        raw = entry.get("raw")
        if raw is None:
            continue
        if entry["dir"] == "agi->asterisk":
            exchanges.append((raw.removesuffix("\n"), ""))
        elif "unsolicited" in entry.get("note", ""):
            notice = raw
        else:
            command, _ = exchanges[-1]
            exchanges[-1] = (command, raw)
    eagi_env = (folder / "eagi-env-block.txt").read_text(encoding="utf-8")
    return AgiFacts(env, eagi_env, exchanges, notice)


# -- a FastAGI server on a free port -------------------------------------------------------------

StartServer = Callable[..., Awaitable[FastAgiServer]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """``await start_server({"route": handler}, env_timeout=...)``: started on 127.0.0.1, any
    free port; stopped after the test."""
    started: list[FastAgiServer] = []

    async def start(routes: dict[str, Handler], **options: Any) -> FastAgiServer:
        server = FastAgiServer(routes, "127.0.0.1", 0, **options)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop(grace_s=1.0)


# -- a fake Asterisk peer ------------------------------------------------------------------------

Answer = Callable[[list[str]], str | None]


@dataclass
class FakeAsterisk:
    """Asterisk's side of one AGI conversation: sends the environment, reads our command
    lines, answers them. ``commands`` records every line received, split into words."""

    reader: asyncio.StreamReader
    writer: Any  # asyncio.StreamWriter, or a pipe transport wrapper with write/close
    commands: list[list[str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    async def send(self, text: str) -> None:
        self.writer.write(text.encode("utf-8"))
        drain = getattr(self.writer, "drain", None)
        if drain is not None:
            await drain()

    async def next_command(self, within_s: float = 10.0) -> list[str] | None:
        """The next command (its words), or None when the other side closed."""
        async with asyncio.timeout(within_s):
            raw = await self.reader.readline()
        if not raw:
            return None
        line = raw.decode("utf-8").removesuffix("\n")
        self.lines.append(line)
        words = split_command_line(line)
        self.commands.append(words)
        return words

    async def serve(self, answer: Answer, within_s: float = 10.0) -> None:
        """Answer commands with ``answer(words)`` (a reply line, or None to stop) until the
        other side closes."""
        while (words := await self.next_command(within_s)) is not None:
            reply = answer(words)
            if reply is None:
                return
            await self.send(reply if reply.endswith("\n") else reply + "\n")

    async def closed_by_peer(self, within_s: float = 5.0) -> bool:
        async with asyncio.timeout(within_s):
            return await self.reader.read(1) == b""


ConnectPeer = Callable[..., Awaitable[FakeAsterisk]]


@pytest.fixture
async def connect_peer() -> AsyncIterator[ConnectPeer]:
    """``await connect_peer(server, env_block)``: a fake Asterisk connected to ``server`` over
    TCP that has sent ``env_block``; closed after the test."""
    opened: list[asyncio.StreamWriter] = []

    async def connect(server: FastAgiServer, env_block: str | None = None) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        opened.append(writer)
        peer = FakeAsterisk(reader, writer)
        if env_block is not None:
            await peer.send(env_block)
        return peer

    yield connect
    for writer in opened:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


def env_block(facts: AgiFacts, *, script: str = "test", args: tuple[str, ...] = ("foo",),
              extension: str = "100") -> str:
    """The recorded FastAGI environment with another script name, arguments and extension."""
    lines = []
    for line in facts.fastagi_env.split("\n"):
        if not line or line.startswith("agi_arg_"):
            continue
        key = line.split(":", 1)[0]
        if key == "agi_network_script":
            line = f"agi_network_script: {script}"
        elif key == "agi_request":
            line = f"agi_request: agi://127.0.0.1:4573/{script}"
        elif key == "agi_extension":
            line = f"agi_extension: {extension}"
        lines.append(line)
    lines += [f"agi_arg_{i}: {arg}" for i, arg in enumerate(args, 1)]
    return "\n".join(lines) + "\n\n"


# -- the store -----------------------------------------------------------------------------------


@dataclass
class Store:
    db: Database
    org: Org
    assistants: AssistantRepository
    numbers: NumberRepository

    @property
    def path(self) -> Path:
        """The SQLite file (a store opened from a file always has one)."""
        assert self.db.path is not None
        return self.db.path

    async def assistant(self, **fields: Any) -> Assistant:
        name = fields.pop("name", f"Assistant {next(_names)}")
        return await self.assistants.create(self.org.id, name, **fields)

    async def number(self, number: str, assistant: Assistant | None = None,
                     **fields: Any) -> Number:
        return await self.numbers.create(
            self.org.id, number, assistant_id=assistant.id if assistant else None, **fields
        )


_names = itertools.count(1)
MakeStore = Callable[..., Awaitable[Store]]


@pytest.fixture
async def make_store(tmp_path: Path) -> AsyncIterator[MakeStore]:
    """``await make_store()``: a migrated SQLite file in tmp_path with one org."""
    opened: list[Database] = []
    counter = itertools.count()

    async def make(name: str | None = None) -> Store:
        db = await Database.open(tmp_path / (name or f"agi-{next(counter)}.db"))
        opened.append(db)
        org = await OrgRepository(db).create("Acme", f"acme-{next(counter)}")
        return Store(db, org, AssistantRepository(db), NumberRepository(db))

    yield make
    for db in opened:
        await db.close()

