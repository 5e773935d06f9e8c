"""What an :class:`~ari_app.transports.rtp.RtpTransport` counted: the
:class:`RtpTransportStats` snapshot returned by :meth:`~ari_app.transports.rtp.RtpTransport.stats`.
"""

from __future__ import annotations

from dataclasses import dataclass

from callwright.media.rtp_stats import RtpReceiveSnapshot


@dataclass(frozen=True, slots=True)
class RtpTransportStats:
    receive: RtpReceiveSnapshot
    packets_received: int
    garbage: int
    unsupported_payload: int
    frames_delivered: int
    silence_frames: int
    lost: int
    late: int
    duplicates: int
    overflow: int
    packets_sent: int
    octets_sent: int
    socket_errors: int
    send_without_remote: int
    remote: str | None
