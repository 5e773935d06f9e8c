"""The webhook client against a real local HTTP receiver that checks the signature."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callwright.dialog.webhooks import WebhookClient, WebhookError, sign, webhook_url_resolver
from callwright.errors import CallwrightError
from callwright.privacy.secrets import MasterKey
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database
from callwright.store.orgs import OrgRepository
from tests.callwright.dialog.webhook_receiver import Answer, WebhookReceiver

SECRET = b"whsec-test-0123456789"
Made = tuple[WebhookClient, WebhookReceiver]
MakeHook = Callable[..., Awaitable[Made]]


@pytest.fixture
async def make_hook() -> AsyncIterator[MakeHook]:
    """``await make_hook(*answers, secret=..., url=..., **client_options)``: a receiver and a
    client whose only webhook, ``"orders"``, is the receiver (or ``url``)."""
    async with AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())

        async def make(
            *answers: Answer,
            secret: bytes | None = SECRET,
            client_secret: bytes | None = None,
            url: str | None = None,
            **options: Any,
        ) -> Made:
            receiver = await stack.enter_async_context(WebhookReceiver(secret=secret))
            receiver.answer(*answers)

            async def resolve(name: str) -> str:
                if name != "orders":
                    raise CallwrightError(f"no webhook {name}")
                return url or receiver.url

            options.setdefault("backoff_s", 0.01)
            client = WebhookClient(session, resolve, client_secret or secret, **options)
            return client, receiver

        yield make


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_signed_post_returns_the_json_reply(make_hook: MakeHook) -> None:
    client, receiver = await make_hook(Answer(json={"status": "shipped", "eta": "tomorrow"}))
    before = int(time.time())
    reply = await client.call("orders", {"order": "1234", "name": "김민수"}, timeout_s=2)
    assert reply == {"status": "shipped", "eta": "tomorrow"}
    (request,) = receiver.requests
    assert request.signature_ok is True
    assert request.payload == {"order": "1234", "name": "김민수"}
    assert request.headers["Content-Type"] == "application/json"
    timestamp = request.headers["X-Callwright-Timestamp"]
    assert before <= int(timestamp) <= time.time()
    assert request.headers["X-Callwright-Signature"] == sign(SECRET, timestamp, request.body)
    assert len(request.headers["X-Callwright-Delivery"]) == 32


async def test_a_wrong_secret_is_refused_by_the_receiver(make_hook: MakeHook) -> None:
    client, receiver = await make_hook(client_secret=b"not-the-secret")
    with pytest.raises(WebhookError) as caught:
        await client.call("orders", {"order": "1"}, timeout_s=2)
    assert caught.value.status == 401 and caught.value.attempts == 1
    assert receiver.requests[0].signature_ok is False


async def test_without_a_secret_nothing_is_signed(make_hook: MakeHook) -> None:
    client, receiver = await make_hook(Answer(json=[1, 2]), secret=None)
    assert await client.call("orders", {}, timeout_s=2) == {"result": [1, 2]}
    assert "X-Callwright-Signature" not in receiver.requests[0].headers
    assert "X-Callwright-Timestamp" in receiver.requests[0].headers


async def test_server_errors_are_retried_with_the_same_delivery_id(make_hook: MakeHook) -> None:
    client, receiver = await make_hook(
        Answer(status=502), Answer(status=429), Answer(json={"ok": 1}), max_attempts=3
    )
    assert await client.call("orders", {"n": 1}, timeout_s=5) == {"ok": 1}
    assert len(receiver.requests) == 3
    assert all(r.signature_ok for r in receiver.requests)
    assert len({r.headers["X-Callwright-Delivery"] for r in receiver.requests}) == 1


async def test_retries_are_bounded(make_hook: MakeHook) -> None:
    client, receiver = await make_hook(Answer(status=500), Answer(status=503), Answer(status=500),
                                       Answer(json={"too": "late"}), max_attempts=3)
    with pytest.raises(WebhookError) as caught:
        await client.call("orders", {}, timeout_s=5)
    assert (caught.value.status, caught.value.attempts) == (500, 3)
    assert len(receiver.requests) == 3
    assert "after 3 attempts" in str(caught.value)


@pytest.mark.parametrize("status", [400, 404, 302])
async def test_client_errors_and_redirects_are_not_retried(
    make_hook: MakeHook, status: int
) -> None:
    client, receiver = await make_hook(
        Answer(status=status, json={"error": "no"}, headers={"Location": "http://127.0.0.1:9/"})
    )
    with pytest.raises(WebhookError) as caught:
        await client.call("orders", {}, timeout_s=2)
    assert (caught.value.status, caught.value.attempts) == (status, 1)
    assert len(receiver.requests) == 1


async def test_a_reply_that_is_not_json_fails(make_hook: MakeHook) -> None:
    client, _ = await make_hook(Answer(raw=b"<html>oops</html>"))
    with pytest.raises(WebhookError, match="not JSON"):
        await client.call("orders", {}, timeout_s=2)


async def test_an_empty_reply_is_an_empty_object(make_hook: MakeHook) -> None:
    client, _ = await make_hook(Answer(status=204, raw=b""))
    assert await client.call("orders", {}, timeout_s=2) == {}


async def test_an_oversized_reply_fails(make_hook: MakeHook) -> None:
    client, _ = await make_hook(Answer(json={"blob": "x" * 5000}), max_response_bytes=1000)
    with pytest.raises(WebhookError, match="larger than 1000 bytes"):
        await client.call("orders", {}, timeout_s=2)


async def test_a_slow_webhook_times_out_within_the_deadline(make_hook: MakeHook) -> None:
    client, receiver = await make_hook(Answer(delay_s=5, json={}))
    started = time.monotonic()
    with pytest.raises(WebhookError, match="no answer within 0.3 s"):
        await client.call("orders", {}, timeout_s=0.3)
    assert time.monotonic() - started < 1.0
    assert len(receiver.requests) == 1


async def test_connection_failures_are_retried_and_never_show_the_url(
    make_hook: MakeHook,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/hooks/token-SECRET-abc?key=SECRET2"
    client, _ = await make_hook(url=url, max_attempts=2)
    with pytest.raises(WebhookError) as caught:
        await client.call("orders", {}, timeout_s=2)
    error = caught.value
    assert error.attempts == 2 and error.status is None
    assert "cannot connect (Connection refused)" in str(error)
    for text in (str(error), repr(error), repr(client)):
        assert "SECRET" not in text and "hooks" not in text and "127.0.0.1" not in text
    assert error.__cause__ is None and error.__context__ is None  # no chained aiohttp error


@pytest.mark.parametrize("name", ["unknown", "not-a-url"])
async def test_a_webhook_that_cannot_be_resolved_fails(make_hook: MakeHook, name: str) -> None:
    client, receiver = await make_hook(url="ftp://example.org/x" if name == "not-a-url" else None)
    with pytest.raises(WebhookError) as caught:
        await client.call("orders" if name == "not-a-url" else name, {}, timeout_s=1)
    assert caught.value.attempts == 0
    assert receiver.requests == []


async def test_a_payload_that_is_not_json_fails_before_sending(make_hook: MakeHook) -> None:
    client, receiver = await make_hook()
    with pytest.raises(WebhookError, match="not JSON"):
        await client.call("orders", {"when": object()}, timeout_s=1)
    assert receiver.requests == []


async def test_urls_come_from_the_orgs_encrypted_credentials(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "hooks.db")
    try:
        org = await OrgRepository(db).create("Acme", "acme")
        other = await OrgRepository(db).create("Rival", "rival")
        credentials = CredentialRepository(db, MasterKey.generate())
        async with WebhookReceiver(secret=SECRET) as receiver, aiohttp.ClientSession() as session:
            await credentials.put(org.id, "webhook_url", "orders", receiver.url)
            await credentials.put(org.id, "api_key", "llm-key", receiver.url + "?key=sk-SECRET")

            def client_for(org_id: int) -> WebhookClient:
                return WebhookClient(session, webhook_url_resolver(credentials, org_id), SECRET)

            assert await client_for(org.id).call("orders", {"a": 1}, timeout_s=2) == {"ok": True}
            with pytest.raises(WebhookError, match="cannot be read"):
                await client_for(other.id).call("orders", {"a": 1}, timeout_s=2)
            with pytest.raises(WebhookError, match="cannot be read"):  # not a webhook_url
                await client_for(org.id).call("llm-key", {"a": 1}, timeout_s=2)
            assert len(receiver.requests) == 1 and receiver.requests[0].signature_ok
    finally:
        await db.close()
