"""The media side of a call as ARI sees it: which ExternalMedia channel to ask for, and the
transport that talks to it.

``RtpMediaLeg`` binds a UDP port first, asks Asterisk for an ExternalMedia channel that sends to
it (``external_host`` = our advertised address), then points its sends at the address Asterisk
reports in ``UNICASTRTP_LOCAL_ADDRESS``/``UNICASTRTP_LOCAL_PORT`` (DESIGN §2 step 4).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from ari_app.ari.models import Channel
from ari_app.ari.rest import AriRestClient
from ari_app.transports.rtp import RtpTransport
from callwright.errors import MediaError
from callwright.media.transport import MediaFormat, MediaTransport


class MediaLeg(Protocol):
    @property
    def transport(self) -> MediaTransport: ...

    async def create_channel(self, rest: AriRestClient, app: str, channel_id: str) -> Channel:
        """Ask Asterisk for the ExternalMedia channel and connect the transport to it."""

    async def close(self) -> None: ...


#: Builds a call's media leg; the argument is the assistant's ``media`` overrides (or None).
MediaLegFactory = Callable[[Mapping[str, Any] | None], Awaitable[MediaLeg]]


class RtpMediaLeg:
    """ExternalMedia over RTP/UDP (ulaw, alaw or slin 8 kHz)."""

    def __init__(self, transport: RtpTransport) -> None:
        self._transport = transport

    @property
    def transport(self) -> RtpTransport:
        return self._transport

    async def create_channel(self, rest: AriRestClient, app: str, channel_id: str) -> Channel:
        channel = await rest.external_media(
            app=app,
            external_host=self._transport.advertise_address,
            format=self._transport.format.codec,
            encapsulation="rtp",
            transport="udp",
            channel_id=channel_id,
        )
        self._use_channel(channel)
        return channel

    def _use_channel(self, channel: Channel) -> None:
        variables = channel.channelvars or {}
        host = variables.get("UNICASTRTP_LOCAL_ADDRESS")
        port = variables.get("UNICASTRTP_LOCAL_PORT")
        if not host or not port or not port.isdigit():
            raise MediaError(
                f"ExternalMedia channel {channel.id} did not report UNICASTRTP_LOCAL_ADDRESS/PORT"
            )
        self.transport.set_remote(host, int(port))

    async def close(self) -> None:
        await self.transport.close()


def media_format_for(codec: str) -> MediaFormat:
    rates = {"ulaw": 8000, "alaw": 8000, "slin": 8000, "slin16": 16000}
    if codec not in rates:
        raise MediaError(f"unknown media format {codec!r}")
    return MediaFormat(codec=codec, sample_rate=rates[codec])
