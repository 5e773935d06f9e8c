"""The simulated FreeSWITCH: ESL inbound server, loopback call pairs, the media clock, events.

``FreeswitchSimulator(dialplan={...})``; ``await sim.start()``; ``sim.esl_port``. A call comes in
with :meth:`place_call`: a loopback pair whose A leg is the caller (a SimulatedCaller, connected
when the call is answered) and whose B leg runs the dialplan extension (e.g. ``socket``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate

from ari_app.simulator.caller import SimulatedCaller
from fs_app.simulator.api import run_api
from fs_app.simulator.channel import Channel, now_us
from fs_app.simulator.destinations import Destination
from fs_app.simulator.esl_connection import EslConnection
from fs_app.simulator.fork import Fork, ForkOptions
from fs_app.simulator.leg import BRIDGED, Leg
from fs_app.simulator.modules import MODULE_ROWS
from fs_app.simulator.stream import AudioStream

log = logging.getLogger(__name__)

Dialplan = Mapping[str, Sequence[tuple[str, str]]]
FRAME_S = 0.02


def socket_dialplan(
    host: str, port: int, *, extensions: Iterable[str] = ("callwright",),
    fallback: Iterable[tuple[str, str]] = (),
) -> dict[str, list[tuple[str, str]]]:
    """The operator's dialplan: ``extensions`` hand the call to our app (``socket``), running
    ``fallback`` when it is down; ``park`` answers and parks (a transfer target)."""
    plan = {"park": [("answer", ""), ("park", "")]}
    for extension in extensions:
        plan[extension] = [("socket", f"{host}:{port} async full"), *fallback]
    return plan


@dataclass
class SimCall:
    a: Leg
    b: Leg
    #: The person on the call: the caller (on A) of an inbound call; the callee (behind B) of
    #: an outbound one.
    caller: SimulatedCaller
    uplink: deque[bytes] = field(default_factory=deque)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    #: Placed by ``originate`` to a destination (fs_app.simulator.destinations): our app runs on
    #: the A leg (the originated channel) and the person is at the B end.
    outbound: bool = False

    @property
    def served(self) -> Leg:
        """The leg our application runs on (its fork hears the person, its writes reach them)."""
        return self.a if self.outbound else self.b

    @property
    def person(self) -> Leg:
        return self.b if self.outbound else self.a


class FreeswitchSimulator:
    def __init__(self, *, dialplan: Dialplan, password: str = "ClueCon",
                 host: str = "127.0.0.1", esl_port: int = 0,
                 modules: Iterable[tuple[str, str, str]] = MODULE_ROWS) -> None:
        self.dialplan = dialplan
        self.password = password
        #: (type, name, ikey) rows ``api show modules`` lists (fs_app.simulator.modules).
        self.modules = tuple(modules)
        self.host = host
        self._esl_port = esl_port
        self.core_uuid = str(uuidlib.uuid4())
        self.channels: dict[str, Channel] = {}
        self.legs: dict[str, Leg] = {}
        self.calls: list[SimCall] = []
        #: What dialing a number does (``originate``; fs_app.simulator.destinations).
        self.destinations: dict[str, Destination] = {}
        #: Channels joined by ``uuid_bridge``, each way (see :meth:`bridge`).
        self.bridges: dict[str, str] = {}
        self.forks: dict[str, dict[str, Fork]] = {}
        self.streams: dict[str, AudioStream] = {}
        self.connections: set[EslConnection] = set()
        self._sequence = 1000
        self._server: asyncio.Server | None = None
        self._clock: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = time.monotonic()
        self.sessions_since_start = 0

    # -- life ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self._esl_port)
        self._clock = asyncio.get_running_loop().create_task(self._media_clock())

    @property
    def esl_port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for channel in list(self.channels.values()):
            self.hang_up(channel, "MANAGER_REQUEST", peer_cause=None)
        for call in list(self.calls):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.ended.wait(), 3)
        for conn in list(self.connections):
            conn.close()
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def keep(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = EslConnection(self, reader, writer)
        self.connections.add(conn)
        await conn.run()

    def connection_closed(self, conn: EslConnection) -> None:
        self.connections.discard(conn)

    def socket_connected(self, conn: EslConnection) -> None:
        """The app sent ``connect`` on an outbound socket: the socket app parks the channel."""
        assert conn.channel is not None
        leg = self.legs.get(conn.channel.uuid)
        if leg is not None and not leg.parked:
            leg.parked = True
            self.fire("CHANNEL_PARK", conn.channel)

    # -- events --------------------------------------------------------------------------------
    def core_headers(self, calling_file: str) -> list[tuple[str, str]]:
        self._sequence += 1
        stamp = time.time()
        return [
            ("Core-UUID", self.core_uuid), ("FreeSWITCH-Hostname", "vm"),
            ("FreeSWITCH-Switchname", "vm"), ("FreeSWITCH-IPv4", "192.0.2.2"),
            ("FreeSWITCH-IPv6", "fd00::2"),
            ("Event-Date-Local", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))),
            ("Event-Date-GMT", formatdate(stamp, usegmt=True)),
            ("Event-Date-Timestamp", str(int(stamp * 1_000_000))),
            ("Event-Calling-File", calling_file), ("Event-Calling-Function", "simulator"),
            ("Event-Calling-Line-Number", "0"), ("Event-Sequence", str(self._sequence)),
        ]

    def fire(self, name: str, channel: Channel | None, extra: Sequence[tuple[str, str]] = (),
             body: str = "", subclass: str = "") -> None:
        head = [("Event-Subclass", subclass), ("Event-Name", name)] if subclass \
            else [("Event-Name", name)]
        headers = head + self.core_headers("switch_channel.c")
        if channel is not None:
            headers += channel.headers()
        headers += list(extra)
        uuid = channel.uuid if channel is not None else ""
        for conn in list(self.connections):
            if conn.wants(name, subclass, uuid):
                conn.deliver(headers, body)

    # -- API -----------------------------------------------------------------------------------
    async def api(self, line: str) -> str:
        return await run_api(self, line)

    def background(self, line: str, job: str) -> None:
        async def run() -> None:
            result = await self.api(line)
            command, _, arg = line.partition(" ")
            self.fire("BACKGROUND_JOB", None, [("Job-UUID", job), ("Job-Command", command),
                                               ("Job-Command-Arg", arg)], body=result)
        self.keep(asyncio.get_running_loop().create_task(run()))

    def status_text(self) -> str:
        up = time.monotonic() - self._started
        return (f"UP 0 years, 0 days, 0 hours, {int(up // 60)} minutes, {int(up % 60)} seconds,"
                f" 0 milliseconds, 0 microseconds\n"
                "FreeSWITCH (Version 1.10.12-release  64bit) is ready\n"
                f"{self.sessions_since_start} session(s) since startup\n"
                f"{len(self.channels)} session(s) - peak 0, last 5min 0 \n"
                "0 session(s) per Sec out of max 50, peak 0, last 5min 0 \n"
                "200 session(s) max\nmin idle cpu 0.00/100.00\n"
                "Current Stack Size/Max 240K/8192K\n")

    # -- calls ---------------------------------------------------------------------------------
    def set_destination(self, number: str, destination: Destination) -> None:
        """What an ``originate`` to ``loopback/<number>/...`` meets from now on."""
        self.destinations[number] = destination

    def actions_for(self, extension: str) -> Sequence[tuple[str, str]] | None:
        """What a channel sent to ``extension`` runs: a destination's far end, or the
        dialplan's extension (None: no such extension)."""
        found = self.destinations.get(extension)
        return found.actions() if found is not None else self.dialplan.get(extension)

    def place_call(self, destination: str, caller: SimulatedCaller, *,
                   number: str = "5551234", name: str = "Alice",
                   variables: Mapping[str, str] | None = None,
                   a_uuid: str | None = None, outbound: bool = False) -> SimCall:
        """A caller dials ``destination``: a loopback pair; B runs the extension. ``outbound``:
        ``caller`` is the person who answers behind B, and our app will run on A."""
        a_id, b_id = a_uuid or str(uuidlib.uuid4()), str(uuidlib.uuid4())
        common = {"origination_caller_id_number": number, "origination_caller_id_name": name,
                  **(variables or {})}
        a = Channel(a_id, f"loopback/{destination}-a", "A", number, name, destination,
                    variables={"direction": "inbound", "uuid": a_id,
                               "channel_name": f"loopback/{destination}-a", **common,
                               "other_loopback_leg_uuid": b_id, "loopback_leg": "A"})
        b = Channel(b_id, f"loopback/{destination}-b", "B", number, name, destination,
                    variables={"direction": "inbound", "uuid": b_id,
                               "channel_name": f"loopback/{destination}-b", **common,
                               "other_loopback_leg_uuid": a_id, "loopback_leg": "B"})
        a.peer, b.peer = b, a
        call = SimCall(Leg(self, a), Leg(self, b), caller, outbound=outbound)
        for leg in (call.a, call.b):
            self.channels[leg.channel.uuid] = leg.channel
            self.legs[leg.channel.uuid] = leg
            self.fire("CHANNEL_CREATE", leg.channel)
        self.sessions_since_start += 2
        self.calls.append(call)
        call.b.task = asyncio.get_running_loop().create_task(call.b.run())
        return call

    def call_of(self, channel: Channel) -> SimCall | None:
        return next((c for c in self.calls if channel in (c.a.channel, c.b.channel)), None)

    def answer(self, channel: Channel) -> None:
        if channel.answer_state == "answered" or not channel.alive:
            return
        for leg in (channel, channel.peer):
            if leg is not None and leg.alive and leg.answer_state != "answered":
                leg.answer()
                self.fire("CHANNEL_ANSWER", leg)
        call = self.call_of(channel)
        if call is not None and not call.caller.connected:
            call.caller.connect(call.uplink.append, lambda d: self.caller_dtmf(call, d),
                                lambda: self.hang_up(call.person.channel, "NORMAL_CLEARING"))

    def caller_dtmf(self, call: SimCall, digit: str) -> None:
        """The person pressed a key: a DTMF event on the leg we serve (the other leg of the
        pair, as loopback does)."""
        served = call.served.channel
        if served.alive:
            self.fire("DTMF", served, [("DTMF-Digit", digit), ("DTMF-Duration", "2000"),
                                       ("DTMF-Source", "UNKNOWN")])

    def send_dtmf(self, channel: Channel, digits: str) -> None:
        """``uuid_send_dtmf``: the events appear on the other leg; the caller hears the keys."""
        call = self.call_of(channel)
        peer = channel.peer
        for digit in digits:
            if peer is not None and peer.alive:
                self.fire("DTMF", peer, [("DTMF-Digit", digit), ("DTMF-Duration", "2000"),
                                         ("DTMF-Source", "UNKNOWN")])
        if call is not None and channel is call.served.channel:
            call.caller.hear_dtmf(digits)

    def break_playback(self, channel: Channel) -> None:
        leg = self.legs.get(channel.uuid)
        if leg is not None:
            leg.end_playback("break")

    def transfer(self, channel: Channel, extension: str) -> None:
        leg = self.legs.get(channel.uuid)
        if leg is not None:
            leg.transfer(extension)

    def bridge(self, channel: Channel, other: Channel) -> None:
        """``uuid_bridge``: **not in the recorded facts** (no bridge was recorded). Modelled on
        what FreeSWITCH documents: each channel leaves what it was running (a socket app is left
        behind, as a transfer leaves it), a ``CHANNEL_BRIDGE`` event, and when one hangs up the
        other follows with NORMAL_CLEARING. No audio flows between them here."""
        self.bridges[channel.uuid], self.bridges[other.uuid] = other.uuid, channel.uuid
        for each in (channel, other):
            self.transfer(each, BRIDGED)
        self.fire("CHANNEL_BRIDGE", channel, [("Bridge-A-Unique-ID", channel.uuid),
                                              ("Bridge-B-Unique-ID", other.uuid)])

    def broadcast(self, channel: Channel, target: str) -> None:
        leg = self.legs.get(channel.uuid)
        if leg is not None:
            leg.queue.put_nowait(("playback", target, None))

    def sendmsg(self, channel: Channel, headers: Mapping[str, str],
                done: Callable[[], None] | None = None) -> None:
        """Queue the message's app on the channel; ``done`` runs once it has run."""
        leg = self.legs.get(channel.uuid)
        command = headers.get("call-command", "")
        if command == "hangup":
            cause = headers.get("hangup-cause", "NORMAL_CLEARING")
            if leg is not None:  # runs when the channel gets to it, like any queued message
                leg.queue.put_nowait(("hangup", cause, done))
        elif command == "execute" and leg is not None:
            leg.queue.put_nowait((headers.get("execute-app-name", ""),
                                  headers.get("execute-app-arg", ""), done))

    def hang_up(self, channel: Channel, cause: str, *,
                peer_cause: str | None = "NORMAL_CLEARING") -> None:
        """The channel hangs up with ``cause``; its peer follows ~20 ms later with ``peer_cause``
        (uuid_kill: NORMAL_CLEARING, whatever its cause; the hangup app: the same cause)."""
        if not channel.alive:
            return
        channel.hang_up(cause)
        self.fire("CHANNEL_HANGUP", channel)
        leg = self.legs.get(channel.uuid)
        if leg is not None:
            leg.end_playback("hangup")
            leg.wake()
        for fork in self.forks.pop(channel.uuid, {}).values():
            self.keep(asyncio.get_running_loop().create_task(fork.stop()))
        stream = self.streams.pop(channel.uuid, None)
        if stream is not None:
            self.keep(asyncio.get_running_loop().create_task(stream.stop()))
        partner = self.channels.get(self.bridges.pop(channel.uuid, ""))
        if partner is not None and partner.alive:
            self.bridges.pop(partner.uuid, None)
            self.keep(asyncio.get_running_loop().create_task(self._follow(partner)))
        peer = channel.peer
        if peer is not None and peer.alive:
            follow = peer_cause or "NORMAL_CLEARING"

            async def later() -> None:
                await asyncio.sleep(0.02)
                self.hang_up(peer, follow, peer_cause=None)
            self.keep(asyncio.get_running_loop().create_task(later()))
        if channel.leg == "A":
            call = self.call_of(channel)
            if call is not None:
                call.caller.close()
                if call.a.task is None:  # an A leg running apps is torn down by its run()
                    self.keep(asyncio.get_running_loop().create_task(self.torn_down(call.a)))

    async def _follow(self, channel: Channel) -> None:
        await asyncio.sleep(0.02)
        self.hang_up(channel, "NORMAL_CLEARING")

    async def torn_down(self, leg: Leg) -> None:
        """The end of a leg's life: states, HANGUP_COMPLETE, the socket's notice, DESTROY."""
        channel = leg.channel
        if channel.uuid not in self.channels:
            return
        if channel.alive:
            self.hang_up(channel, "NORMAL_CLEARING")
        channel.state = "CS_HANGUP"
        self.fire("CHANNEL_STATE", channel)
        channel.state = "CS_REPORTING"
        self.fire("CHANNEL_STATE", channel)
        duration = max(0, (now_us() - channel.created_us) // 1_000_000)
        billsec = max(0, (now_us() - channel.answered_us) // 1_000_000) if channel.answered_us \
            else 0
        channel.variables.update(duration=str(duration), billsec=str(billsec))
        self.fire("CHANNEL_HANGUP_COMPLETE", channel)
        if leg.socket is not None:
            await leg.socket.channel_gone()
        channel.state = "CS_DESTROY"
        self.fire("CHANNEL_DESTROY", channel)
        self.channels.pop(channel.uuid, None)
        self.legs.pop(channel.uuid, None)
        call = self.call_of(channel)
        if call is not None and not (call.a.channel.uuid in self.channels
                                     or call.b.channel.uuid in self.channels):
            call.ended.set()
            self.calls.remove(call)

    # -- mod_audio_fork ------------------------------------------------------------------------
    def start_fork(self, uuid: str, options: ForkOptions) -> None:
        channel = self.channels[uuid]

        def fire(name: str, body: str) -> None:
            self.fire("CUSTOM", channel, body=body, subclass=f"mod_audio_fork::{name}")

        fork = Fork(options, channel.rate, fire, on_kill=lambda: self.break_playback(channel))
        self.forks.setdefault(uuid, {})[options.bugname] = fork
        self.fire("MEDIA_BUG_START", channel, [("Media-Bug-Function", "audio_fork"),
                                               ("Media-Bug-Target", "N/A")])
        fork.start()

    # -- mod_audio_stream ----------------------------------------------------------------------
    def start_stream(self, uuid: str, url: str, rate: int, metadata: str | None) -> None:
        channel = self.channels[uuid]

        def fire(name: str, body: str) -> None:
            self.fire("CUSTOM", channel, body=body, subclass=f"mod_audio_stream::{name}")

        stream = AudioStream(uuid, url, rate, metadata, channel.rate, fire)
        self.streams[uuid] = stream
        stream.start()

    # -- media: one tick every 20 ms for every call --------------------------------------------
    async def _media_clock(self) -> None:
        next_at = time.monotonic()
        while True:
            next_at += FRAME_S
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if time.monotonic() - next_at > 0.2:  # far behind (a paused loop): do not burst
                next_at = time.monotonic()
            for call in list(self.calls):
                self._tick(call)

    def _tick(self, call: SimCall) -> None:
        b = call.served
        if not b.channel.alive or b.channel.answer_state != "answered":
            call.uplink.clear()
            return
        frame_bytes = b.channel.rate * 2 // 50
        heard = call.uplink.popleft() if call.uplink else bytes(frame_bytes)
        forks = list(self.forks.get(b.channel.uuid, {}).values())
        for fork in forks:
            fork.read_frame(heard.ljust(frame_bytes, b"\0")[:frame_bytes])
        stream = self.streams.get(b.channel.uuid)
        if stream is not None:
            stream.read_frame(heard.ljust(frame_bytes, b"\0")[:frame_bytes])
        source = b.playing
        if source is None:
            return  # a parked channel writes nothing: the caller hears nothing
        own = source.next_frame()
        if own is None:
            b.end_playback("done")
            return
        out = own
        for fork in forks:
            replaced = fork.write_frame()
            if replaced is not None:
                out = replaced
        if call.caller.connected:
            call.caller.deliver(out)
