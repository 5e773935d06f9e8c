"""The ARI REST client: typed calls over an aiohttp session that the caller owns.

Errors: an error status raises :class:`AriError` with the JSON ``message`` (or ``error``) field, or
a short text form of an HTML body. Asterisk that cannot be reached (connection refused, reset,
timeout, a TLS certificate we do not trust), that answers 503 (shutting down, "Asterisk not
booted"), or whose HTTP server answers a text/html 404 (up, but ARI not registered yet) raises
:class:`AriUnavailable`. A 2xx body that is not the JSON we expect raises :class:`ProtocolError`.
Credentials are never logged.

Every route and query parameter used here is listed in :mod:`ari_app.ari.routes`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from callwright.errors import AriError, AriUnavailable, ProtocolError

from .models import (
    Application,
    AsteriskInfo,
    AsteriskPing,
    Bridge,
    Channel,
    JsonObject,
    Module,
)
from .tls import tls_failure

log = logging.getLogger(__name__)

NOT_IN_STASIS = "Channel not in Stasis application"
_MESSAGE_LIMIT = 300


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of ``addChannel`` while it answers 422 "Channel not in Stasis application".

    With the defaults the waits are 50, 100, 200, 400 ms, so the last attempt is ~0.75 s after the
    first, within the ~1 s that a media channel takes at most to enter Stasis.
    """

    attempts: int = 5
    first_delay_s: float = 0.05
    factor: float = 2.0
    max_total_s: float = 1.0

    def delays(self) -> list[float]:
        """The waits between attempts (``attempts - 1`` of them, capped at ``max_total_s``)."""
        out: list[float] = []
        delay, total = self.first_delay_s, 0.0
        for _ in range(max(self.attempts - 1, 0)):
            step = min(delay, self.max_total_s - total)
            if step <= 0:
                break
            out.append(step)
            total += step
            delay *= self.factor
        return out


