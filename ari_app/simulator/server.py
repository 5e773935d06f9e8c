"""PbxSimulator: a fake Asterisk 22 that apps, tests and the demo talk to over real sockets.

    async with PbxSimulator(password="secret") as sim:
        # the app connects to sim.ari_url + "/ari" (events websocket first)
        call = await sim.place_call(dialed="100", caller_number="5551234", caller_name="Alice")
        await call.caller.say(pcm16_8k)
        await call.caller.hangup()

It serves ARI REST and the events websocket on ``host:port`` (``port=0`` picks a free one), binds
RTP for ExternalMedia channels on ``rtp_host``, and offers a small control API under ``/_sim``
(see :mod:`ari_app.simulator.control`) so another process can place calls.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import ssl
import time
from types import TracebackType

from aiohttp import web

from ari_app.simulator.ami import AmiServer
from ari_app.simulator.caller import SimulatedCaller
from ari_app.simulator.calls import CallFactory, SimulatedCall, StasisReentry
from ari_app.simulator.context import SimContext
from ari_app.simulator.control import ControlApi
from ari_app.simulator.core import Pbx
from ari_app.simulator.events import EventFactory
from ari_app.simulator.far_end import Destinations, FarEnd
from ari_app.simulator.http import AriHttp, Phase
from ari_app.simulator.media_rtp import RtpImpairment
from ari_app.simulator.rest import RouteTable
from ari_app.simulator.rest_bridges import routes as bridge_routes
from ari_app.simulator.rest_channels import routes as channel_routes
from ari_app.simulator.rest_system import routes as system_routes
from ari_app.simulator.spec import AriSpec
from ari_app.simulator.state import IdAllocator
from ari_app.simulator.websocket import EventHub

#: The lab Asterisk's entity id, carried by every event as ``asterisk_id``.
DEFAULT_ENTITY_ID = "02:fc:00:00:00:01"


def implemented_routes() -> RouteTable:
    """Every ARI operation the simulator implements (the others answer 501)."""
    table = RouteTable()
    for part in (channel_routes, bridge_routes, system_routes):
        table.merge(part)
    return table


#: (method, path) of every ARI operation of the spec the simulator answers with 501.
NOT_IMPLEMENTED: tuple[tuple[str, str], ...] = tuple(
    op.key for op in AriSpec.builtin().operations if op.key not in implemented_routes().routes
)


class PbxSimulator:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "callwright",
        password: str | None = None,
        rtp_host: str = "127.0.0.1",
        *,
        entity_id: str = DEFAULT_ENTITY_ID,
        spec: AriSpec | None = None,
        dialplan_s: float = 1.0,
        outbound_answer_s: float = 0.0,
        media_stasis_delay_s: float = 0.001,
        seed: int | None = None,
        rtp_impairment: RtpImpairment | None = None,
        ssl_context: ssl.SSLContext | None = None,
        stasis_contexts: dict[str, StasisReentry] | None = None,
        ami: bool = False,
        ami_port: int = 0,
        ami_username: str = "callwright",
        ami_secret: str | None = None,
    ) -> None:
        self.host = host
        #: Serve ARI and the media websockets over TLS (https/wss), as Asterisk's tlsenable.
        self.ssl_context = ssl_context
        self.port = port
        self.username = username
        self.password = password if password is not None else secrets.token_urlsafe(12)
        self.rtp_host = rtp_host
        self._rng = random.Random(seed)
        factory = EventFactory(time.time)
        self.pbx = Pbx(factory, IdAllocator(time.time, self._rng), time.time)
        self.hub = EventHub(factory, entity_id, self.pbx.has_subscriptions)
        self.pbx.attach_hub(self.hub)
        self.ctx = SimContext(
            pbx=self.pbx,
            hub=self.hub,
            calls=CallFactory(self.pbx, dialplan_s, stasis_contexts),
            rtp_host=rtp_host,
            entity_id=entity_id,
            startup_time=time.time(),
            rng=self._rng,
            destinations=Destinations(default_ring_s=outbound_answer_s),
            media_stasis_delay_s=media_stasis_delay_s,
            rtp_impairment=rtp_impairment,
        )
        self.http = AriHttp(
            spec or AriSpec.builtin(),
            implemented_routes(),
            self.ctx,
            username,
            self.password,
            ControlApi(self).handle,
        )
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        #: The AMI server (ari_app.simulator.ami), when asked for: ``ami_port`` (0 picks one).
        self.ami: AmiServer | None = None
        if ami:
            self.ami = AmiServer(self.ctx, ami_username, ami_secret or self.password, host,
                                 ami_port)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        self._runner = web.AppRunner(self.http.make_app(), handle_signals=False)
        await self._runner.setup()
        await self._listen()
        if self.ami is not None:
            await self.ami.start()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True,
                                 ssl_context=self.ssl_context)
        await self._site.start()
        if self.port == 0:
            server = self._site._server
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.ami is not None:
            await self.ami.stop()
        self.hub.abort_all()
        self.pbx.wipe()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def __aenter__(self) -> PbxSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def ari_url(self) -> str:
        """``http://host:port`` (``https://`` with an ``ssl_context``); the client adds ``/ari``."""
        scheme = "http" if self.ssl_context is None else "https"
        return f"{scheme}://{self.host}:{self.port}"

    # -- calls ---------------------------------------------------------------------------------
    async def place_call(
        self,
        dialed: str = "100",
        caller_number: str = "5551234",
        caller_name: str = "Alice",
        app: str = "callwright",
        args: list[str] | None = None,
        *,
        context: str = "from-test",
        caller_context: str = "caller",
        caller: SimulatedCaller | None = None,
        phone_like: bool = False,
    ) -> SimulatedCall:
        """An inbound call reaching ``Stasis(app, args or [dialed])``, already answered."""
        call = self.ctx.calls.place_inbound(
            dialed=dialed,
            caller_number=caller_number,
            caller_name=caller_name,
            app=app,
            args=args,
            context=context,
            caller_context=caller_context,
            caller=caller or SimulatedCaller(phone_like=phone_like),
        )
        self.ctx.all_calls[call.channel_id] = call
        await self.hub.drain()
        return call

    async def next_outbound_call(
        self, timeout: float = 5.0  # noqa: ASYNC109 (a plain timeout reads best in tests)
    ) -> SimulatedCall:
        """The next outbound call (POST /channels or /dial) whose far end answered."""
        return await asyncio.wait_for(self.ctx.outbound.get(), timeout)

    def set_destination(self, exten: str, far_end: FarEnd) -> None:
        """What dialing ``exten`` (``Local/<exten>@…``, or ``"<exten>@<context>"``) does."""
        self.ctx.destinations.set(exten, far_end)

    @property
    def calls(self) -> list[SimulatedCall]:
        return list(self.ctx.all_calls.values())

    # -- restart -------------------------------------------------------------------------------
    async def restart(self, down_s: float = 2.0) -> None:
        """``core restart now``: hang-ups, 503s, a dropped websocket (1006), refused
        connections, 404, 503 "Asterisk not booted", then an empty Asterisk. Returns when ARI
        answers again (``down_s`` after the start)."""
        start = time.monotonic()

        async def until(fraction: float) -> None:
            await asyncio.sleep(max(0.0, start + fraction * down_s - time.monotonic()))

        await until(0.03)
        self.pbx.shutdown_hangups()
        await self.hub.drain()
        self.http.phase = Phase.SHUTTING_DOWN
        await until(0.6)
        self.hub.abort_all()
        self.http.abort_connections()
        if self._site is not None:
            await self._site.stop()
            self._site = None
        self.pbx.wipe()
        self.hub.reset()
        self.pbx.ids = IdAllocator(time.time, self._rng)
        self.ctx.undialed.clear()
        await until(0.8)
        self.http.phase = Phase.HTTP_ONLY
        await self._listen()
        await until(0.9)
        self.http.phase = Phase.NOT_BOOTED
        await until(1.0)
        self.ctx.startup_time = time.time()
        self.http.phase = Phase.RUNNING
