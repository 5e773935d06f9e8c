"""The simulator's AMI (Asterisk Manager Interface) server, speaking the recorded text of
Asterisk 22.10.1 (tests/asterisk22/asterisk-facts/outbound-ami/ami-*.txt, ami-live-status.md).

* The banner ``Asterisk Call Manager/11.0.0`` on connect; messages are ``Key: Value`` lines
  (CRLF) ending with an empty line; a response's ``ActionID`` is its second line, and absent when
  the action had none; list events carry it too.
* Every session with events on gets every call's events (ami_events.py).
* ``Login`` (``Events: on`` -> ``FullyBooted`` and ``SuccessfulAuth``; ``off`` -> no events on
  that connection ever); a wrong secret -> ``Authentication failed`` and the connection is closed
  (manager.c); any other action before logging in -> ``Permission denied``. ``Logoff`` ->
  ``Goodbye`` / ``Thanks for all the fish.`` and the connection is closed.
* ``Ping``, ``CoreShowChannels``, ``BridgeList``, ``QueueStatus``/``QueueSummary`` (no queues:
  only the ``…Complete`` event, as in the lab; queues a test adds get ``QueueParams`` and
  ``QueueMember`` events), ``QueueAdd`` (``No such queue``), ``Hangup``
  (``Channel Hungup`` / ``No such channel``; a ``/regex/`` answers with a list), and
  ``Originate`` on the simulated PBX: ``Async: true`` -> ``Originate successfully queued`` then
  the ``OriginateResponse`` event (``Reason`` 4 answered, 5 busy, 8 congestion, 3 no answer,
  0 no channel; on failure ``Channel`` is the dial string as given and ``Uniqueid: <unknown>``)
  placed where the call's event stream (:mod:`ari_app.simulator.ami_events`: Newchannel,
  Newexten, VarSet, LocalBridge, DialBegin/DialEnd, Newstate, hang-up events...) learns the
  outcome, as recorded; without ``Async`` a
  failure is ``Originate failed``; no ``Channel`` -> ``Channel not specified``.
  ``Application: Stasis`` / ``Data: app,args`` sends the answered channel into that ARI app.
* An unknown action -> ``Invalid/unknown command: X. Use Action: ListCommands to show available
  commands.``
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ari_app.simulator.ami_events import AmiEventStream, channel_fields
from ari_app.simulator.context import SimContext
from ari_app.simulator.events import format_timestamp
from ari_app.simulator.far_end import DEFAULT_ORIGINATE_TIMEOUT_S
from ari_app.simulator.originate import (
    EndpointError,
    LocalEndpoint,
    originate,
    parse_endpoint,
)
from ari_app.simulator.state import Channel

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
Fields = Sequence[tuple[str, str]]
REASONS = {"answer": 4, "busy": 5, "congestion": 8, "no_answer": 3, "invalid": 0}
#: OriginateResponse Reason for a final Dial status.
DIAL_REASONS = {"ANSWER": 4, "BUSY": 5, "CONGESTION": 8, "NOANSWER": 3}


def encode(fields: Fields) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in fields) + b"\r\n"


def parse_message(block: str) -> list[tuple[str, str]]:
    out = []
    for line in block.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            out.append((key.strip(), value[1:] if value.startswith(" ") else value))
    return out


class AmiOriginate:
    """An AMI Originate's fields, read the way an ARI originate reads its parameters."""

    def __init__(self, fields: dict[str, str], endpoint: str) -> None:
        app, data = fields.get("application", ""), fields.get("data", "")
        self._values = {"endpoint": endpoint, "callerId": fields.get("callerid", ""),
                        "timeout": str(int(fields.get("timeout", "0") or 0) // 1000 or
                                       DEFAULT_ORIGINATE_TIMEOUT_S)}
        if app.lower() == "stasis":
            name, _, args = data.partition(",")
            self._values.update(app=name, appArgs=args)
        else:
            self._values.update(context=fields.get("context", "default"),
                                extension=fields.get("exten", "s"),
                                priority=fields.get("priority", "1"))
        self._variables = dict(
            v.split("=", 1) for v in fields.get("variable", "").split(",") if "=" in v)

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def get_str(self, name: str) -> str:
        return self._values.get(name, "")

    def get_int(self, name: str, default: int) -> int:
        value = self._values.get(name, "")
        return int(value) if value.isdigit() else default

    def variables(self) -> dict[str, str]:
        return self._variables


@dataclass(frozen=True, slots=True)
class SimQueueMember:
    """A member of a simulated queue. ``status``: AST_DEVICE_* as AMI gives it ("1" not in
    use, "2" in use, "5" unavailable...)."""

    name: str
    interface: str
    status: str = "1"
    paused: bool = False
    in_call: bool = False


