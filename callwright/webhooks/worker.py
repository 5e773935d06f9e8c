"""The delivery worker: sends the outbox's due rows and writes back what came of each attempt.

It runs as one task in the call service, on the event loop and off every call's path: a slow or
dead receiver costs a request timeout on this task only. Each attempt is one POST (redirects not
followed); any 2xx is delivered, anything else (another status, a refused connection, a timeout)
is retried with :mod:`callwright.webhooks.backoff` until its 24 h window closes. The clock is
injected (``clock``: Unix seconds), so tests move time instead of sleeping.

A ``webhook`` endpoint gets the event envelope signed as the flows' webhooks are
(:mod:`callwright.dialog.webhooks`): ``X-Callwright-Timestamp`` (Unix seconds),
``X-Callwright-Signature`` (hex HMAC-SHA256 of ``timestamp + "." + body`` with the endpoint's
secret), ``X-Callwright-Delivery`` (the event id, the same on every retry) and
``X-Callwright-Event`` (the event type). A ``slack`` endpoint gets
:func:`callwright.webhooks.slack.slack_message`. URLs are secrets: never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp
from yarl import URL

from callwright.dialog.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from callwright.errors import CallwrightError
from callwright.store.clock import format_iso, parse_iso
from callwright.store.credentials import CredentialRepository
from callwright.store.webhook_deliveries import Delivery, DeliveryRepository
from callwright.store.webhook_endpoints import EndpointRepository
from callwright.webhooks.backoff import next_attempt
from callwright.webhooks.slack import slack_message

log = logging.getLogger(__name__)

EVENT_HEADER = "X-Callwright-Event"
USER_AGENT = "Callwright-Webhook/1"


class AttemptFailed(Exception):
    """Internal: one attempt failed (``status``: the HTTP status, if one came back)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class DeliveryWorker:
    def __init__(
        self,
        deliveries: DeliveryRepository,
        endpoints: EndpointRepository,
        credentials: CredentialRepository,
        session: aiohttp.ClientSession,
        *,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 10.0,
        batch: int = 20,
        idle_s: float = 5.0,
    ) -> None:
        self._deliveries = deliveries
        self._endpoints = endpoints
        self._credentials = credentials
        self._session = session
        self._clock = clock
        self.timeout_s = timeout_s
        self.batch = batch
        self.idle_s = idle_s
        self._wake = asyncio.Event()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def wake(self) -> None:
        """Something was queued: look at the outbox now rather than at the next tick."""
        self._wake.set()

    async def run_once(self) -> int:
        """Attempt every delivery due now (in batches); how many attempts were made."""
        made = 0
        while True:
            due = await self._deliveries.due(format_iso(self.now()), self.batch)
            if not due:
                return made
            await asyncio.gather(*(self.attempt(d) for d in due))
            made += len(due)

    async def run_forever(self) -> None:
        """Deliver, then wait for the next due row, a :meth:`wake` or ``idle_s``. Any failure is
        logged and the loop goes on (the rows are still there next time)."""
        while True:
            wait = self.idle_s
            try:
                await self.run_once()
                next_at = await self._deliveries.next_due_at()
                if next_at is not None:
                    wait = min(wait, max(0.05, (parse_iso(next_at) - self.now()).total_seconds()))
            except CallwrightError as exc:
                log.error("webhook deliveries: %s", exc)
            except Exception:  # the worker task's outermost boundary: it must not die
                log.exception("webhook deliveries: unexpected failure")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def attempt(self, delivery: Delivery) -> None:
        """One attempt of one delivery, its result written back."""
        at = self.now()
        try:
            status = await self._send(delivery)
        except AttemptFailed as failed:
            retry = next_attempt(delivery.attempts + 1, at, parse_iso(delivery.expires_at))
            log.info("webhook delivery %d (%s to %r) attempt %d failed: %s%s", delivery.id,
                     delivery.event, delivery.endpoint_name, delivery.attempts + 1,
                     failed.reason, "" if retry else "; giving up")
            await self._deliveries.attempt_failed(
                delivery.id, at=format_iso(at), response_code=failed.status,
                error=failed.reason, next_at=None if retry is None else format_iso(retry),
            )
            return
        await self._deliveries.delivered(delivery.id, at=format_iso(at), response_code=status)

    async def _send(self, delivery: Delivery) -> int:
        try:
            endpoint = await self._endpoints.get(delivery.org_id, delivery.endpoint_id)
            if not endpoint.enabled:
                raise AttemptFailed("the endpoint is disabled")
            url = URL(
                (await self._credentials.reveal(delivery.org_id, endpoint.credential_name)).strip()
            )
            secret = await self._endpoints.signing_secret(delivery.org_id, endpoint.id)
        except (CallwrightError, UnicodeError) as exc:
            raise AttemptFailed(f"the endpoint cannot be used ({type(exc).__name__})") from None
        except ValueError:
            raise AttemptFailed("its URL credential does not hold a URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise AttemptFailed("its URL credential does not hold an http(s) URL")
        body = delivery.body.encode("utf-8")
        if endpoint.target == "slack":
            body = json.dumps(slack_message(json.loads(delivery.body)),
                              ensure_ascii=False).encode("utf-8")
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: delivery.event_id,
            EVENT_HEADER: delivery.event,
        }
        if endpoint.target == "webhook":
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._session.post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as response:
                    await response.read()
                    status = response.status
        except TimeoutError:
            raise AttemptFailed(f"no answer within {self.timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise AttemptFailed(_describe(exc)) from None
        if not 200 <= status < 300:
            raise AttemptFailed(f"HTTP {status}", status)
        return status


def _describe(exc: aiohttp.ClientError) -> str:
    """Why a request failed, without the URL (aiohttp puts the host in its messages)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = exc.os_error.errno
        return f"cannot connect ({os.strerror(code) if code else type(exc.os_error).__name__})"
    return type(exc).__name__
