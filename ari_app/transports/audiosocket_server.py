"""The process's AudioSocket listener (one per process, on ``media.bind_host:audiosocket_port``).

Asterisk is the TCP client and sends a UUID frame first: the ``data`` of an ExternalMedia request,
or the first argument of the AudioSocket() dialplan application. The server reads that frame and
hands the connection to the :class:`~ari_app.transports.audiosocket.AudioSocketTransport` that
:meth:`AudioSocketServer.expect` made for the UUID; a UUID nobody expects goes to the dialplan
handler (calls that reach AudioSocket() with no ARI), or is closed, which makes Asterisk tear the
channel down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

from ari_app.transports.audiosocket import READ_CHUNK, AudioSocketTransport
from callwright.errors import MediaError, ProtocolError
from callwright.media import audiosocket as wire
from callwright.media.transport import MediaFormat

log = logging.getLogger(__name__)

DialplanHandler = Callable[[AudioSocketTransport], Awaitable[None]]
#: The AudioSocket() dialplan application sends slin 8 kHz (0x10) whatever the channel's format.
DIALPLAN_FORMAT = MediaFormat("slin", 8000)


class AudioSocketServer:
    """The process's AudioSocket listener: hands each connection to the call expecting its UUID.

    ``port=0`` picks a free port (tests). ``advertise_host`` is what Asterisk is told to connect to
    (``external_host``); it defaults to ``host``. Connections whose first frame is not a UUID
    within ``handshake_timeout_s``, or whose UUID is unknown while no dialplan handler is set,
    are closed (and counted in ``rejected``).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        advertise_host: str | None = None,
        handshake_timeout_s: float = 2.0,
    ) -> None:
        self.host = host
        self.port = port
        self.advertise_host = advertise_host or host
        self._handshake_timeout_s = handshake_timeout_s
        self._server: asyncio.Server | None = None
        self._expected: dict[uuid.UUID, AudioSocketTransport] = {}
        self._live: set[AudioSocketTransport] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._dialplan: tuple[DialplanHandler, MediaFormat] | None = None
        self._lock = asyncio.Lock()
        self.accepted = 0
        self.rejected = 0

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def external_host(self) -> str:
        """``host:port`` for ExternalMedia's ``external_host`` (IPv6 in brackets)."""
        host = self.advertise_host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    async def start(self) -> None:
        """Listen (no-op if already listening). MediaError if the port cannot be bound."""
        async with self._lock:
            if self._server is not None:
                return
            try:
                server = await asyncio.start_server(self._on_client, self.host, self.port)
            except OSError as exc:
                raise MediaError(f"cannot listen for AudioSocket on {self.host}:{self.port}: "
                                 f"{exc}") from exc
            self._server = server
            self.port = int(server.sockets[0].getsockname()[1])
        log.info("AudioSocket server listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and close every connection still open."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for transport in list(self._expected.values()) + list(self._live):
            await transport.close()
        self._expected.clear()
        self._live.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    def expect(self, call_uuid: uuid.UUID, fmt: MediaFormat) -> AudioSocketTransport:
        """A transport that gets the connection whose UUID frame carries ``call_uuid``."""
        if call_uuid in self._expected:
            raise MediaError(f"AudioSocket UUID {call_uuid} is already expected")
        transport = AudioSocketTransport(fmt, call_uuid)
        self._expected[call_uuid] = transport
        return transport

    def set_dialplan_handler(
        self, handler: DialplanHandler | None, fmt: MediaFormat = DIALPLAN_FORMAT
    ) -> None:
        """Where connections with an unexpected UUID go: AudioSocket(<uuid>,host:port) run by
        the dialplan with no ARI. ``handler(transport)`` owns the call; the transport is closed
        when it returns. The AudioSocket() application sends 8 kHz (0x10) audio."""
        self._dialplan = None if handler is None else (handler, fmt)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        parser = wire.AudioSocketParser()
        try:
            async with asyncio.timeout(self._handshake_timeout_s):
                first = await _first_frame(reader, parser)
        except (TimeoutError, ProtocolError, ConnectionError, OSError) as exc:
            await self._reject(writer, f"no UUID frame from {peer}: {exc or 'timeout'}")
            return
        if not isinstance(first, wire.UuidFrame):
            await self._reject(writer, f"first frame from {peer} is not a UUID: {first}")
            return
        transport = self._expected.pop(first.uuid, None)
        if transport is not None:
            try:
                transport.attach(reader, writer, parser)
            except MediaError as exc:
                await self._reject(writer, f"{first.uuid}: {exc}")
                return
            self.accepted += 1
            self._live.add(transport)
            log.info("AudioSocket %s connected from %s", first.uuid, peer)
            return
        if self._dialplan is None:
            await self._reject(writer, f"unexpected AudioSocket UUID {first.uuid} from {peer}")
            return
        handler, fmt = self._dialplan
        transport = AudioSocketTransport(fmt, first.uuid)
        transport.attach(reader, writer, parser)
        self.accepted += 1
        self._live.add(transport)
        task = asyncio.get_running_loop().create_task(self._run_dialplan(handler, transport))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_dialplan(
        self, handler: DialplanHandler, transport: AudioSocketTransport
    ) -> None:
        try:
            await handler(transport)
        except Exception:  # the outermost boundary of a dialplan call
            log.exception("the AudioSocket dialplan handler failed for %s", transport.call_uuid)
        finally:
            await transport.close()
            self._live.discard(transport)

    async def _reject(self, writer: asyncio.StreamWriter, why: str) -> None:
        self.rejected += 1
        log.warning("AudioSocket connection refused: %s", why)
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()

    def release(self, transport: AudioSocketTransport) -> None:
        """Forget a transport whose call ended."""
        self._live.discard(transport)
        if transport.call_uuid is not None:
            self._expected.pop(transport.call_uuid, None)


async def _first_frame(reader: asyncio.StreamReader, parser: wire.AudioSocketParser) -> wire.Frame:
    while True:
        frame = parser.next_frame()
        if frame is not None:
            return frame
        data = await reader.read(READ_CHUNK)
        if not data:
            raise ProtocolError("the connection closed before the first frame")
        parser.feed(data)
