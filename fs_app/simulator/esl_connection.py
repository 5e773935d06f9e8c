"""One Event Socket connection, inbound (a client that authenticates) or outbound (our dialplan's
``socket`` application connecting to an app), with the replies FreeSWITCH 1.10.12 gave
(esl-inbound-auth-errors.jsonl, esl-outbound.jsonl)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid as uuidlib
from typing import TYPE_CHECKING

from fs_app.esl.events import encode_json_event, encode_plain_event
from fs_app.esl.message import api_response, encode_message, reply, url_encode
from fs_app.simulator.channel import Channel

if TYPE_CHECKING:
    from fs_app.simulator.server import FreeswitchSimulator

log = logging.getLogger(__name__)

GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
#: Event names FreeSWITCH knows (a subscription naming none of them is refused).
EVENT_NAMES = frozenset("""
CUSTOM CLONE CHANNEL_CREATE CHANNEL_DESTROY CHANNEL_STATE CHANNEL_CALLSTATE CHANNEL_ANSWER
CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HOLD
CHANNEL_UNHOLD CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA
CHANNEL_OUTGOING CHANNEL_PARK CHANNEL_UNPARK CHANNEL_APPLICATION CHANNEL_ORIGINATE CHANNEL_UUID
API LOG INBOUND_CHAN OUTBOUND_CHAN STARTUP SHUTDOWN PUBLISH UNPUBLISH TALK NOTALK SESSION_CRASH
MODULE_LOAD MODULE_UNLOAD DTMF MESSAGE PRESENCE_IN NOTIFY_IN PRESENCE_OUT PRESENCE_PROBE
MESSAGE_WAITING MESSAGE_QUERY ROSTER CODEC BACKGROUND_JOB DETECTED_SPEECH DETECTED_TONE
PRIVATE_COMMAND HEARTBEAT TRAP ADD_SCHEDULE DEL_SCHEDULE EXE_SCHEDULE RE_SCHEDULE RELOADXML
NOTIFY PHONE_FEATURE PHONE_FEATURE_SUBSCRIBE SEND_MESSAGE RECV_MESSAGE REQUEST_PARAMS
CHANNEL_DATA GENERAL COMMAND SESSION_HEARTBEAT CLIENT_DISCONNECTED SERVER_DISCONNECTED
SEND_INFO RECV_INFO RECV_RTCP_MESSAGE SEND_RTCP_MESSAGE CALL_SECURE NAT RECORD_START
RECORD_STOP PLAYBACK_START PLAYBACK_STOP CALL_UPDATE FAILURE SOCKET_DATA MEDIA_BUG_START
MEDIA_BUG_STOP CONFERENCE_DATA_QUERY CONFERENCE_DATA CALL_SETUP_REQ CALL_SETUP_RESULT
CALL_DETAIL DEVICE_STATE TEXT SHUTDOWN_REQUESTED ALL
""".split())
#: The longest command block accepted from a client before the connection is dropped.
MAX_COMMAND_BYTES = 64 * 1024


def disconnect_notice(channel: Channel | None = None) -> bytes:
    headers = [("Content-Type", "text/disconnect-notice")]
    if channel is not None:
        headers.append(("Controlled-Session-UUID", channel.uuid))
    headers += [("Content-Disposition", "disconnect")] if channel is not None else []
    body = GOODBYE.encode()
    return encode_message(headers + [("Content-Length", str(len(body)))], body)


def linger_notice(channel: Channel, seconds: int) -> bytes:
    return encode_message([
        ("Content-Type", "text/disconnect-notice"), ("Controlled-Session-UUID", channel.uuid),
        ("Content-Disposition", "linger"), ("Channel-Name", channel.name),
        ("Linger-Time", str(seconds)), ("Content-Length", "0"),
    ])


class EslConnection:
    def __init__(
        self, sim: FreeswitchSimulator, reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter, *, channel: Channel | None = None, mode: str = "async",
    ) -> None:
        self._sim = sim
        self._reader = reader
        self._writer = writer
        #: The channel an outbound socket controls (None: an inbound connection).
        self.channel = channel
        self.mode = mode
        self.authed = channel is not None
        self.connected = False  # outbound: after "connect"
        self.format = ""  # "plain" or "json" once events are asked for
        self.names: set[str] = set()
        self.subclasses: set[str] = set()
        self.all_events = False
        self.only_uuid: str | None = None  # myevents
        self.linger_s: int | None = None  # -1: linger until the app closes
        self.closed = asyncio.Event()
        self._hung_up_notice_sent = False

    # -- output ------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if not self.closed.is_set() and not self._writer.is_closing():
            self._writer.write(data)

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self._writer.close()

    def wants(self, name: str, subclass: str, uuid: str) -> bool:
        if not self.format:
            return False
        if self.only_uuid is not None and uuid != self.only_uuid:
            return False
        if self.all_events:
            return True
        if name == "CUSTOM":
            return subclass in self.subclasses or (not self.subclasses and "CUSTOM" in self.names)
        return name in self.names

    def deliver(self, headers: list[tuple[str, str]], body: str) -> None:
        data = encode_json_event(headers, body) if self.format == "json" \
            else encode_plain_event(headers, body)
        self.send(data)

    # -- input -------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            if self.channel is None:
                self.send(encode_message([("Content-Type", "auth/request")]))
            while not self.closed.is_set():
                block = await self._read_block()
                if block is None:
                    break
                await self._command(block)
                await self._writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            log.info("ESL connection ended: %s", exc)
        finally:
            self.closed.set()
            with contextlib.suppress(ConnectionError, RuntimeError):
                self._writer.close()
            self._sim.connection_closed(self)

    async def _read_block(self) -> list[str] | None:
        """One command: its lines up to a blank line (blank lines before it are skipped, as
        FreeSWITCH skips them)."""
        lines: list[str] = []
        size = 0
        while True:
            raw = await self._reader.readline()
            if not raw:
                return None
            size += len(raw)
            if size > MAX_COMMAND_BYTES:
                log.warning("ESL client sent a command over %d bytes: dropped", MAX_COMMAND_BYTES)
                return None
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line:
                if lines:
                    return lines
                continue
            lines.append(line)

    async def _command(self, block: list[str]) -> None:
        line, rest = block[0], block[1:]
        word, _, arg = line.partition(" ")
        headers = dict(h.partition(": ")[::2] for h in rest)
        if not self.authed:
            if word == "auth":
                if arg == self._sim.password:
                    self.authed = True
                    self.send(reply("+OK accepted"))
                else:
                    self.send(reply("-ERR invalid"))
                    self.send(disconnect_notice())
                    await self._writer.drain()
                    self.close()
            else:
                self.send(reply("-ERR command not found"))
            return
        if word == "api":
            if not arg:
                self.send(reply("-ERR command not found"))
                return
            self.send(api_response(await self._sim.api(arg)))
        elif word == "bgapi":
            job = headers.get("Job-UUID") or str(uuidlib.uuid4())
            self.send(encode_message([("Content-Type", "command/reply"),
                                      ("Reply-Text", f"+OK Job-UUID: {job}"), ("Job-UUID", job)]))
            self._sim.background(arg, job)
        elif word == "event":
            self._events(arg)
        elif word == "myevents":
            self._myevents(arg)
        elif word == "noevents":
            self.format, self.names, self.subclasses, self.all_events = "", set(), set(), False
            self.send(reply("+OK no longer listening for events"))
        elif word == "nixevent":
            self.names.difference_update(arg.split())
            self.send(reply("+OK events nixed"))
        elif word in ("linger", "nolinger"):
            self._linger(word, arg)
        elif word == "sendmsg":
            self._sendmsg(arg, headers)
        elif word == "connect" and self.channel is not None:
            self._connect()
        elif word == "getvar" and self.channel is not None:
            value = self.channel.getvar(arg)
            self.send(reply(value if value is not None else "_undef_"))
        elif word == "exit":
            self.send(reply("+OK bye"))
            self.send(disconnect_notice(self.channel))
            await self._writer.drain()
            self.close()
        elif word == "log":
            self.send(reply(f"+OK log level {arg} [{arg}]"))
        elif word == "nolog":
            self.send(reply("+OK no longer logging"))
        else:
            self.send(reply("-ERR command not found"))

    def _events(self, arg: str) -> None:
        fmt, _, names = arg.partition(" ")
        words = names.split()
        known = [w for w in words if w in EVENT_NAMES or "::" in w]
        if fmt not in ("plain", "json", "xml") or not known:
            self.send(reply("-ERR no keywords supplied"))
            return
        self.format = fmt
        for w in known:
            if w == "ALL":
                self.all_events = True
            elif "::" in w:
                self.subclasses.add(w)
            else:
                self.names.add(w)
        self.send(reply(f"+OK event listener enabled {fmt}"))

    def _myevents(self, arg: str) -> None:
        words = arg.split()
        uuid = self.channel.uuid if self.channel is not None else (words[0] if words else "")
        if self.channel is None and not uuid:
            self.send(reply("-ERR command not found"))
            return
        self.only_uuid = uuid
        self.all_events = True
        self.format = "json" if "json" in words else "plain"
        self.send(reply("+OK Events Enabled"))

    def _linger(self, word: str, arg: str) -> None:
        if self.channel is None:
            self.send(reply("-ERR not controlling a session"))
            return
        if word == "nolinger":
            self.linger_s = None
            self.send(reply("+OK will not linger"))
        elif arg.strip().isdigit():
            self.linger_s = int(arg)
            self.send(reply(f"+OK will linger {self.linger_s} seconds"))
        else:
            self.linger_s = -1
            self.send(reply("+OK will linger"))

    def _sendmsg(self, arg: str, headers: dict[str, str]) -> None:
        target = arg.strip() or (self.channel.uuid if self.channel is not None else "")
        channel = self._sim.channels.get(target)
        if channel is None:
            self.send(reply(f"-ERR invalid session id [{target}]"))
            return
        if self.mode == "sync" and self.channel is channel:
            # sync mode: the reply comes once the app has run (a 2 s playback: after 2 s)
            self._sim.sendmsg(channel, headers, done=lambda: self.send(reply("+OK")))
            return
        self.send(reply("+OK"))
        self._sim.sendmsg(channel, headers)

    def _connect(self) -> None:
        channel = self.channel
        assert channel is not None
        self.connected = True
        data = [("Event-Name", "CHANNEL_DATA"), *self._sim.core_headers("mod_event_socket.c"),
                *channel.headers()]
        block = [(name, url_encode(value)) for name, value in data]
        block += [("Content-Type", "command/reply"), ("Reply-Text", url_encode("+OK\n")),
                  ("Socket-Mode", self.mode), ("Control", "full")]
        self.send(encode_message(block))
        self._sim.socket_connected(self)

    # -- the end of the controlled channel (outbound) ------------------------------------------
    async def channel_gone(self) -> None:
        """The channel hung up and its last event went out: linger or disconnect, as observed."""
        channel = self.channel
        if channel is None or self._hung_up_notice_sent:
            return
        self._hung_up_notice_sent = True
        if self.linger_s is None:
            self.send(disconnect_notice(channel))
            self.close()
            return
        self.send(linger_notice(channel, self.linger_s))
        if self.linger_s >= 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), self.linger_s)
            self.send(disconnect_notice(channel))
            self.close()
