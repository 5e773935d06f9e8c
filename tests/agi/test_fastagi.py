"""The FastAGI server and AgiSession over real TCP on 127.0.0.1, against a fake Asterisk that
sends the recorded environment block and answers commands as the real one did."""

from __future__ import annotations

import asyncio
import time

import pytest

from agi.fastagi import ESCAPE_ALL, AgiClosed, AgiSession, StreamResult
from agi.protocol import DeadChannel, InvalidCommand, UsageError, split_command_line
from callwright.errors import ProtocolError
from tests.agi.conftest import AgiFacts, ConnectPeer, FakeAsterisk, StartServer, env_block


def recorded_answers(facts: AgiFacts, peer: FakeAsterisk) -> asyncio.Task[None]:
    """Answer each command with the recorded reply, checking it is the recorded command (by
    its words: quoting may differ). After HANGUP, also send the unsolicited HANGUP line."""
    expected = list(facts.exchanges)

    async def run() -> None:
        while (words := await peer.next_command()) is not None:
            command, reply = expected.pop(0)
            assert words == split_command_line(command)
            await peer.send(reply)
            if command == "HANGUP":
                await asyncio.sleep(0.043)  # as recorded: 43 ms later
                await peer.send(facts.hangup_notice)

    return asyncio.get_running_loop().create_task(run())


async def test_the_recorded_conversation_through_the_typed_api(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer
) -> None:
    results: dict[str, object] = {}
    done = asyncio.Event()

    async def handler(session: AgiSession) -> None:
        results["script"] = session.env.script
        results["args"] = session.env.args
        await session.answer()
        results["num"] = await session.get_variable("CALLERID(num)")
        results["name"] = await session.get_variable("CALLERID(name)")
        results["missing"] = await session.get_variable("NO_SUCH_VARIABLE")
        await session.set_variable("FOO", "bar baz")
        results["foo"] = await session.get_variable("FOO")
        results["channel"] = await session.get_full_variable("${CHANNEL}")
        results["status"] = await session.channel_status()
        results["hello"] = await session.stream_file("hello")
        results["no-such-file"] = await session.stream_file("no-such-file")
        results["beep"] = await session.stream_file("beep", ESCAPE_ALL)
        await session.verbose("hello from fastagi", 1)
        await session.noop()
        with pytest.raises(InvalidCommand) as unknown:
            await session.command("FOOBAR", "baz")
        results["510"] = unknown.value.code
        with pytest.raises(UsageError) as usage:
            await session.command("GET VARIABLE")
        results["520"] = usage.value.usage
        assert not session.hung_up
        await session.hangup()
        async with asyncio.timeout(2):
            await session.wait_hangup()
        results["hung_up"] = session.hung_up
        results["foo after"] = await session.get_variable("FOO")
        with pytest.raises(DeadChannel):
            await session.answer()
        done.set()

    server = await start_server({"test": handler})
    peer = await connect_peer(server, agi_facts.fastagi_env)
    answering = recorded_answers(agi_facts, peer)
    async with asyncio.timeout(10):
        await done.wait()
        await answering  # ends when the server closes (Asterisk waits for that)
    assert peer.reader.at_eof()
    assert results == {
        "script": "test", "args": ("foo", "bar baz"),
        "num": "5551234", "name": "Alice", "missing": None, "foo": "bar baz",
        "channel": "Local/s@caller-long-00000022;1", "status": 6,
        "hello": StreamResult(True, None, 40350),
        "no-such-file": StreamResult(False, None, 0),
        "beep": StreamResult(True, None, 3404),
        "510": 510,
        "520": tuple(agi_facts.exchanges[14][1].splitlines()[1:-1]),
        "hung_up": True, "foo after": "bar baz",
    }


async def test_a_key_that_stops_a_prompt(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer
) -> None:
    got: list[StreamResult] = []

    async def handler(session: AgiSession) -> None:
        got.append(await session.stream_file("menu", "12"))

    server = await start_server({"test": handler})
    peer = await connect_peer(server, agi_facts.fastagi_env)
    assert await peer.next_command() == ["STREAM", "FILE", "menu", "12"]
    await peer.send("200 result=50 endpos=2400\n")  # ASCII 50 = "2"
    assert await peer.closed_by_peer()
    assert got == [StreamResult(True, "2", 2400)]


async def test_the_script_name_picks_the_handler(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer
) -> None:
    seen: list[str] = []

    async def route(session: AgiSession) -> None:
        seen.append("route:" + session.env.dialed)

    async def other(session: AgiSession) -> None:
        seen.append("other")

    server = await start_server({"route": route, "other": other})
    peer = await connect_peer(server, env_block(agi_facts, script="route", args=("+8225550100",)))
    assert await peer.closed_by_peer()
    peer = await connect_peer(server, env_block(agi_facts, script="route?x=1", args=()))
    assert await peer.closed_by_peer()
    assert seen == ["route:+8225550100", "route:100"]


