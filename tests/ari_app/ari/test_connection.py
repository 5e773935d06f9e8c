"""AriEventStream against a real websocket server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from ari_app.ari import events as ev
from ari_app.ari.connection import AriEventStream, Backoff, events_url
from callwright.errors import AriError, AriUnavailable

from .conftest import ServerFactory
from .fake_ari import HTML_404, PASSWORD, USER, Canned
from .fake_events import EventServer
from .local_server import free_port

APP = "voicebot"


def varset(value: str) -> str:
    return json.dumps({"type": "ChannelVarset", "variable": "N", "value": value,
                       "timestamp": "2026-11-22T05:44:50.441+0000", "application": APP})


@dataclass
class Recorder:
    events: list[ev.AriEvent] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)      # "connected:False", "event:...", ...
    reasons: list[str] = field(default_factory=list)
    on_event_hook: Callable[[ev.AriEvent], Awaitable[None]] | None = None
    connected_delay_s: float = 0.0

    async def on_event(self, event: ev.AriEvent) -> None:
        self.calls.append(f"event:{event.type}")
        if self.on_event_hook is not None:
            await self.on_event_hook(event)
        self.events.append(event)

    async def on_connected(self, *, reconnect: bool) -> None:
        if self.connected_delay_s:
            await asyncio.sleep(self.connected_delay_s)
        self.calls.append(f"connected:{reconnect}")

    async def on_disconnected(self, reason: str) -> None:
        self.calls.append("disconnected")
        self.reasons.append(reason)

    async def wait(self, predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            assert time.monotonic() < deadline, f"timed out; calls so far: {self.calls}"
            await asyncio.sleep(0.01)


StreamFactory = Callable[..., AriEventStream]


@pytest.fixture
async def make_stream(session: aiohttp.ClientSession) -> AsyncIterator[StreamFactory]:
    """``make_stream(base_url, recorder, **options)`` -> an unstarted stream, stopped at teardown.
    Defaults: fast backoff without jitter, so timings are predictable."""
    streams: list[AriEventStream] = []

    def make(base_url: str, recorder: Recorder, *, password: str = PASSWORD,
             **options: Any) -> AriEventStream:
        settings: dict[str, Any] = {"reconnect_initial_s": 0.05, "reconnect_jitter": 0.0,
                                    "start_timeout_s": 5.0, "rng": random.Random(7)}
        settings.update(options)
        stream = AriEventStream(
            session, base_url, USER, password, APP, on_event=recorder.on_event,
            on_connected=recorder.on_connected, on_disconnected=recorder.on_disconnected,
            **settings,
        )
        streams.append(stream)
        return stream

    yield make
    for stream in streams:
        await stream.stop()


async def serve(make_server: ServerFactory, events: EventServer, port: int = 0,
                start: bool = True) -> str:
    server = await make_server(events.app(), port=port, start=start)
    return server.base_url


async def test_start_connects_with_credentials_and_app(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    events, rec = EventServer(), Recorder()
    stream = make_stream(await serve(make_server, events), rec)
    await stream.start()
    assert stream.connected
    assert rec.calls == ["connected:False"]
    [(_, status, query, authorization)] = events.handshakes
    assert status == 101
    assert query == {"app": APP, "subscribeAll": "false"}
    assert authorization == aiohttp.encode_basic_auth(USER, PASSWORD)


async def test_wrong_password_fails_start_at_once(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    rec = Recorder()
    stream = make_stream(await serve(make_server, EventServer()), rec, password="wrong")
    started = time.monotonic()
    with pytest.raises(AriError) as info:
        await stream.start()
    assert info.value.status == 401
    assert time.monotonic() - started < 1.0
    assert not stream.connected and rec.calls == []


async def test_events_dispatched_in_order_one_at_a_time(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    events, rec = EventServer(), Recorder()
    active = 0
    most = 0

    async def slow(event: ev.AriEvent) -> None:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.005)
        active -= 1

    rec.on_event_hook = slow
    stream = make_stream(await serve(make_server, events), rec)
    await stream.start()
    ws = await events.next_socket()
    for i in range(30):
        await ws.send_str(varset(str(i)))
    await rec.wait(lambda: len(rec.events) == 30)
    assert [e.value for e in rec.events if isinstance(e, ev.ChannelVarset)] == [
        str(i) for i in range(30)]
    assert most == 1
    assert stream.events_received == 30


async def test_on_connected_completes_before_first_event(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    events = EventServer(greeting=[varset("early")])
    rec = Recorder(connected_delay_s=0.1)
    stream = make_stream(await serve(make_server, events), rec)
    await stream.start()
    await rec.wait(lambda: len(rec.events) == 1)
    assert rec.calls == ["connected:False", "event:ChannelVarset"]


async def test_malformed_event_is_logged_and_skipped(
        make_server: ServerFactory, make_stream: StreamFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    events, rec = EventServer(), Recorder()
    stream = make_stream(await serve(make_server, events), rec)
    await stream.start()
    ws = await events.next_socket()
    with caplog.at_level(logging.WARNING, logger="ari_app.ari.connection"):
        await ws.send_str(varset("1"))
        await ws.send_str("this is not json " + "x" * 500)
        await ws.send_str('{"type": "StasisEnd"}')
        await ws.send_bytes(b"\x00\x01")
        await ws.send_str(varset("2"))
        await rec.wait(lambda: len(rec.events) == 2)
    assert stream.malformed_events == 3
    assert stream.connected
    assert "this is not json" in caplog.text and "x" * 300 not in caplog.text
    assert "missing required field 'channel'" in caplog.text


async def test_unknown_event_is_passed_on(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    events, rec = EventServer(), Recorder()
    stream = make_stream(await serve(make_server, events), rec)
    await stream.start()
    ws = await events.next_socket()
    await ws.send_str(json.dumps({"type": "BridgeCreated", "bridge": {"id": "b"}}))
    await rec.wait(lambda: len(rec.events) == 1)
    assert isinstance(rec.events[0], ev.UnknownEvent)
    assert rec.events[0].type == "BridgeCreated"


async def test_handler_exception_does_not_end_the_stream(
        make_server: ServerFactory, make_stream: StreamFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    events, rec = EventServer(), Recorder()

    async def explode_once(event: ev.AriEvent) -> None:
        if isinstance(event, ev.ChannelVarset) and event.value == "boom":
            raise RuntimeError("handler bug")

    rec.on_event_hook = explode_once
    stream = make_stream(await serve(make_server, events), rec)
    await stream.start()
    ws = await events.next_socket()
    await ws.send_str(varset("boom"))
    await ws.send_str(varset("after"))
    await rec.wait(lambda: len(rec.events) == 1)
    assert rec.calls == ["connected:False", "event:ChannelVarset", "event:ChannelVarset"]
    assert stream.handler_errors == 1 and stream.connected
    assert "handler bug" in caplog.text


async def test_application_replaced_is_surfaced_and_logged_loudly(
        make_server: ServerFactory, make_stream: StreamFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    events, rec = EventServer(), Recorder()
    stream = make_stream(await serve(make_server, events), rec)
    await stream.start()
    ws = await events.next_socket()
    await ws.send_str('{"type":"ApplicationReplaced","timestamp":"2026-11-22T05:49:42.215+0000",'
                      '"application":"voicebot","asterisk_id":"02:fc:00:00:00:01"}')
    await rec.wait(lambda: len(rec.events) == 1)
    assert isinstance(rec.events[0], ev.ApplicationReplaced)
    replaced = [r for r in caplog.records if "REPLACED" in r.getMessage()]
    assert replaced and replaced[0].levelno == logging.ERROR


async def test_abrupt_close_reconnects_and_reports(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    events, rec = EventServer(), Recorder()
    stream = make_stream(await serve(make_server, events), rec, reconnect_initial_s=0.2)
    await stream.start()
    first = await events.next_socket()
    dropped_at = time.monotonic()
    events.drop(first)
    second = await events.next_socket()
    assert time.monotonic() - dropped_at >= 0.2
    await rec.wait(lambda: rec.calls[-1] == "connected:True")
    assert rec.calls == ["connected:False", "disconnected", "connected:True"]
    assert "1006" in rec.reasons[0]
    assert stream.reconnects == 1 and stream.connected
    await second.send_str(varset("after reconnect"))
    await rec.wait(lambda: len(rec.events) == 1)


async def test_clean_server_close_reconnects(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    events, rec = EventServer(), Recorder()
    stream = make_stream(await serve(make_server, events), rec)
    await stream.start()
    await (await events.next_socket()).close()
    await events.next_socket()
    await rec.wait(lambda: rec.calls[-1:] == ["connected:True"])
    assert "1000" in rec.reasons[0]
    assert stream.reconnects == 1


async def test_backoff_grows_between_failed_attempts(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    events, rec = EventServer(), Recorder()
    stream = make_stream(await serve(make_server, events), rec, stable_after_s=60.0)
    await stream.start()
    events.refusals = [Canned(503, {"message": "Asterisk not booted"})] * 4
    events.drop(await events.next_socket())
    await events.next_socket()
    await rec.wait(lambda: rec.calls[-1:] == ["connected:True"])
    times = [t for t, *_ in events.handshakes[1:]]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert [s for _, s, *_ in events.handshakes] == [101, 503, 503, 503, 503, 101]
    for gap, expected in zip(gaps, [0.1, 0.2, 0.4, 0.8], strict=True):
        assert gap >= expected * 0.9, gaps
    assert stream.connect_failures == 4 and stream.reconnects == 1


async def test_flapping_connection_still_backs_off(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    """A connection that drops at once does not reset the backoff (no tight reconnect loop)."""
    events, rec = EventServer(), Recorder()
    stream = make_stream(await serve(make_server, events), rec, stable_after_s=60.0)
    await stream.start()
    for _ in range(4):
        events.drop(await events.next_socket())
    await events.next_socket()
    times = [t for t, *_ in events.handshakes]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    for gap, expected in zip(gaps, [0.05, 0.1, 0.2, 0.4], strict=True):
        assert gap >= expected * 0.9, gaps
    await rec.wait(lambda: stream.reconnects == 4)


async def test_refused_then_503_then_html_404_then_connects(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    port = free_port()
    events = EventServer(refusals=[Canned(503, {"message": "Asterisk not booted"}),
                                   Canned(404, HTML_404, "text/html")])
    rec = Recorder()
    base_url = f"http://127.0.0.1:{port}"
    stream = make_stream(base_url, rec, reconnect_max_s=0.2)
    starting = asyncio.create_task(stream.start())
    await asyncio.sleep(0.3)                    # nothing listens yet: connection refused
    assert not starting.done() and stream.connect_failures >= 2
    server = await make_server(events.app(), port=port, start=False)
    await server.start()
    await asyncio.wait_for(starting, 3.0)
    assert [s for _, s, *_ in events.handshakes] == [503, 404, 101]
    assert stream.connected and rec.calls == ["connected:False"]


async def test_start_gives_up_with_unavailable(make_stream: StreamFactory) -> None:
    rec = Recorder()
    stream = make_stream(f"http://127.0.0.1:{free_port()}", rec, start_timeout_s=0.3)
    with pytest.raises(AriUnavailable) as info:
        await stream.start()
    assert "not connected within 0.3 s" in str(info.value)
    await asyncio.wait_for(stream.wait_closed(), 1.0)   # the background task is gone


async def test_configured_give_up_ends_the_stream(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    events, rec = EventServer(), Recorder()
    server = await make_server(events.app())
    stream = make_stream(server.base_url, rec, give_up_after_s=0.3)
    await stream.start()
    await server.stop()
    with pytest.raises(AriUnavailable, match="giving up"):
        await asyncio.wait_for(stream.wait_closed(), 3.0)
    assert rec.calls == ["connected:False", "disconnected"]
    assert isinstance(stream.failure, AriUnavailable)


async def test_stop_closes_cleanly(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    events, rec = EventServer(), Recorder()
    stream = make_stream(await serve(make_server, events), rec)
    await stream.start()
    await events.next_socket()
    await stream.stop()
    await stream.stop()
    assert not stream.connected
    await rec.wait(lambda: events.close_codes == [1000])
    assert rec.calls == ["connected:False"]          # no on_disconnected for our own stop
    await stream.wait_closed()


async def test_stop_during_backoff_is_prompt(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    events, rec = EventServer(), Recorder()
    server = await make_server(events.app())
    stream = make_stream(server.base_url, rec, reconnect_initial_s=30.0)
    await stream.start()
    await server.stop()
    await rec.wait(lambda: "disconnected" in rec.calls)
    started = time.monotonic()
    await stream.stop()
    assert time.monotonic() - started < 0.5


async def test_stop_while_the_handshake_hangs(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(30)
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/ari/events", hang)
    server = await make_server(app)
    rec = Recorder()
    stream = make_stream(server.base_url, rec, connect_timeout_s=20.0)
    starting = asyncio.create_task(stream.start())
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await stream.stop()
    assert time.monotonic() - started < 0.5
    with pytest.raises(AriUnavailable, match="stopped before it connected"):
        await starting
    assert rec.calls == []


async def test_stop_from_a_handler(
        make_server: ServerFactory, make_stream: StreamFactory) -> None:
    events, rec = EventServer(greeting=[varset("stop")]), Recorder()
    holder: list[AriEventStream] = []

    async def stop_stream(event: ev.AriEvent) -> None:
        await holder[0].stop()

    rec.on_event_hook = stop_stream
    stream = make_stream(await serve(make_server, events), rec)
    holder.append(stream)
    await stream.start()
    await asyncio.wait_for(stream.wait_closed(), 2.0)
    assert not stream.connected and stream.reconnects == 0


@given(attempt=st.integers(0, 1000), seed=st.integers(0, 2**32),
       jitter=st.floats(0.0, 1.0), max_s=st.floats(0.1, 60.0))
def test_backoff_delay_stays_within_bounds(attempt: int, seed: int, jitter: float,
                                           max_s: float) -> None:
    backoff = Backoff(initial_s=0.5, factor=2.0, max_s=max_s, jitter=jitter)
    delay = backoff.delay(attempt, random.Random(seed))
    base = min(max_s, 0.5 * 2.0 ** attempt)
    assert 0.0 <= delay <= max_s
    assert base * (1 - jitter) - 1e-9 <= delay <= base * (1 + jitter) + 1e-9


def test_backoff_defaults_double_up_to_the_cap() -> None:
    backoff = Backoff(jitter=0.0)
    assert [backoff.delay(n, random.Random()) for n in range(8)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


@pytest.mark.parametrize(("base_url", "expected"), [
    ("http://127.0.0.1:8088", "ws://127.0.0.1:8088/ari/events"),
    ("https://pbx.example:8089/", "wss://pbx.example:8089/ari/events"),
    ("http://user:secret@pbx:8088/asterisk", "ws://pbx:8088/asterisk/ari/events"),
])
def test_events_url(base_url: str, expected: str) -> None:
    assert str(events_url(base_url)) == expected
