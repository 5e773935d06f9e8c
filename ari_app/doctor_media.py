"""The doctor's media probe: does Asterisk's audio reach us the way calls will carry it?

With the configured transport and format (``[media]``), the probe

1. opens our end as a call would: a UDP port of ``rtp_port_min..max`` on ``bind_host`` (RTP), or
   the AudioSocket listener on ``bind_host:audiosocket_port`` (a free port if ``callwright
   serve`` holds that one: said in the line); WebSocket media needs nothing here;
2. registers its own Stasis app, ``<ari.app>-doctor-<random>``, so that the running service
   (app ``ari.app``) never sees the probe, and makes an ExternalMedia channel ``cw-doctor-…`` in it
   towards ``advertise_host`` (RTP, AudioSocket: Asterisk connects to us), or connects to
   Asterisk's media websocket (WebSocket);
3. once the channel is in Stasis, plays silence on it (``POST /channels/{id}/silence``):
   Asterisk sends media only when something produces it, and an ExternalMedia channel alone,
   in no bridge, produces nothing (media.md: "Nothing is sent while the caller is in Wait()");
4. waits for the first audio frame; then deletes the channel, waits for it to be gone and closes
   the app's websocket, so Asterisk forgets the app. It cleans up whatever happened before,
   failures and timeouts included; what it cannot delete is named in the line with the command
   that deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field

import aiohttp

from ari_app.ari.connection import AriEventStream
from ari_app.ari.events import AriEvent, ChannelDestroyed, StasisEnd, StasisStart
from ari_app.ari.rest import AriRestClient
from ari_app.media_leg import MediaLeg, RtpMediaLeg, media_format_for
from ari_app.media_legs import AudioSocketMediaLeg, WebSocketMediaLeg, media_choice
from ari_app.transports.audiosocket_server import AudioSocketServer
from ari_app.transports.rtp import RtpTransport
from callwright.config import Settings
from callwright.doctor.media import (
    CHANNEL_MODULES,
    MediaProblem,
    media_failure,
    media_reached,
    with_leftovers,
)
from callwright.doctor.report import Check
from callwright.errors import AriError, AriUnavailable, MediaError, ProtocolError

PROBE_ID_PREFIX = "cw-doctor-"
DOCTOR_APP_SUFFIX = "-doctor"
#: How long the probe waits for Asterisk to report its channel gone after the DELETE.
GONE_WAIT_S = 1.0


def doctor_app(app: str) -> str:
    """The probe's own Stasis app: ``<ari.app>-doctor-<random>``, one per run, so that two
    doctors at once do not take the app from each other. Asterisk forgets it when its websocket
    closes with no channel left (websocket-reconnect.md)."""
    return f"{app}{DOCTOR_APP_SUFFIX}-{uuid.uuid4().hex[:8]}"


class ProbeFailed(Exception):
    """The probe stopped at a step; ``check`` is the FAIL line."""

    def __init__(self, check: Check) -> None:
        super().__init__(check.detail)
        self.check = check


@dataclass
class _ProbeEvents:
    """The doctor app's events about the probe channel."""

    channel_id: str
    started: asyncio.Event = field(default_factory=asyncio.Event)
    gone: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_event(self, event: AriEvent) -> None:
        channel = getattr(event, "channel", None)
        if channel is None or channel.id != self.channel_id:
            return
        if isinstance(event, StasisStart):
            self.started.set()
        elif isinstance(event, StasisEnd | ChannelDestroyed):
            self.gone.set()


async def _within(awaitable: Awaitable[object], timeout_s: float) -> bool:
    try:
        async with asyncio.timeout(timeout_s):
            await awaitable
    except TimeoutError:
        return False
    return True


