"""FreeSWITCH's side sending what is not ESL: the call fails with a clear reason, what came
before the bad bytes is not lost, and the service goes on taking calls."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ari_app.demo import DEMO_NUMBER
from fs_app.esl.events import encode_plain_event
from fs_app.esl.message import api_response, encode_message, reply, url_encode
from tests.fs_app.conftest import MakeFsHarness

pytestmark = pytest.mark.slow
UUID = "6f1c1f9e-1d7b-4e3c-9a39-0a7d5bd3d001"


def channel_data() -> bytes:
    data = [("Event-Name", "CHANNEL_DATA"), ("Unique-ID", UUID),
            ("Channel-Name", "loopback/100-b"), ("Caller-Destination-Number", DEMO_NUMBER),
            ("Caller-Caller-ID-Number", "5551234"), ("Caller-Caller-ID-Name", "Alice"),
            ("Answer-State", "ringing")]
    return encode_message([(k, url_encode(v)) for k, v in data] + [
        ("Content-Type", "command/reply"), ("Reply-Text", url_encode("+OK\n")),
        ("Socket-Mode", "async"), ("Control", "full")])


class FakeSwitch:
    """Plays FreeSWITCH's part of an outbound socket, by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def expect(self, first_line: str) -> None:
        async with asyncio.timeout(5):
            while True:
                line = (await self.reader.readline()).decode().strip()
                if line:
                    break
            assert line.startswith(first_line), line
            while (await self.reader.readline()).strip():
                pass


async def handshake(fs: FakeSwitch) -> None:
    """Up to the answer's command reply."""
    await fs.expect("connect")
    fs.writer.write(channel_data())
    await fs.expect("myevents")
    fs.writer.write(reply("+OK Events Enabled"))
    await fs.expect("linger")
    fs.writer.write(reply("+OK will linger"))
    for _ in range(2):  # callwright_node and callwright_call_uid (fs_app.recovery)
        await fs.expect("api uuid_setvar")
        fs.writer.write(api_response("+OK\n"))
    await fs.expect("sendmsg")


async def test_bad_bytes_fail_the_call_with_why_after_delivering_what_came_before(
    make_fs_harness: MakeFsHarness, caplog: pytest.LogCaptureFixture,
) -> None:
    h = await make_fs_harness()
    reader, writer = await asyncio.open_connection("127.0.0.1", h.service.socket_port)
    fs = FakeSwitch(reader, writer)
    await handshake(fs)
    # the reply, the answer event, then garbage: all in one write
    answer = encode_plain_event([("Event-Name", "CHANNEL_ANSWER"), ("Unique-ID", UUID)])
    with caplog.at_level(logging.ERROR):
        writer.write(reply("+OK") + answer + b"this is not ESL\n\n")
        await writer.drain()
        row = await h.closed_call()
    assert row.status == "failed"
    assert "protocol error" in row.end_reason and "not 'Name: value'" in row.end_reason
    assert row.answered_at is not None  # the answer before the bad bytes was delivered
    assert any("not ESL" in r.getMessage() for r in caplog.records)
    await asyncio.wait_for(reader.read(), 5)  # our side closed the socket (FS then hangs up)
    assert reader.at_eof()
    writer.close()

    # the service still takes calls
    reader2, writer2 = await asyncio.open_connection("127.0.0.1", h.service.socket_port)
    await FakeSwitch(reader2, writer2).expect("connect")
    writer2.close()


async def test_the_switch_going_away_fails_the_call_instead_of_a_caller_hangup(
    make_fs_harness: MakeFsHarness,
) -> None:
    h = await make_fs_harness()
    reader, writer = await asyncio.open_connection("127.0.0.1", h.service.socket_port)
    await handshake(FakeSwitch(reader, writer))
    answer = encode_plain_event([("Event-Name", "CHANNEL_ANSWER"), ("Unique-ID", UUID)])
    writer.write(reply("+OK") + answer)
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()  # no CHANNEL_HANGUP: the switch is gone, not the caller
    row = await h.closed_call()
    assert row.status == "failed"
    assert "peer closed the connection" in row.end_reason
