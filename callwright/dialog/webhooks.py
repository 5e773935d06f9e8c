"""Calling an org's webhooks: signed JSON POSTs with bounded retries (DESIGN §5).

:meth:`WebhookClient.call` POSTs a JSON object to the URL stored in one of the org's
``webhook_url`` credentials and returns the JSON object it answers. Each request carries:

- ``X-Callwright-Timestamp``: Unix time in seconds, as decimal text;
- ``X-Callwright-Signature``: hex HMAC-SHA256, keyed with the signing secret, over
  ``f"{timestamp}.{body}"`` (the exact body bytes) — sent when a signing secret is configured;
- ``X-Callwright-Delivery``: a random id, the same on every retry of one call, so a receiver can
  drop duplicates.

A receiver checks the signature with a constant-time comparison and refuses old timestamps.

Connection failures, 5xx and 429 answers are retried with exponential backoff, at most
``max_attempts`` times and never past the call's ``timeout_s``, which bounds the whole call.
Other answers (3xx: redirects are not followed; 4xx) and replies that are not JSON fail at once.
Every failure raises :class:`WebhookError`. A webhook URL is a secret (it often holds a token), so
it never appears in an error, a log line or a repr: only the credential's name does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from yarl import URL

from callwright.errors import CallwrightError, NotFound
from callwright.store.credentials import CredentialRepository

__all__ = ["WebhookClient", "WebhookError", "sign", "webhook_url_resolver"]

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Callwright-Timestamp"
SIGNATURE_HEADER = "X-Callwright-Signature"
DELIVERY_HEADER = "X-Callwright-Delivery"


class WebhookError(CallwrightError):
    """A webhook call failed. ``name`` is the webhook's credential name; ``status`` the last HTTP
    status seen (None if none came back); ``attempts`` how many requests were made."""

    def __init__(
        self, name: str, reason: str, *, status: int | None = None, attempts: int = 0
    ) -> None:
        self.name = name
        self.reason = reason
        self.status = status
        self.attempts = attempts
        super().__init__(f"webhook {name!r}: {reason}")


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def webhook_url_resolver(
    credentials: CredentialRepository, org_id: int
) -> Callable[[str], Awaitable[str]]:
    """``resolve_url`` for :class:`WebhookClient`: the org's credential of that name, which must be
    of kind ``webhook_url`` (an API key named by mistake is never sent anywhere)."""

    async def resolve(name: str) -> str:
        credential = await credentials.get(org_id, name)
        if credential.kind != "webhook_url":
            raise NotFound(f"credential {name!r} is not a webhook_url")
        return await credentials.reveal(org_id, name)

    return resolve


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 signature of ``body`` sent at ``timestamp``."""
    return hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


class WebhookClient:
    """Calls webhooks by credential name. ``resolve_url`` turns the name into the URL (for an org,
    ``lambda name: credentials.reveal(org_id, name)``); the session is the caller's to close."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        resolve_url: Callable[[str], Awaitable[str]],
        signing_secret: bytes | None,
        *,
        max_attempts: int = 3,
        backoff_s: float = 0.2,
        max_response_bytes: int = 256 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._session = session
        self._resolve_url = resolve_url
        self._secret = signing_secret
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_response_bytes = max_response_bytes
        self._clock = clock

    def __repr__(self) -> str:
        return f"WebhookClient(signed={self._secret is not None}, attempts={self.max_attempts})"

    async def call(
        self, name: str, payload: Mapping[str, Any], timeout_s: float
    ) -> Mapping[str, Any]:
        """POST ``payload`` to webhook ``name``; its JSON reply (a non-object reply is wrapped as
        ``{"result": reply}``, an empty one is ``{}``). Raises :class:`WebhookError`."""
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        try:
            body = json.dumps(
                payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise WebhookError(name, f"the payload is not JSON: {exc}") from exc
        delivery = uuid.uuid4().hex
        attempts = 0
        last = _Retry("no attempt was made")
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout_s):
                url = await self._url(name)
                while True:
                    attempts += 1
                    try:
                        reply = await self._post(name, url, body, delivery, attempts)
                    except _Retry as retry:
                        last = retry
                        if attempts >= self.max_attempts:
                            break
                        log.info("webhook %r attempt %d failed (%s): retrying",
                                 name, attempts, retry.reason)
                        await asyncio.sleep(self.backoff_s * 2 ** (attempts - 1))
                        continue
                    log.info("webhook %r answered in %d ms (attempt %d)",
                             name, (time.monotonic() - started) * 1000, attempts)
                    return reply
        except TimeoutError:
            raise WebhookError(
                name, f"no answer within {timeout_s:g} s", status=last.status, attempts=attempts
            ) from None
        raise WebhookError(
            name, f"failed after {attempts} attempts: {last.reason}",
            status=last.status, attempts=attempts,
        )

    async def _url(self, name: str) -> URL:
        try:
            text = await self._resolve_url(name)
        except CallwrightError as exc:
            raise WebhookError(
                name, f"its URL credential cannot be read ({type(exc).__name__})"
            ) from None
        try:
            url = URL(text.strip())
        except ValueError:
            raise WebhookError(name, "its URL credential does not hold a URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise WebhookError(name, "its URL credential does not hold an http(s) URL")
        return url

    async def _post(
        self, name: str, url: URL, body: bytes, delivery: str, attempt: int
    ) -> Mapping[str, Any]:
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Callwright-Webhook/1",
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: delivery,
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                if status >= 500 or status == 429:
                    raise _Retry(f"HTTP {status}", status)
                if not 200 <= status < 300:
                    raise WebhookError(name, f"answered HTTP {status}", status=status,
                                       attempts=attempt)
                raw = await self._read(name, response, attempt)
        except aiohttp.ClientPayloadError:
            raise _Retry("the reply was cut short") from None
        except aiohttp.ClientConnectionError as exc:
            raise _Retry(_describe(exc)) from None
        return self._decode(name, raw, status, attempt)

    async def _read(self, name: str, response: aiohttp.ClientResponse, attempt: int) -> bytes:
        raw = bytearray()
        async for block in response.content.iter_chunked(64 * 1024):
            raw += block
            if len(raw) > self.max_response_bytes:
                raise WebhookError(
                    name, f"the reply is larger than {self.max_response_bytes} bytes",
                    status=response.status, attempts=attempt,
                )
        return bytes(raw)

    @staticmethod
    def _decode(name: str, raw: bytes, status: int, attempt: int) -> Mapping[str, Any]:
        if not raw.strip():
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise WebhookError(
                name, "the reply is not JSON", status=status, attempts=attempt
            ) from None
        return value if isinstance(value, dict) else {"result": value}


def _describe(exc: aiohttp.ClientConnectionError) -> str:
    """Why a connection failed, without the URL (aiohttp puts the host in its messages)."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = exc.os_error.errno
        return f"cannot connect ({os.strerror(code) if code else type(exc.os_error).__name__})"
    return type(exc).__name__
