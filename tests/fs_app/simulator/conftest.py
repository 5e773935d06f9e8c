"""Factories for simulator tests: a FreeSWITCH simulator whose dialplan hands calls to a bare
app (a TCP server the test drives with raw ESL) and a WebSocket server playing mod_audio_fork's
other end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from aiohttp import WSMsgType, web

from ari_app.simulator.caller import SimulatedCaller
from fs_app import audio_fork
from fs_app.esl import commands
from fs_app.simulator.server import FreeswitchSimulator, SimCall, socket_dialplan
from tests.fs_app.simulator.esl_client import RawEsl


def tone(hz: float, seconds: float, rate: int = 8000) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (8000 * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()


@dataclass
class ForkServer:
    """The app's side of mod_audio_fork: records what FreeSWITCH sends."""

    texts: list[str] = field(default_factory=list)
    binaries: list[bytes] = field(default_factory=list)
    protocol: str | None = None
    ws: web.WebSocketResponse | None = None
    closed_code: int | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    gone: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=(audio_fork.SUBPROTOCOL,))
        await ws.prepare(request)
        self.protocol, self.ws = ws.ws_protocol, ws
        self.connected.set()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.texts.append(message.data)
            elif message.type == WSMsgType.BINARY:
                self.binaries.append(message.data)
        self.closed_code = ws.close_code
        self.gone.set()
        return ws


@dataclass
class Rig:
    sim: FreeswitchSimulator
    app_port: int
    fork: ForkServer
    fork_url: str
    accepted: asyncio.Queue[RawEsl]

    async def call(self, caller: SimulatedCaller | None = None) -> tuple[SimCall, RawEsl]:
        call = self.sim.place_call("callwright", caller or SimulatedCaller())
        esl = await asyncio.wait_for(self.accepted.get(), 3)
        return call, esl


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    accepted: asyncio.Queue[RawEsl] = asyncio.Queue()
    conns: list[RawEsl] = []

    async def on_socket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        esl = RawEsl(reader, writer)
        conns.append(esl)
        await accepted.put(esl)

    app_server = await asyncio.start_server(on_socket, "127.0.0.1", 0)
    app_port = app_server.sockets[0].getsockname()[1]
    fork = ForkServer()
    web_app = web.Application()
    web_app.router.add_get("/fork", fork.handle)
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    sim = FreeswitchSimulator(dialplan=socket_dialplan("127.0.0.1", app_port))
    await sim.start()
    yield Rig(sim, app_port, fork, f"ws://127.0.0.1:{port}/fork", accepted)
    await sim.stop()
    for esl in conns:
        esl.close()
    app_server.close()
    await app_server.wait_closed()
    await runner.cleanup()


async def start_call(rig: Rig, esl: RawEsl) -> str:
    connect = await esl.command(commands.connect().decode())
    data = connect.decoded()
    assert connect.reply_text == "+OK\n" and data["Socket-Mode"] == "async"
    assert data["Answer-State"] == "ringing"
    assert (await esl.command(commands.myevents().decode())).reply_text == "+OK Events Enabled"
    assert (await esl.command(commands.linger().decode())).reply_text == "+OK will linger"
    assert (await esl.command(commands.execute("answer").decode())).reply_text == "+OK"
    await esl.event("CHANNEL_ANSWER")
    return data["Unique-ID"]