def _param(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _seg(value: str) -> str:
    if not value:
        raise ValueError("an ARI id must not be empty")
    return quote(value, safe="")


def _join_args(args: Sequence[str] | str | None) -> str | None:
    """ARI ``appArgs``: Asterisk splits the string on commas into ``StasisStart.args``."""
    if args is None or isinstance(args, str):
        return args
    for arg in args:
        if "," in arg:
            raise ValueError(f"an app argument must not contain a comma: {arg!r}")
    return ",".join(args)


def _html_text(body: str) -> str:
    title = re.search(r"<title>(.*?)</title>", body, re.S | re.I)
    paras = re.findall(r"<p>(.*?)</p>", body, re.S | re.I)
    if title or paras:
        parts = [title.group(1).strip()] if title else []
        parts += [re.sub(r"<[^>]*>", "", p).strip() for p in paras]
        return ": ".join(p for p in parts if p)
    return " ".join(re.sub(r"<[^>]*>", " ", body).split())


def error_message(body: str, content_type: str) -> str:
    """The human message of an ARI error body (JSON ``message``/``error``, HTML, or text)."""
    if "json" in content_type or body.lstrip().startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("message", "error"):
                if isinstance(data.get(key), str):
                    return str(data[key])[:_MESSAGE_LIMIT]
    if "html" in content_type or "<html" in body[:200].lower():
        return _html_text(body)[:_MESSAGE_LIMIT]
    return " ".join(body.split())[:_MESSAGE_LIMIT]


class AriRestClient:
    """Typed ARI REST calls. ``base_url`` is Asterisk's HTTP server (``http://127.0.0.1:8088``);
    the client appends ``/ari``. The session is the caller's: this class never closes it. For an
    ``https`` URL, the session's connector carries the TLS context (the events stream's too)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout_s: float = 5.0,
    ) -> None:
        self._session = session
        self._root = str(URL(base_url).with_user(None)).rstrip("/") + "/ari"
        self._headers = {"Authorization": aiohttp.encode_basic_auth(username, password)}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def __repr__(self) -> str:  # no credentials in reprs either
        return f"AriRestClient({self._root!r})"

    # -- transport ---------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, object | None] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON body, or None for an empty body."""
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        url = URL(self._root + path, encoded=True)
        started = time.monotonic()
        try:
            async with self._session.request(
                method, url, params=query or None, json=body, headers=self._headers,
                timeout=self._timeout,
            ) as resp:
                status = resp.status
                content_type = resp.headers.get("Content-Type", "")
                text = await resp.text(errors="replace")
        except TimeoutError as exc:
            raise AriUnavailable(f"ARI {method} {path}: no answer within "
                                 f"{self._timeout.total} s") from exc
        except aiohttp.ClientSSLError as exc:
            raise AriUnavailable(f"ARI {method} {path}: {tls_failure(exc)}") from exc
        except aiohttp.ClientError as exc:
            raise AriUnavailable(f"ARI {method} {path}: {type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise AriUnavailable(f"ARI {method} {path}: {exc}") from exc
        log.debug("ARI %s %s -> %d (%.0f ms)", method, path, status,
                  (time.monotonic() - started) * 1000)
        if status >= 300:
            message = error_message(text, content_type.lower())
            if status == 503 or (status == 404 and "json" not in content_type.lower()):
                raise AriUnavailable(f"ARI {method} {path} -> {status}: {message}", status)
            raise AriError(method, path, status, message)
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ProtocolError(f"ARI {method} {path}: response is not JSON") from exc

    async def _object(self, method: str, path: str, what: str,
                      params: Mapping[str, object | None] | None = None,
                      body: Mapping[str, Any] | None = None) -> object:
        data = await self._request(method, path, params, body)
        if data is None:
            raise ProtocolError(f"ARI {method} {path}: empty response, expected a {what}")
        return data

    async def _list(self, path: str) -> list[object]:
        data = await self._request("GET", path)
        if not isinstance(data, list):
            raise ProtocolError(f"ARI GET {path}: expected a JSON array")
        return data

    # -- asterisk / applications ------------------------------------------------------------

    async def get_info(self) -> AsteriskInfo:
        return AsteriskInfo.from_json(await self._object("GET", "/asterisk/info", "info"))

    async def ping(self) -> AsteriskPing:
        return AsteriskPing.from_json(await self._object("GET", "/asterisk/ping", "ping"))

    async def list_modules(self) -> list[Module]:
        return [Module.from_json(m, f"modules[{i}]")
                for i, m in enumerate(await self._list("/asterisk/modules"))]

    async def get_application(self, name: str) -> Application:
        data = await self._object("GET", f"/applications/{_seg(name)}", "application")
        return Application.from_json(data)

    # -- channels --------------------------------------------------------------------------

    async def list_channels(self) -> list[Channel]:
        return [Channel.from_json(c, f"channels[{i}]")
                for i, c in enumerate(await self._list("/channels"))]

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.from_json(await self._object("GET", f"/channels/{_seg(channel_id)}",
                                                    "channel"))

    async def answer(self, channel_id: str) -> None:
        await self._request("POST", f"/channels/{_seg(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str | None = None) -> None:
        """DELETE the channel. ``reason``: normal, busy, congestion, no_answer, ... (ARI enum)."""
        await self._request("DELETE", f"/channels/{_seg(channel_id)}", {"reason": reason})

    async def continue_in_dialplan(
        self, channel_id: str, context: str | None = None, extension: str | None = None,
        priority: int | None = None, label: str | None = None,
    ) -> None:
        await self._request("POST", f"/channels/{_seg(channel_id)}/continue", {
            "context": context, "extension": extension, "priority": priority, "label": label,
        })

    async def redirect(self, channel_id: str, endpoint: str) -> None:
        """Redirect the channel to another endpoint (``PJSIP/200``): a blind transfer."""
        await self._request("POST", f"/channels/{_seg(channel_id)}/redirect",
                            {"endpoint": endpoint})

    async def send_dtmf(
        self, channel_id: str, dtmf: str, *, before_ms: int | None = None,
        between_ms: int | None = None, duration_ms: int | None = None,
        after_ms: int | None = None,
    ) -> None:
        await self._request("POST", f"/channels/{_seg(channel_id)}/dtmf", {
            "dtmf": dtmf, "before": before_ms, "between": between_ms,
            "duration": duration_ms, "after": after_ms,
        })

    async def get_variable(self, channel_id: str, variable: str) -> str:
        """The variable's value; an unset variable is AriError 404."""
        data = await self._object("GET", f"/channels/{_seg(channel_id)}/variable", "variable",
                                  {"variable": variable})
        return JsonObject(data, "variable").req_str("value")

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self._request("POST", f"/channels/{_seg(channel_id)}/variable",
                            {"variable": variable, "value": value})

    async def external_media(
        self, app: str, external_host: str | None, format: str, encapsulation: str = "rtp",
        transport: str = "udp", connection_type: str | None = None,
        direction: str | None = None, data: str | None = None, channel_id: str | None = None,
        transport_data: str | None = None, variables: Mapping[str, str] | None = None,
    ) -> Channel:
        """Create an ExternalMedia channel. The result carries ``channelvars``
        (``UNICASTRTP_LOCAL_ADDRESS``/``PORT`` for RTP, the connection id for websocket).
        Its StasisStart may arrive after this returns: see :meth:`add_channel_when_ready`."""
        out = await self._object("POST", "/channels/externalMedia", "channel", {
            "app": app, "external_host": external_host, "format": format,
            "encapsulation": encapsulation, "transport": transport,
            "connection_type": connection_type, "direction": direction, "data": data,
            "channelId": channel_id, "transport_data": transport_data,
        }, {"variables": dict(variables)} if variables else None)
        return Channel.from_json(out)

    async def originate(
        self, endpoint: str, *, app: str | None = None,
        app_args: Sequence[str] | str | None = None, caller_id: str | None = None,
        timeout_s: int | None = None, channel_id: str | None = None,
        other_channel_id: str | None = None, variables: Mapping[str, str] | None = None,
        context: str | None = None, extension: str | None = None, priority: int | None = None,
    ) -> Channel:
        """Originate a call (``POST /channels``); the answer is the channel, still ``Down``.
        Give ``app`` (Stasis) or ``context``/``extension``/``priority`` (dialplan)."""
        out = await self._object("POST", "/channels", "channel", {
            "endpoint": endpoint, "app": app, "appArgs": _join_args(app_args),
            "callerId": caller_id, "timeout": timeout_s, "channelId": channel_id,
            "otherChannelId": other_channel_id, "context": context, "extension": extension,
            "priority": priority,
        }, {"variables": dict(variables)} if variables else None)
        return Channel.from_json(out)

    async def create_channel(
        self, endpoint: str, app: str, *, app_args: Sequence[str] | str | None = None,
        channel_id: str | None = None, other_channel_id: str | None = None,
        originator: str | None = None, formats: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        """Create a channel without dialing it (it enters Stasis at once); then :meth:`dial`."""
        out = await self._object("POST", "/channels/create", "channel", {
            "endpoint": endpoint, "app": app, "appArgs": _join_args(app_args),
            "channelId": channel_id, "otherChannelId": other_channel_id,
            "originator": originator, "formats": formats,
        }, {"variables": dict(variables)} if variables else None)
        return Channel.from_json(out)

    async def dial(self, channel_id: str, *, caller: str | None = None,
                   timeout_s: int | None = None) -> None:
        await self._request("POST", f"/channels/{_seg(channel_id)}/dial",
                            {"caller": caller, "timeout": timeout_s})

    async def start_silence(self, channel_id: str) -> None:
        """Play silence to the channel (its media then flows with nobody talking)."""
        await self._request("POST", f"/channels/{_seg(channel_id)}/silence")

    async def snoop(
        self, channel_id: str, app: str, *, spy: str = "in", whisper: str = "none",
        app_args: Sequence[str] | str | None = None, snoop_id: str | None = None,
    ) -> Channel:
        out = await self._object("POST", f"/channels/{_seg(channel_id)}/snoop", "channel", {
            "app": app, "spy": spy, "whisper": whisper, "appArgs": _join_args(app_args),
            "snoopId": snoop_id,
        })
        return Channel.from_json(out)

    # -- bridges ---------------------------------------------------------------------------

    async def list_bridges(self) -> list[Bridge]:
        return [Bridge.from_json(b, f"bridges[{i}]")
                for i, b in enumerate(await self._list("/bridges"))]

    async def get_bridge(self, bridge_id: str) -> Bridge:
        return Bridge.from_json(await self._object("GET", f"/bridges/{_seg(bridge_id)}",
                                                   "bridge"))

    async def create_bridge(self, type: str = "mixing", name: str | None = None,
                            bridge_id: str | None = None) -> Bridge:
        out = await self._object("POST", "/bridges", "bridge",
                                 {"type": type, "name": name, "bridgeId": bridge_id})
        return Bridge.from_json(out)

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._request("DELETE", f"/bridges/{_seg(bridge_id)}")

    async def add_channel(
        self, bridge_id: str, channel_id: str, *, role: str | None = None,
        absorb_dtmf: bool | None = None, mute: bool | None = None,
        inhibit_connected_line_updates: bool | None = None,
    ) -> None:
        """Add a channel to a bridge, once. A channel not (yet) in Stasis gives AriError 422;
        an unknown channel gives 400 "Channel not found"."""
        await self._request("POST", f"/bridges/{_seg(bridge_id)}/addChannel", {
            "channel": channel_id, "role": role, "absorbDTMF": absorb_dtmf, "mute": mute,
            "inhibitConnectedLineUpdates": inhibit_connected_line_updates,
        })

    async def add_channel_when_ready(
        self, bridge_id: str, channel_id: str, *, stasis_started: Awaitable[object] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """Add a channel that may not have entered Stasis yet (a media channel just created).

        If ``stasis_started`` is given (for example a future the event handler resolves on the
        channel's StasisStart), it is awaited first, for at most ``retry.max_total_s``. Then the
        add is tried, and a 422 "Channel not in Stasis application" is retried with the policy's
        waits. Other errors are raised at once; the last 422 is raised when retries run out.
        """
        policy = retry or RetryPolicy()
        if stasis_started is not None:
            await _wait_at_most(stasis_started, policy.max_total_s)
        delays = policy.delays()
        for attempt in range(len(delays) + 1):
            try:
                await self.add_channel(bridge_id, channel_id)
                return
            except AriError as exc:
                if exc.status != 422 or attempt == len(delays):
                    raise
                log.debug("addChannel %s to %s: not in Stasis yet, retry in %.0f ms",
                          channel_id, bridge_id, delays[attempt] * 1000)
            await asyncio.sleep(delays[attempt])

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        await self._request("POST", f"/bridges/{_seg(bridge_id)}/removeChannel",
                            {"channel": channel_id})


async def _wait_at_most(awaitable: Awaitable[object], timeout_s: float) -> None:
    """Wait for ``awaitable`` up to ``timeout_s``; a future we did not create is not cancelled."""
    fut = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({fut}, timeout=timeout_s)
    if not done and fut is not awaitable:
        fut.cancel()
    elif done and not fut.cancelled():
        fut.exception()  # mark any exception retrieved; the add itself will tell what is wrong