class MediaProbe:
    """One run of the probe (see the module docstring). Use :func:`probe_media`."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession, rest: AriRestClient,
                 *, loaded_modules: set[str] | None, step_timeout_s: float,
                 audio_timeout_s: float) -> None:
        self.settings = settings
        self.session = session
        self.rest = rest
        self.loaded_modules = loaded_modules
        self.step_timeout_s = step_timeout_s
        self.audio_timeout_s = audio_timeout_s
        choice = media_choice(settings.media)
        self.transport = choice.transport
        self.format = media_format_for(choice.format)
        self.channel_id = PROBE_ID_PREFIX + uuid.uuid4().hex[:16]
        self.events = _ProbeEvents(self.channel_id)
        self.app = doctor_app(settings.ari.app)
        self.stream: AriEventStream | None = None
        self.server: AudioSocketServer | None = None
        self.leg: MediaLeg | None = None
        self.note = ""
        self.frames = asyncio.Event()
        #: The ExternalMedia request was sent: the channel may exist and must be deleted.
        self.requested = False

    def failure(self, problem: MediaProblem, detail: str) -> ProbeFailed:
        return ProbeFailed(media_failure(problem, self.settings.media, self.transport, detail,
                                         ari_url=self.settings.ari.url))

    async def run(self) -> Check:
        """The probe's line, with anything it could not delete named in it."""
        try:
            check = await self._probe()
        except ProbeFailed as exc:
            check = exc.check
        finally:
            leftovers = await self._clean_up()
        return with_leftovers(check, leftovers)

    # -- the steps -------------------------------------------------------------------------------

    async def _probe(self) -> Check:
        ari = self.settings.ari
        self.stream = AriEventStream(
            self.session, ari.url, ari.username, ari.password, self.app,
            on_event=self.events.on_event, start_timeout_s=self.step_timeout_s,
            connect_timeout_s=self.step_timeout_s, give_up_after_s=self.step_timeout_s,
            heartbeat_s=None,
        )
        try:
            await self.stream.start()
        except (AriError, AriUnavailable) as exc:
            raise self.failure(MediaProblem.EVENTS_FAILED, f"app {self.app!r}: {exc}") from None
        self.leg = await self._open_leg()
        await self._create_channel(self.leg)
        await self.leg.transport.start(lambda pcm: self.frames.set(), lambda reason: None)
        if not await _within(self.events.started.wait(), self.step_timeout_s):
            raise self.failure(MediaProblem.OTHER, f"the probe channel {self.channel_id} did "
                               f"not enter Stasis within {self.step_timeout_s:g} s")
        started = time.monotonic()
        try:
            await self.rest.start_silence(self.channel_id)
        except (AriError, AriUnavailable, ProtocolError) as exc:
            raise self.failure(MediaProblem.SILENCE_REFUSED, str(exc)) from None
        if not await _within(self.frames.wait(), self.audio_timeout_s):
            raise self._no_audio()
        waited_ms = (time.monotonic() - started) * 1000
        return media_reached(self.transport, self._reached(waited_ms))

    async def _open_leg(self) -> MediaLeg:
        media = self.settings.media
        advertise = media.advertise_host or media.bind_host
        if self.transport == "rtp":
            rtp = RtpTransport(self.format, bind_host=media.bind_host, advertise_host=advertise,
                               port_range=(media.rtp_port_min, media.rtp_port_max))
            try:
                await rtp.open()
            except (MediaError, OSError) as exc:
                raise self.failure(MediaProblem.NO_LOCAL_SOCKET, str(exc)) from None
            return RtpMediaLeg(rtp)
        if self.transport == "audiosocket":
            self.server = await self._audiosocket_server(media.bind_host, media.audiosocket_port,
                                                         advertise)
            return AudioSocketMediaLeg(self.server, self.format,
                                       connect_timeout_s=self.step_timeout_s)
        return WebSocketMediaLeg(self.settings.ari.url, self.format, session=self.session)

    async def _audiosocket_server(self, host: str, port: int, advertise: str) -> AudioSocketServer:
        server = AudioSocketServer(host, port, advertise_host=advertise)
        try:
            await server.start()
            return server
        except MediaError as first:
            server = AudioSocketServer(host, 0, advertise_host=advertise)
            try:
                await server.start()
            except MediaError:
                raise self.failure(MediaProblem.NO_LOCAL_SOCKET, str(first)) from None
        self.note = (f"; port {port} is taken (by `callwright serve`?), so the probe listened on "
                     f"{server.port}: a firewall opened for {port} only was not tested")
        return server

    async def _create_channel(self, leg: MediaLeg) -> None:
        self.requested = True
        try:
            async with asyncio.timeout(self.step_timeout_s):
                await leg.create_channel(self.rest, self.app, self.channel_id)
        except AriError as exc:
            raise self._refused(exc) from None
        except (AriUnavailable, ProtocolError) as exc:
            raise self.failure(MediaProblem.OTHER, str(exc)) from None
        except TimeoutError:
            raise self._not_reached(f"no answer within {self.step_timeout_s:g} s") from None
        except MediaError as exc:  # AudioSocket not connected, media websocket not opened
            if self.transport == "websocket":
                raise self.failure(MediaProblem.WEBSOCKET_FAILED, str(exc)) from None
            raise self._not_reached(str(exc)) from None

    def _refused(self, exc: AriError) -> ProbeFailed:
        module = CHANNEL_MODULES[self.transport]
        known_missing = (self.loaded_modules is not None
                         and module.removesuffix(".so") not in
                         {m.removesuffix(".so") for m in self.loaded_modules})
        if known_missing:
            return self.failure(MediaProblem.MODULE_MISSING, f"{exc} ({module} is not loaded)")
        if self.transport == "audiosocket" and exc.status == 500:
            # Asterisk makes the AudioSocket channel by connecting to us: if it cannot, the
            # channel cannot be made.
            return self._not_reached(f"{exc} (Asterisk could not connect to "
                                     f"{self._our_address()}?)")
        return self.failure(MediaProblem.CHANNEL_REFUSED, str(exc))

    def _our_address(self) -> str:
        if self.server is not None:
            return self.server.external_host
        leg = self.leg
        if isinstance(leg, RtpMediaLeg):
            return leg.transport.advertise_address
        return self.settings.ari.url

    def _not_reached(self, detail: str) -> ProbeFailed:
        return self.failure(MediaProblem.NOT_REACHED, detail)

    def _no_audio(self) -> ProbeFailed:
        waited = f"{self.audio_timeout_s:g} s"
        leg = self.leg
        if isinstance(leg, RtpMediaLeg):
            rtp = leg.transport
            if rtp.unsupported_payload:
                return self.failure(MediaProblem.WRONG_PAYLOAD, f"{rtp.unsupported_payload} "
                                    f"RTP packet(s) in a payload type that is not "
                                    f"{self.format.codec}")
            return self._not_reached(f"no RTP at {rtp.advertise_address} within {waited} "
                                     f"(Asterisk sends from {self._asterisk_rtp()})")
        return self.failure(MediaProblem.NO_AUDIO, f"connected, but no audio within {waited}")

    def _asterisk_rtp(self) -> str:
        leg = self.leg
        if isinstance(leg, RtpMediaLeg) and leg.transport.remote_address is not None:
            host, port = leg.transport.remote_address
            return f"{host}:{port}"
        return "?"

    def _reached(self, waited_ms: float) -> str:
        codec = self.format.codec
        if self.transport == "rtp":
            assert isinstance(self.leg, RtpMediaLeg)
            return (f"{codec} RTP from Asterisk ({self._asterisk_rtp()}) reached "
                    f"{self.leg.transport.advertise_address} {waited_ms:.0f} ms after the "
                    "silence started")
        if self.transport == "audiosocket":
            return (f"Asterisk connected to {self._our_address()} and sent {codec} audio "
                    f"{waited_ms:.0f} ms after the silence started{self.note}")
        return (f"the media websocket at {self.settings.ari.url}/media/ opened and carried "
                f"{codec} audio {waited_ms:.0f} ms after the silence started")

    # -- cleaning up -----------------------------------------------------------------------------

    async def _clean_up(self) -> list[str]:
        """Delete the probe channel (a 404 means it is gone already), wait for Asterisk to say
        so, then close our end and the app's websocket. The names that could not be deleted."""
        leftovers: list[str] = []
        if self.requested:
            try:
                async with asyncio.timeout(self.step_timeout_s):
                    await self.rest.hangup(self.channel_id)
            except AriError as exc:
                if exc.status != 404:
                    leftovers.append(self.channel_id)
            except (AriUnavailable, ProtocolError, TimeoutError):
                leftovers.append(self.channel_id)
            else:
                await _within(self.events.gone.wait(), GONE_WAIT_S)
        if self.leg is not None:
            with contextlib.suppress(MediaError, OSError):
                await self.leg.close()
        if self.server is not None:
            await self.server.stop()
        if self.stream is not None:
            await self.stream.stop(timeout_s=self.step_timeout_s)
        return leftovers


async def probe_media(
    settings: Settings,
    session: aiohttp.ClientSession,
    rest: AriRestClient,
    *,
    loaded_modules: set[str] | None = None,
    step_timeout_s: float = 5.0,
    audio_timeout_s: float = 3.0,
) -> Check:
    """The ``media`` line: run the probe, clean up, and name anything left in Asterisk."""
    probe = MediaProbe(settings, session, rest, loaded_modules=loaded_modules,
                       step_timeout_s=step_timeout_s, audio_timeout_s=audio_timeout_s)
    return await probe.run()
