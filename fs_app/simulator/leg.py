"""A channel running its dialplan: the B leg of a loopback pair executes the extension's actions
(``socket`` among them) and, while parked, the apps queued by ``sendmsg``, one at a time: as
observed, a queued app only runs once the running one has finished (a ``sendmsg`` hangup waits
for ever behind ``playback silence_stream://-1``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid as uuidlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from fs_app.simulator.channel import Channel
from fs_app.simulator.esl_connection import EslConnection
from fs_app.simulator.media import PlaybackSource, open_playback

if TYPE_CHECKING:
    from fs_app.simulator.server import FreeswitchSimulator

log = logging.getLogger(__name__)

#: An app queued by ``sendmsg``: name, argument, and what to do once it has run (the reply of
#: a sync-mode socket, which FreeSWITCH sends only then).
QueuedApp = tuple[str, str, Callable[[], None] | None]
WAKE: QueuedApp = ("", "", None)
#: Dialplan applications the simulator knows; any other is "invalid" (the channel is hung up
#: DESTINATION_OUT_OF_ORDER, as observed for ``sendmsg`` execute of an unknown app).
#: Where ``uuid_bridge`` sends a channel (FreeswitchSimulator.bridge: not recorded): it waits
#: there, bridged, until one side hangs up.
BRIDGED = "\x00bridged"
BRIDGED_ACTIONS = (("park", ""),)
KNOWN_APPS = frozenset({"answer", "playback", "hangup", "set", "park", "socket", "sleep",
                        "transfer", "ring_ready", "pre_answer", "log"})


class Leg:
    def __init__(self, sim: FreeswitchSimulator, channel: Channel) -> None:
        self.sim = sim
        self.channel = channel
        self.queue: asyncio.Queue[QueuedApp] = asyncio.Queue()
        self.playing: PlaybackSource | None = None
        self._playback_end: asyncio.Future[str] | None = None
        self.transfer_to: str | None = None
        self.socket: EslConnection | None = None
        self.parked = False
        self.task: asyncio.Task[None] | None = None

    # -- control from outside ----------------------------------------------------------------
    def wake(self) -> None:
        self.queue.put_nowait(WAKE)

    def end_playback(self, status: str) -> None:
        """The playback ended (``done``), was broken (``break``: uuid_break, killAudio's CF_BREAK)
        or the channel hung up (``hangup``)."""
        if self._playback_end is not None and not self._playback_end.done():
            self._playback_end.set_result(status)

    def transfer(self, extension: str) -> None:
        self.transfer_to = extension
        self.end_playback("break")
        self.wake()

    # -- the dialplan ------------------------------------------------------------------------
    async def run(self, first: Sequence[tuple[str, str]] | None = None) -> None:
        """Run the extension the channel was sent to (``first``: these actions instead, as an
        originated A leg runs its ``&app()``), then each one it is transferred to."""
        channel = self.channel
        extension = channel.destination
        try:
            while channel.alive:
                actions = first if first is not None else BRIDGED_ACTIONS \
                    if extension == BRIDGED else self.sim.actions_for(extension)
                first = None
                if actions is None:
                    self.sim.hang_up(channel, "NO_ROUTE_DESTINATION", peer_cause=None)
                    break
                for app, arg in actions:  # a transfer already asked for skips them all
                    if not channel.alive or self.transfer_to is not None:
                        break
                    await self.execute(app, arg)
                if self.transfer_to is not None and channel.alive:
                    extension, self.transfer_to = self.transfer_to, None
                    channel.destination = extension
                    if self.parked:
                        self.sim.fire("CHANNEL_UNPARK", channel)
                    self.parked = False
                    continue
                if channel.alive:  # the dialplan ran out of actions
                    self.sim.hang_up(channel, "NORMAL_CLEARING", peer_cause=None)
                break
        finally:
            await self.sim.torn_down(self)

    async def execute(self, app: str, arg: str) -> None:
        channel = self.channel
        if app not in KNOWN_APPS:
            self.sim.hang_up(channel, "DESTINATION_OUT_OF_ORDER", peer_cause=None)
            return
        if app == "park":
            self.parked = True
            self.sim.fire("CHANNEL_PARK", channel)
            await self.serve_queue()
            return
        if app == "socket":
            await self.run_socket(arg)
            return
        app_uuid = str(uuidlib.uuid4())
        channel.variables["current_application"] = app
        if arg:
            channel.variables["current_application_data"] = arg
        info = [("Application", app), ("Application-Data", arg), ("Application-UUID", app_uuid)]
        self.sim.fire("CHANNEL_EXECUTE", channel, info)
        response = await self._app(app, arg)
        self.sim.fire("CHANNEL_EXECUTE_COMPLETE", channel,
                      info[:2] + [("Application-Response", response)] + info[2:])

    async def _app(self, app: str, arg: str) -> str:
        channel = self.channel
        if app in ("answer", "pre_answer"):
            self.sim.answer(channel)
        elif app == "playback":
            return await self.playback(arg)
        elif app == "hangup":
            self.sim.hang_up(channel, arg or "NORMAL_CLEARING", peer_cause=arg or "NORMAL_CLEARING")
        elif app == "set":
            name, _, value = arg.partition("=")
            channel.variables[name] = value
        elif app == "sleep":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._until_hangup(), int(arg or "0") / 1000)
        elif app == "transfer":
            self.transfer_to = arg.split()[0]
        return "_none_"

    async def _until_hangup(self) -> None:
        while self.channel.alive:
            await self.queue.get()

    async def playback(self, target: str) -> str:
        channel = self.channel
        source = open_playback(target, channel.rate)
        if source is None:
            return "FILE NOT FOUND"
        self.sim.fire("PLAYBACK_START", channel, [("Playback-File-Path", target)])
        self._playback_end = asyncio.get_running_loop().create_future()
        self.playing = source
        try:
            status = await self._playback_end
        finally:
            self.playing = None
            self._playback_end = None
        channel.variables["playback_ms"] = str(source.ms)
        self.sim.fire("PLAYBACK_STOP", channel, [("Playback-File-Path", target),
                                                  ("Playback-Status", status)])
        return "PLAYBACK ERROR" if status == "hangup" else "FILE PLAYED"

    async def serve_queue(self) -> None:
        """Parked: run what ``sendmsg`` queued, one app after another, until the channel hangs
        up, is transferred, or (socket app) the app closes the connection."""
        while self.channel.alive and self.transfer_to is None:
            if self.socket is not None and self.socket.closed.is_set():
                break
            app, arg, done = await self.queue.get()
            if not app:
                continue
            await self.execute(app, arg)
            if done is not None:
                done()

    async def run_socket(self, arg: str) -> None:
        channel = self.channel
        words = arg.split()
        host, _, port = (words[0] if words else "").rpartition(":")
        mode = "async" if "async" in words[1:] else "sync"
        info = [("Application", "socket"), ("Application-Data", arg)]
        self.sim.fire("CHANNEL_EXECUTE", channel, info)
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except (OSError, ValueError) as exc:
            log.error("Socket Error: %s", exc)  # the dialplan goes on with its next action
            self.sim.fire("CHANNEL_EXECUTE_COMPLETE", channel,
                          info + [("Application-Response", "_none_")])
            return
        conn = EslConnection(self.sim, reader, writer, channel=channel, mode=mode)
        self.socket = conn
        self.sim.connections.add(conn)
        conn_task = asyncio.get_running_loop().create_task(conn.run())
        closed_watch = asyncio.get_running_loop().create_task(self._wake_when_closed(conn))
        try:
            await self.serve_queue()
        finally:
            closed_watch.cancel()
        if channel.alive and conn.closed.is_set() and self.transfer_to is None:
            self.sim.hang_up(channel, "NORMAL_CLEARING", peer_cause="NORMAL_CLEARING")
        if self.parked:
            self.sim.fire("CHANNEL_UNPARK", channel)
            self.parked = False
        self.sim.fire("CHANNEL_EXECUTE_COMPLETE", channel,
                      info + [("Application-Response", "_none_")])
        if self.transfer_to is not None:  # the channel leaves the socket app for good
            conn.close()
            await conn_task
            self.socket = None
        else:
            self.sim.keep(conn_task)

    async def _wake_when_closed(self, conn: EslConnection) -> None:
        await conn.closed.wait()
        self.wake()
