"""The media legs besides RTP (AudioSocket, WebSocket media), and the factory that picks one per
call from the server default and the assistant's ``media`` overrides.

Which transport and format (``[media] transport/format``, overridden per assistant by
``assistant.media = {"transport": "audiosocket", "format": "slin16"}``):

* ``rtp`` carries 8 kHz only (Asterisk drops slin16 sent back over RTP), so ``rtp`` with
  ``slin16`` falls back to ``slin``;
* ``audiosocket`` and ``websocket`` carry ``slin16`` both ways, so a 16 kHz call stays 16 kHz
  from the PBX to the recogniser and in the recording.

An override that names an unknown transport or format is logged and ignored (the server default
applies): a typo in one assistant must not fail its calls.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from ari_app.ari.models import Channel
from ari_app.ari.rest import AriRestClient
from ari_app.media_leg import MediaLeg, RtpMediaLeg, media_format_for
from ari_app.transports.audiosocket import AudioSocketTransport
from ari_app.transports.audiosocket_server import AudioSocketServer
from ari_app.transports.rtp import RtpTransport
from ari_app.transports.websocket_media import WebSocketMediaTransport
from callwright.config import MediaSettings, Settings
from callwright.errors import MediaError
from callwright.media import ws_media
from callwright.media.codecs import FORMAT_NAMES, RTP_SEND_FORMATS
from callwright.media.pacer import PacerClock
from callwright.media.transport import MediaFormat

log = logging.getLogger(__name__)

TRANSPORTS = ("rtp", "audiosocket", "websocket")
#: How long Asterisk may take to connect an AudioSocket (it connects within ~1 ms).
AUDIOSOCKET_CONNECT_S = 2.0

MediaLegBuilder = Callable[..., Awaitable[MediaLeg]]


@dataclass(frozen=True, slots=True)
class MediaChoice:
    transport: str
    format: str


def media_choice(media: MediaSettings, overrides: Mapping[str, Any] | None = None) -> MediaChoice:
    """The transport and format of one call: the server's, with the assistant's overrides."""
    transport, fmt = media.transport, media.format
    given = overrides or {}
    wanted = given.get("transport")
    if wanted is not None:
        if wanted in TRANSPORTS:
            transport = str(wanted)
        else:
            log.warning("assistant media.transport %r is not one of %s; using %r",
                        wanted, ", ".join(TRANSPORTS), transport)
    wanted = given.get("format")
    if wanted is not None:
        if wanted in FORMAT_NAMES:
            fmt = str(wanted)
        else:
            log.warning("assistant media.format %r is not one of %s; using %r",
                        wanted, ", ".join(FORMAT_NAMES), fmt)
    if transport == "rtp" and fmt not in RTP_SEND_FORMATS:
        log.info("media format %s cannot be sent back over RTP; using slin (8 kHz)", fmt)
        fmt = "slin"
    return MediaChoice(transport, fmt)


class AudioSocketMediaLeg:
    """ExternalMedia over AudioSocket (TCP, Asterisk connects to our server)."""

    def __init__(
        self, server: AudioSocketServer, fmt: MediaFormat,
        connect_timeout_s: float = AUDIOSOCKET_CONNECT_S,
    ) -> None:
        self._server = server
        self.call_uuid = uuid.uuid4()
        self._transport = server.expect(self.call_uuid, fmt)
        self._connect_timeout_s = connect_timeout_s

    @property
    def transport(self) -> AudioSocketTransport:
        return self._transport

    async def create_channel(self, rest: AriRestClient, app: str, channel_id: str) -> Channel:
        channel = await rest.external_media(
            app=app,
            external_host=self._server.external_host,
            format=self._transport.format.codec,
            encapsulation="audiosocket",
            transport="tcp",
            data=str(self.call_uuid),
            channel_id=channel_id,
        )
        reported = (channel.channelvars or {}).get("AUDIOSOCKET_UUID")
        if reported is not None and reported != str(self.call_uuid):
            raise MediaError(f"AudioSocket channel {channel.id} reports UUID {reported}, "
                             f"not {self.call_uuid}")
        await self._transport.wait_connected(self._connect_timeout_s)
        return channel

    async def close(self) -> None:
        await self._transport.close()
        self._server.release(self._transport)


class WebSocketMediaLeg:
    """ExternalMedia over a media websocket (we connect to Asterisk's HTTP server)."""

    def __init__(
        self, ari_url: str, fmt: MediaFormat, *, session: aiohttp.ClientSession | None = None,
        json_control: bool = False,
    ) -> None:
        self._ari_url = ari_url
        self._json_control = json_control
        self._transport = WebSocketMediaTransport(
            fmt, session=session, json_control=json_control
        )

    @property
    def transport(self) -> WebSocketMediaTransport:
        return self._transport

    async def create_channel(self, rest: AriRestClient, app: str, channel_id: str) -> Channel:
        channel = await rest.external_media(
            app=app,
            external_host=None,
            format=self._transport.format.codec,
            encapsulation="none",
            transport="websocket",
            connection_type="server",
            transport_data="f(json)" if self._json_control else None,
            channel_id=channel_id,
        )
        connection_id = (channel.channelvars or {}).get("MEDIA_WEBSOCKET_CONNECTION_ID")
        if not connection_id:
            raise MediaError(f"WebSocket channel {channel.id} reported no "
                             "MEDIA_WEBSOCKET_CONNECTION_ID")
        await self._transport.connect(ws_media.media_url(self._ari_url, connection_id))
        return channel

    async def close(self) -> None:
        await self._transport.close()


def build_media_leg_factory(
    settings: Settings,
    audiosocket_server: AudioSocketServer | None,
    *,
    http: aiohttp.ClientSession | None = None,
    ticker: PacerClock | None = None,
) -> MediaLegBuilder:
    """``await factory()`` (server default) or ``await factory(assistant.media)``: a new leg.

    The AudioSocket server is started on first use if it is not running yet. With ``ticker``, RTP
    playout rides the process-wide pacer clock instead of a timer per call."""
    media = settings.media

    async def factory(overrides: Mapping[str, Any] | None = None) -> MediaLeg:
        choice = media_choice(media, overrides)
        fmt = media_format_for(choice.format)
        if choice.transport == "audiosocket":
            if audiosocket_server is None:
                raise MediaError("AudioSocket media needs the AudioSocket server")
            await audiosocket_server.start()
            return AudioSocketMediaLeg(audiosocket_server, fmt)
        if choice.transport == "websocket":
            return WebSocketMediaLeg(settings.ari.url, fmt, session=http)
        transport = RtpTransport(
            fmt,
            bind_host=media.bind_host,
            advertise_host=media.advertise_host or media.bind_host,
            port_range=(media.rtp_port_min, media.rtp_port_max),
            ticker=ticker,
            jitter_depth_frames=-(-media.rtp_jitter_ms // fmt.frame_ms),  # whole frames, up
        )
        await transport.open()
        return RtpMediaLeg(transport)

    return factory