class AmiServer:
    def __init__(self, ctx: SimContext, username: str, secret: str,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.ctx = ctx
        #: Queues (the lab had none: queues.conf cannot be added at runtime); a test adds some.
        #: QueueParams/QueueMember follow Asterisk's documented event fields (not recorded).
        self.queues: dict[str, list[SimQueueMember]] = {}
        self.username = username
        self.secret = secret
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._sessions: set[AmiSession] = set()
        self.started = time.time()
        #: The call events of the PBX (ami_events.py), to every session with events on.
        self.stream = AmiEventStream(ctx.pbx, self.broadcast)

    def broadcast(self, fields: Fields) -> None:
        for session in list(self._sessions):
            session.event(fields)

    async def start(self) -> None:
        self.stream.attach()
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.stream.detach()
        for session in list(self._sessions):
            session.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AmiSession(self, reader, writer)
        self._sessions.add(session)
        try:
            await session.run()
        finally:
            self._sessions.discard(session)


class AmiSession:
    def __init__(self, server: AmiServer, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.authenticated = False
        self.events = False
        self._tasks: set[asyncio.Task[None]] = set()

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.writer.close()

    def send(self, fields: Fields) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(fields))

    def event(self, fields: Fields) -> None:
        if self.events:
            self.send(fields)

    def respond(self, action_id: str | None, response: str, rest: Fields = ()) -> None:
        head = [("Response", response)]
        if action_id is not None:
            head.append(("ActionID", action_id))
        self.send([*head, *rest])

    async def run(self) -> None:
        self.writer.write(BANNER)
        buffer = ""
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    break
                buffer += chunk.decode("utf-8", "replace").replace("\r\n", "\n").replace(
                    "\n", "\r\n")
                while "\r\n\r\n" in buffer:
                    block, buffer = buffer.split("\r\n\r\n", 1)
                    if block.strip() and not await self.handle(parse_message(block)):
                        await self.writer.drain()
                        self.close()
                        return
                await self.writer.drain()
        self.close()

    async def handle(self, message: list[tuple[str, str]]) -> bool:
        """One action; False when the connection is to be closed."""
        fields = {k.lower(): v for k, v in message}
        action = fields.get("action", "")
        action_id = fields.get("actionid")
        name = action.lower()
        if name == "login":
            return await self._login(fields, action_id)
        if name == "logoff":
            self.respond(action_id, "Goodbye", [("Message", "Thanks for all the fish.")])
            return False
        if not self.authenticated:
            self.respond(action_id, "Error", [("Message", "Permission denied")])
            return True
        handler = {
            "ping": self._ping, "coreshowchannels": self._core_show_channels,
            "bridgelist": self._bridge_list, "queuestatus": self._queue_status,
            "queuesummary": self._queue_summary, "queueadd": self._queue_add,
            "hangup": self._hangup, "originate": self._originate,
        }.get(name)
        if handler is None:
            self.respond(action_id, "Error", [(
                "Message", f"Invalid/unknown command: {action}. Use Action: ListCommands to "
                "show available commands.")])
            return True
        await handler(fields, action_id)
        return True

    async def _login(self, fields: dict[str, str], action_id: str | None) -> bool:
        if (fields.get("username"), fields.get("secret")) != (self.server.username,
                                                               self.server.secret):
            self.respond(action_id, "Error", [("Message", "Authentication failed")])
            await asyncio.sleep(1.0)  # manager.c sleeps, then ends the session
            return False
        self.authenticated = True
        self.events = fields.get("events", "on").lower() not in ("off", "no", "false", "0")
        self.respond(action_id, "Success", [("Message", "Authentication accepted")])
        uptime = str(int(time.time() - self.server.started))
        self.event([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", uptime),
                    ("LastReload", uptime), ("Status", "Fully Booted")])
        self.event(self._successful_auth())
        return True

    def _successful_auth(self) -> list[tuple[str, str]]:
        """The security event manager.c raises after a login (``UsingPassword: 0``: plain
        ``Secret``, as recorded); EventTV and SessionTV are both the login time."""
        now = format_timestamp(time.time())
        local = self.writer.get_extra_info("sockname") or ("127.0.0.1", self.server.port)
        remote = self.writer.get_extra_info("peername") or ("127.0.0.1", 0)
        return [("Event", "SuccessfulAuth"), ("Privilege", "security,all"), ("EventTV", now),
                ("Severity", "Informational"), ("Service", "AMI"), ("EventVersion", "1"),
                ("AccountID", self.server.username), ("SessionID", f"{id(self):#x}"),
                ("LocalAddress", f"IPV4/TCP/{local[0]}/{local[1]}"),
                ("RemoteAddress", f"IPV4/TCP/{remote[0]}/{remote[1]}"),
                ("UsingPassword", "0"), ("SessionTV", now)]

    async def _ping(self, fields: dict[str, str], action_id: str | None) -> None:
        self.respond(action_id, "Success", [("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")])

    def _list(self, action_id: str | None, message: str, event: str,
              items: list[list[tuple[str, str]]]) -> None:
        self.respond(action_id, "Success", [("EventList", "start"), ("Message", message)])
        head = [("ActionID", action_id)] if action_id is not None else []
        for item in items:
            self.send([item[0], *head, *item[1:]])
        self.send([("Event", event), *head, ("EventList", "Complete"),
                   ("ListItems", str(len(items)))])

    async def _core_show_channels(self, fields: dict[str, str], action_id: str | None) -> None:
        now = time.time()
        items = [[("Event", "CoreShowChannel"), *channel_fields(ch),
                  ("Application", ch.dialplan.app_name), ("ApplicationData", ch.dialplan.app_data),
                  ("Duration", time.strftime("%H:%M:%S", time.gmtime(now - ch.creationtime))),
                  ("BridgeId", ch.bridge_id or "")]
                 for ch in self.server.ctx.pbx.channels.values() if not ch.hangup_pending]
        self._list(action_id, "Channels will follow", "CoreShowChannelsComplete", items)

    async def _bridge_list(self, fields: dict[str, str], action_id: str | None) -> None:
        items = [[("Event", "BridgeListItem"), ("BridgeUniqueid", b.id),
                  ("BridgeType", b.bridge_type if b.bridge_type != "mixing" else "stasis"),
                  ("BridgeTechnology", b.technology), ("BridgeCreator", b.creator),
                  ("BridgeName", b.name or "<unknown>"),
                  ("BridgeNumChannels", str(len(b.channels))),
                  ("BridgeVideoSourceMode", "none")]
                 for b in self.server.ctx.pbx.bridges.values()]
        self._list(action_id, "Bridge listing will follow", "BridgeListComplete", items)

    async def _queue_status(self, fields: dict[str, str], action_id: str | None) -> None:
        wanted = fields.get("queue", "")
        items: list[list[tuple[str, str]]] = []
        for name, members in self.server.queues.items():
            if wanted and name != wanted:
                continue
            items.append([("Event", "QueueParams"), ("Queue", name), ("Max", "0"),
                          ("Strategy", "ringall"), ("Calls", "0"), ("Holdtime", "0"),
                          ("TalkTime", "0"), ("Completed", "0"), ("Abandoned", "0"),
                          ("ServiceLevel", "0"), ("ServicelevelPerf", "0.0"),
                          ("ServicelevelPerf2", "0.0"), ("Weight", "0")])
            for m in members:
                items.append([("Event", "QueueMember"), ("Queue", name), ("Name", m.name),
                              ("Location", m.interface), ("StateInterface", m.interface),
                              ("Membership", "static"), ("Penalty", "0"), ("CallsTaken", "0"),
                              ("LastCall", "0"), ("LastPause", "0"), ("LoginTime", "0"),
                              ("InCall", "1" if m.in_call else "0"), ("Status", m.status),
                              ("Paused", "1" if m.paused else "0"), ("PausedReason", ""),
                              ("Wrapuptime", "0")])
        self._list(action_id, "Queue status will follow", "QueueStatusComplete", items)

    async def _queue_summary(self, fields: dict[str, str], action_id: str | None) -> None:
        self._list(action_id, "Queue summary will follow", "QueueSummaryComplete", [])

    async def _queue_add(self, fields: dict[str, str], action_id: str | None) -> None:
        self.respond(action_id, "Error",
                     [("Message", "Unable to add interface to queue: No such queue")])

    async def _hangup(self, fields: dict[str, str], action_id: str | None) -> None:
        pbx = self.server.ctx.pbx
        target = fields.get("channel", "")
        cause = int(fields.get("cause", "0") or 0) if fields.get("cause", "").isdigit() else 0
        if len(target) > 1 and target.startswith("/") and target.endswith("/"):
            pattern = re.compile(target[1:-1])
            matched = [ch for ch in pbx.channels.values() if pattern.search(ch.name)]
            items = []
            for ch in matched:
                self._hang_up(ch, cause)
                items.append([("Event", "ChannelHungup"), ("Channel", ch.name)])
            self._list(action_id, "Channels hung up will follow",
                       "ChannelsHungupListComplete", items)
            return
        found = next((ch for ch in pbx.channels.values()
                      if ch.name == target and not ch.hangup_pending), None)
        if found is None:
            self.respond(action_id, "Error", [("Message", "No such channel")])
            return
        self._hang_up(found, cause)
        self.respond(action_id, "Success", [("Message", "Channel Hungup")])

    def _hang_up(self, ch: Channel, cause: int) -> None:
        pbx = self.server.ctx.pbx
        pbx.later(lambda: pbx.hangup(ch, cause, False, destroy_cause=cause or 16))

    async def _originate(self, fields: dict[str, str], action_id: str | None) -> None:
        dialstring = fields.get("channel", "")
        if not dialstring:
            self.respond(action_id, "Error", [("Message", "Channel not specified")])
            return
        is_async = fields.get("async", "").lower() in ("true", "yes", "1", "on")
        target: LocalEndpoint | None
        try:
            target = parse_endpoint(dialstring)
        except EndpointError:  # a technology the simulator has not (Foo/bar)
            target = None
        ctx = self.server.ctx
        far = ctx.destinations.lookup(target.exten, target.context) if target else None
        if far is None or far.outcome == "invalid":
            await self._refused(fields, action_id, dialstring, is_async, 0)
            return
        if far.outcome in ("busy", "congestion") and not is_async:
            await asyncio.sleep(0.002)
            self.respond(action_id, "Error", [("Message", "Originate failed")])
            return
        response = await originate(ctx, AmiOriginate(fields, dialstring),
                                   fields.get("channelid") or None, subscribe=False)
        if response.status != 200 or response.text is None:
            await self._refused(fields, action_id, dialstring, is_async, 0)
            return
        ch1_id = str(json.loads(response.text)["id"])
        if is_async:
            self.respond(action_id, "Success", [("Message", "Originate successfully queued")])
            self.server.stream.outcome_hooks[ch1_id] = (
                lambda status, cause: self._originate_response(
                    fields, action_id, dialstring, ch1_id, status, cause))
        else:
            reason, _ = await self._outcome(ch1_id, far.outcome)
            if reason == 4:
                self.respond(action_id, "Success", [("Message", "Originate successfully queued")])
            else:
                self.respond(action_id, "Error", [("Message", "Originate failed")])

    async def _refused(self, fields: dict[str, str], action_id: str | None, dialstring: str,
                       is_async: bool, reason: int) -> None:
        if not is_async:
            self.respond(action_id, "Error", [("Message", "Originate failed")])
            return
        self.respond(action_id, "Success", [("Message", "Originate successfully queued")])
        await asyncio.sleep(0.001)
        self.event(originate_response(fields, action_id, False, dialstring, reason, None))

    async def _outcome(self, ch1_id: str, outcome: str) -> tuple[int, Channel | None]:
        """(Reason, the ;1 channel once answered) when the originate's outcome is known."""
        pbx = self.server.ctx.pbx
        call = self.server.ctx.all_calls.get(ch1_id)
        while True:
            ch = pbx.channels.get(ch1_id)
            if ch is not None and ch.state == "Up":
                return 4, ch
            if ch is None or (call is not None and call.is_ended):
                cause = call.hangup_cause if call is not None else None
                if outcome == "answer":
                    return (3 if cause == 19 else 0), None
                return REASONS.get(outcome, 0), None
            await asyncio.sleep(0.005)

    def _originate_response(self, fields: dict[str, str], action_id: str | None,
                            dialstring: str, ch1_id: str, status: str, cause: int | None,
                            ) -> None:
        """The OriginateResponse, sent where the stream knows the outcome (ami_events.py)."""
        if status == "ANSWER":
            reason = 4
        elif status in DIAL_REASONS:
            reason = DIAL_REASONS[status]
        else:
            reason = 3 if cause == 19 else 0
        answered = self.server.ctx.pbx.channels.get(ch1_id) if reason == 4 else None
        self.event(originate_response(fields, action_id, reason == 4,
                                      answered.name if answered else dialstring, reason,
                                      answered))


def originate_response(fields: dict[str, str], action_id: str | None, success: bool,
                       channel: str, reason: int, answered: Channel | None,
                       ) -> list[tuple[str, str]]:
    out = [("Event", "OriginateResponse"), ("Privilege", "call,all")]
    if action_id is not None:
        out.append(("ActionID", action_id))
    out += [("Response", "Success" if success else "Failure"), ("Channel", channel)]
    if fields.get("application"):
        out += [("Application", fields["application"]), ("Data", fields.get("data", ""))]
    else:
        out += [("Context", fields.get("context", "")), ("Exten", fields.get("exten", ""))]
    caller = answered.caller if answered is not None else None
    number = caller.number if caller else _caller_part(fields.get("callerid", ""), True)
    name = caller.name if caller else _caller_part(fields.get("callerid", ""), False)
    out += [("Reason", str(reason)), ("Uniqueid", answered.id if answered else "<unknown>"),
            ("CallerIDNum", number or "<unknown>"), ("CallerIDName", name or "<unknown>")]
    return out


def _caller_part(caller_id: str, number: bool) -> str:
    if "<" in caller_id and caller_id.endswith(">"):
        name, _, num = caller_id[:-1].partition("<")
        return num.strip() if number else name.strip().strip('"')
    return caller_id.strip() if number else ""