async def test_an_unknown_script_is_logged_to_asterisk_and_closed(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer
) -> None:
    server = await start_server({"route": lambda session: asyncio.sleep(0)})
    peer = await connect_peer(server, agi_facts.fastagi_env)  # asks for "test"
    assert await peer.next_command() == ["VERBOSE", "Callwright: no AGI script test", "1"]
    await peer.send("200 result=1\n")
    assert await peer.closed_by_peer()


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x00\x01\x02\xff\n\n",
    b"agi_request: x\nagi_request: y\n\n",
])
async def test_a_garbage_environment_closes_that_connection_only(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer, garbage: bytes
) -> None:
    served: list[str] = []

    async def handler(session: AgiSession) -> None:
        served.append(session.env.channel)

    server = await start_server({"test": handler})
    bad = await connect_peer(server)
    bad.writer.write(garbage)
    assert await bad.closed_by_peer()
    good = await connect_peer(server, agi_facts.fastagi_env)
    assert await good.closed_by_peer()
    assert served == ["Local/s@caller-long-00000022;1"]


async def test_a_garbage_reply_fails_the_command_and_closes(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer
) -> None:
    errors: list[BaseException] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.answer()
        except ProtocolError as exc:
            errors.append(exc)
            raise

    server = await start_server({"test": handler})
    peer = await connect_peer(server, agi_facts.fastagi_env)
    assert await peer.next_command() == ["ANSWER"]
    await peer.send("HTTP/1.1 200 OK\n")
    assert await peer.closed_by_peer()
    assert len(errors) == 1


async def test_the_peer_closing_mid_command_is_agi_closed(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer
) -> None:
    errors: list[BaseException] = []
    finished = asyncio.Event()

    async def handler(session: AgiSession) -> None:
        try:
            await session.stream_file("hello")
        except AgiClosed as exc:
            errors.append(exc)
        assert session.hung_up
        finished.set()

    server = await start_server({"test": handler})
    peer = await connect_peer(server, agi_facts.fastagi_env)
    assert await peer.next_command() == ["STREAM", "FILE", "hello", ""]
    peer.writer.close()
    async with asyncio.timeout(5):
        await finished.wait()
    assert len(errors) == 1


async def test_a_peer_that_never_sends_the_environment_is_dropped(
    start_server: StartServer, connect_peer: ConnectPeer
) -> None:
    server = await start_server({}, env_timeout=0.2)
    peer = await connect_peer(server)
    peer.writer.write(b"agi_network: yes\n")
    started = time.monotonic()
    assert await peer.closed_by_peer()
    assert 0.15 < time.monotonic() - started < 2.0


async def test_connections_are_served_concurrently(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer
) -> None:
    async def handler(session: AgiSession) -> None:
        await session.stream_file("hello")

    async def call(peer: FakeAsterisk) -> None:
        assert await peer.next_command() == ["STREAM", "FILE", "hello", ""]
        await asyncio.sleep(0.3)  # the prompt plays
        await peer.send("200 result=0 endpos=2400\n")
        assert await peer.closed_by_peer()

    server = await start_server({"test": handler})
    peers = [await connect_peer(server, agi_facts.fastagi_env) for _ in range(20)]
    started = time.monotonic()
    await asyncio.gather(*(call(peer) for peer in peers))
    assert time.monotonic() - started < 2.0  # 20 × 0.3 s one after another would be 6 s


async def test_an_abandoned_reply_does_not_get_out_of_step(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer
) -> None:
    got: list[str | None] = []

    async def handler(session: AgiSession) -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await session.get_variable("SLOW")
        got.append(await session.get_variable("FAST"))

    server = await start_server({"test": handler})
    peer = await connect_peer(server, agi_facts.fastagi_env)
    assert await peer.next_command() == ["GET", "VARIABLE", "SLOW"]
    await asyncio.sleep(0.3)
    await peer.send("200 result=1 (slow)\n")
    assert await peer.next_command() == ["GET", "VARIABLE", "FAST"]
    await peer.send("200 result=1 (fast)\n")
    assert await peer.closed_by_peer()
    assert got == ["fast"]


async def test_stop_cancels_handlers_still_running(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer
) -> None:
    cancelled = asyncio.Event()

    async def handler(session: AgiSession) -> None:
        try:
            await session.stream_file("long")
        except asyncio.CancelledError:
            cancelled.set()
            raise

    server = await start_server({"test": handler})
    peer = await connect_peer(server, agi_facts.fastagi_env)
    assert await peer.next_command() == ["STREAM", "FILE", "long", ""]
    await server.stop(grace_s=0.1)
    assert cancelled.is_set()
    assert await peer.closed_by_peer()
