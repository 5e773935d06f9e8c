"""AriRestClient against a real HTTP server on 127.0.0.1 answering with Asterisk's exact bodies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from ari_app.ari.models import Channel
from ari_app.ari.rest import AriRestClient, RetryPolicy, error_message
from callwright.errors import AriError, AriUnavailable, ProtocolError

from .conftest import ServerFactory
from .fake_ari import (
    APPLICATION,
    BRIDGE,
    CHANNEL,
    HTML_400,
    HTML_404,
    HTML_503,
    INFO,
    PASSWORD,
    USER,
    Canned,
    FakeAri,
)
from .local_server import free_port

ClientFactory = Callable[..., Awaitable[tuple[AriRestClient, FakeAri]]]
NO_RETRY_WAIT = RetryPolicy(attempts=4, first_delay_s=0.01, factor=2.0, max_total_s=1.0)


@pytest.fixture
def make_client(make_server: ServerFactory, session: aiohttp.ClientSession) -> ClientFactory:
    """``await make_client(password=..., timeout_s=...)`` -> (client, fake) on a fresh server."""
    async def make(password: str = PASSWORD, timeout_s: float = 5.0) -> tuple[AriRestClient,
                                                                             FakeAri]:
        fake = FakeAri()
        server = await make_server(fake.app())
        return AriRestClient(session, server.base_url, USER, password, timeout_s=timeout_s), fake
    return make


def _json(status: int, body: dict[str, Any]) -> Canned:
    return Canned(status, body)


# (call, method, path under /ari, answer, expected message): bodies as in errors-summary.md
ERROR_CASES: list[tuple[Callable[[AriRestClient], Awaitable[object]], str, str, Canned, str]] = [
    (lambda c: c.get_channel("does-not-exist"), "GET", "/channels/does-not-exist",
     _json(404, {"message": "Channel not found"}), "Channel not found"),
    (lambda c: c.hangup("does-not-exist"), "DELETE", "/channels/does-not-exist",
     _json(404, {"message": "Channel not found"}), "Channel not found"),
    (lambda c: c.answer("1.2"), "POST", "/channels/1.2/answer",
     _json(409, {"message": "Channel not in Stasis application"}),
     "Channel not in Stasis application"),
    (lambda c: c.add_channel("b1", "1.2"), "POST", "/bridges/b1/addChannel",
     _json(422, {"message": "Channel not in Stasis application"}),
     "Channel not in Stasis application"),
    (lambda c: c.add_channel("b1", "does-not-exist"), "POST", "/bridges/b1/addChannel",
     _json(400, {"message": "Channel not found"}), "Channel not found"),
    (lambda c: c.destroy_bridge("b1"), "DELETE", "/bridges/b1",
     _json(404, {"message": "Bridge not found"}), "Bridge not found"),
    (lambda c: c.get_variable("1.2", "NO_SUCH_VAR"), "GET", "/channels/1.2/variable",
     _json(404, {"message": "Provided variable was not found"}),
     "Provided variable was not found"),
    (lambda c: c.originate("NoSuchTech/foo", app="voicebot"), "POST", "/channels",
     _json(500, {"error": "Allocation failed"}), "Allocation failed"),
    (lambda c: c.create_bridge(type="nosuchtype"), "POST", "/bridges",
     _json(500, {"message": "Unable to create bridge. Possible duplicate bridge id '(null)'"}),
     "Unable to create bridge. Possible duplicate bridge id '(null)'"),
    (lambda c: c.external_media("voicebot", "127.0.0.1", "ulaw"), "POST",
     "/channels/externalMedia",
     _json(400, {"message": "external_host must be <host>:<port> for all transports other than "
                            "websocket"}),
     "external_host must be <host>:<port> for all transports other than websocket"),
    (lambda c: c.continue_in_dialplan("1.2"), "POST", "/channels/1.2/continue",
     Canned(400, HTML_400, "text/html"), "400 Bad Request: HTTP request is missing param: [app]"),
    (lambda c: c.list_channels(), "GET", "/channels",
     Canned(500, "Internal error\n", "text/plain"), "Internal error"),
]


@pytest.mark.parametrize(("call", "method", "path", "answer", "message"), ERROR_CASES)
async def test_error_status_raises_ari_error(
    make_client: ClientFactory, call: Callable[[AriRestClient], Awaitable[object]], method: str,
    path: str, answer: Canned, message: str,
) -> None:
    client, fake = await make_client()
    fake.on(method, "/ari" + path, answer)
    with pytest.raises(AriError) as info:
        await call(client)
    assert (info.value.method, info.value.path, info.value.status, info.value.message) == (
        method, path, answer.status, message)
    assert [(r.method, r.path) for r in fake.requests] == [(method, "/ari" + path)]


async def test_wrong_password_is_401(make_client: ClientFactory) -> None:
    client, fake = await make_client(password="wrong")
    fake.on("GET", "/ari/asterisk/info", _json(200, INFO))
    with pytest.raises(AriError) as info:
        await client.get_info()
    assert (info.value.status, info.value.message) == (401, "Authentication required")


@pytest.mark.parametrize(("answer", "fragment"), [
    (Canned(503, HTML_503, "text/html"), "503 Service Unavailable: Shutdown in progress"),
    (_json(503, {"message": "Asterisk not booted"}), "Asterisk not booted"),
    (Canned(404, HTML_404, "text/html"), "404 Not Found"),
])
async def test_restart_answers_raise_unavailable(make_client: ClientFactory, answer: Canned,
                                                 fragment: str) -> None:
    client, fake = await make_client()
    fake.on("GET", "/ari/channels", answer)
    with pytest.raises(AriUnavailable) as info:
        await client.list_channels()
    assert fragment in str(info.value)
    assert not isinstance(info.value, AriError)


async def test_connection_refused_raises_unavailable(session: aiohttp.ClientSession) -> None:
    client = AriRestClient(session, f"http://127.0.0.1:{free_port()}", USER, PASSWORD)
    with pytest.raises(AriUnavailable) as info:
        await client.answer("1.2")
    assert "/channels/1.2/answer" in str(info.value)


async def test_slow_answer_times_out_as_unavailable(make_client: ClientFactory) -> None:
    client, fake = await make_client(timeout_s=0.2)
    fake.on("GET", "/ari/channels", Canned(200, [], delay_s=2.0))
    started = asyncio.get_running_loop().time()
    with pytest.raises(AriUnavailable):
        await client.list_channels()
    assert asyncio.get_running_loop().time() - started < 1.0


@pytest.mark.parametrize("answer", [
    Canned(200, "<html>ok</html>", "text/html"),
    Canned(200, {"no": "id"}),
    Canned(200, [{"id": 5}]),
])
async def test_malformed_success_body_raises_protocol_error(make_client: ClientFactory,
                                                            answer: Canned) -> None:
    client, fake = await make_client()
    fake.on("GET", "/ari/channels/1.2", answer)
    fake.on("GET", "/ari/channels", answer)
    with pytest.raises(ProtocolError):
        await client.get_channel("1.2")
    with pytest.raises(ProtocolError):
        await client.list_channels()


async def test_basic_auth_sent_and_never_logged(make_client: ClientFactory,
                                                caplog: pytest.LogCaptureFixture) -> None:
    client, fake = await make_client()
    fake.on("POST", "/ari/channels/1.2/answer", Canned(204))
    with caplog.at_level(logging.DEBUG):
        await client.answer("1.2")
    assert fake.requests[0].authorization == aiohttp.encode_basic_auth(USER, PASSWORD)
    assert PASSWORD not in caplog.text and PASSWORD not in repr(client)
    assert "/channels/1.2/answer" in caplog.text


async def test_external_media_returns_channel_with_vars(make_client: ClientFactory) -> None:
    client, fake = await make_client()
    fake.on("POST", "/ari/channels/externalMedia", _json(200, CHANNEL))
    channel = await client.external_media("voicebot", "127.0.0.1:40100", "ulaw")
    assert isinstance(channel, Channel)
    assert channel.var("UNICASTRTP_LOCAL_PORT") == "14112"
    assert fake.requests[0].query == {"app": "voicebot", "external_host": "127.0.0.1:40100",
                                      "format": "ulaw", "encapsulation": "rtp",
                                      "transport": "udp"}
    assert fake.requests[0].body is None
    await client.external_media("voicebot", None, "slin16", encapsulation="none",
                                transport="websocket", connection_type="server",
                                variables={"CALL": "x"})
    assert fake.requests[1].query == {"app": "voicebot", "format": "slin16",
                                      "encapsulation": "none", "transport": "websocket",
                                      "connection_type": "server"}
    assert fake.requests[1].body == {"variables": {"CALL": "x"}}


async def test_originate_sends_args_and_variables(make_client: ClientFactory) -> None:
    client, fake = await make_client()
    fake.on("POST", "/ari/channels", _json(200, CHANNEL))
    await client.originate("Local/s@caller", app="voicebot", app_args=["outbound", "xyz"],
                           caller_id="Voicebot <5550100>", timeout_s=30, channel_id="out-1",
                           variables={"CALLWRIGHT_CALL": "42"})
    seen = fake.requests[0]
    assert seen.query == {"endpoint": "Local/s@caller", "app": "voicebot",
                          "appArgs": "outbound,xyz", "callerId": "Voicebot <5550100>",
                          "timeout": "30", "channelId": "out-1"}
    assert seen.body == {"variables": {"CALLWRIGHT_CALL": "42"}}
    with pytest.raises(ValueError, match="comma"):
        await client.originate("Local/s@caller", app="voicebot", app_args=["a,b"])
    assert len(fake.requests) == 1


async def test_calls_send_their_parameters(make_client: ClientFactory) -> None:
    client, fake = await make_client()
    for method, path in [("DELETE", "/ari/channels/1.2"), ("POST", "/ari/channels/1.2/continue"),
                         ("POST", "/ari/bridges/b1/addChannel"), ("POST", "/ari/channels/1.2/dtmf"),
                         ("POST", "/ari/channels/1.2/variable")]:
        fake.on(method, path, Canned(204))
    fake.on("POST", "/ari/bridges", _json(200, BRIDGE))
    fake.on("GET", "/ari/channels/1.2/variable", _json(200, {"value": "SUCCESS"}))
    fake.on("GET", "/ari/applications/voicebot", _json(200, APPLICATION))
    await client.hangup("1.2", reason="normal")
    await client.continue_in_dialplan("1.2", "after-stasis", "200", 1)
    await client.add_channel("b1", "1.2", absorb_dtmf=True)
    await client.send_dtmf("1.2", "12#", duration_ms=100)
    await client.set_variable("1.2", "X", "")
    bridge = await client.create_bridge(name="voicebot-bridge")
    assert await client.get_variable("1.2", "STASISSTATUS") == "SUCCESS"
    app = await client.get_application("voicebot")
    assert bridge.bridge_type == "mixing" and app.name == "voicebot"
    assert [r.query for r in fake.requests] == [
        {"reason": "normal"},
        {"context": "after-stasis", "extension": "200", "priority": "1"},
        {"channel": "1.2", "absorbDTMF": "true"},
        {"dtmf": "12#", "duration": "100"},
        {"variable": "X", "value": ""},
        {"type": "mixing", "name": "voicebot-bridge"},
        {"variable": "STASISSTATUS"},
        {},
    ]


async def test_ids_are_quoted_in_paths(make_client: ClientFactory) -> None:
    client, fake = await make_client()
    fake.on("GET", "/ari/channels/a/b?c", _json(200, CHANNEL))
    await client.get_channel("a/b?c")
    assert fake.requests[0].raw_path == "/ari/channels/a%2Fb%3Fc"
    with pytest.raises(ValueError):
        await client.get_channel("")


async def test_add_channel_when_ready_retries_422(make_client: ClientFactory) -> None:
    client, fake = await make_client()
    not_in_stasis = _json(422, {"message": "Channel not in Stasis application"})
    fake.on("POST", "/ari/bridges/b1/addChannel", not_in_stasis, not_in_stasis, Canned(204))
    await client.add_channel_when_ready("b1", "1.3", retry=NO_RETRY_WAIT)
    assert len(fake.requests) == 3


async def test_add_channel_when_ready_gives_up(make_client: ClientFactory) -> None:
    client, fake = await make_client()
    fake.on("POST", "/ari/bridges/b1/addChannel",
            _json(422, {"message": "Channel not in Stasis application"}))
    with pytest.raises(AriError) as info:
        await client.add_channel_when_ready("b1", "1.3", retry=NO_RETRY_WAIT)
    assert info.value.status == 422
    assert len(fake.requests) == NO_RETRY_WAIT.attempts


async def test_add_channel_when_ready_raises_other_errors_at_once(
        make_client: ClientFactory) -> None:
    client, fake = await make_client()
    fake.on("POST", "/ari/bridges/b1/addChannel", _json(400, {"message": "Channel not found"}))
    with pytest.raises(AriError) as info:
        await client.add_channel_when_ready("b1", "1.3", retry=NO_RETRY_WAIT)
    assert info.value.status == 400
    assert len(fake.requests) == 1


async def test_add_channel_when_ready_awaits_stasis_start(make_client: ClientFactory) -> None:
    client, fake = await make_client()
    fake.on("POST", "/ari/bridges/b1/addChannel",
            _json(422, {"message": "Channel not in Stasis application"}))
    started: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def stasis_start() -> None:  # what the event handler does on the channel's StasisStart
        fake.on("POST", "/ari/bridges/b1/addChannel", Canned(204))
        started.set_result(None)

    asyncio.get_running_loop().call_later(0.1, stasis_start)
    await client.add_channel_when_ready("b1", "1.3", stasis_started=started)
    assert len(fake.requests) == 1


async def test_add_channel_when_ready_does_not_cancel_callers_future(
        make_client: ClientFactory) -> None:
    client, fake = await make_client()
    fake.on("POST", "/ari/bridges/b1/addChannel", Canned(204))
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    await client.add_channel_when_ready(
        "b1", "1.3", stasis_started=never,
        retry=RetryPolicy(attempts=2, first_delay_s=0.01, max_total_s=0.05))
    assert not never.cancelled()
    never.cancel()


def test_retry_policy_delays_fit_the_budget() -> None:
    assert RetryPolicy().delays() == pytest.approx([0.05, 0.1, 0.2, 0.4])
    assert sum(RetryPolicy(attempts=20).delays()) == pytest.approx(1.0)
    assert RetryPolicy(attempts=1).delays() == []


@pytest.mark.parametrize(("body", "content_type", "expected"), [
    ('{"message":"Channel not found"}', "application/json", "Channel not found"),
    ('{"error":"Allocation failed"}', "application/json", "Allocation failed"),
    ('{"message":"x"}', "text/plain", "x"),
    (HTML_503, "text/html", "503 Service Unavailable: Shutdown in progress"),
    ("<html><body>plain  words</body></html>", "text/html", "plain words"),
    ("  not\njson  ", "application/json", "not json"),
    ("", "application/json", ""),
])
def test_error_message_extraction(body: str, content_type: str, expected: str) -> None:
    assert error_message(body, content_type) == expected
