"""Replay a recorded Asterisk scenario (tests/asterisk22/asterisk-facts/*.jsonl) against the
simulator.

The recording's requests are sent again with the recorded ids mapped to the simulator's; an
inbound call is placed when the recording shows its StasisStart, and the caller hangs up where
the recording shows a ChannelHangupRequest the app did not ask for. Before each request the
replay waits until the simulator has sent as many (comparable) events as Asterisk had.

The simulator does not implement recordings or playbacks (501), so requests to routes it does
not implement are skipped, and so are the events that only exist because of them: Recording*,
Playback*, ``BRIDGEPEER`` values naming ``Recorder/``, and the ChannelConnectedLine that follows
such a value. Runs of ChannelConnectedLine are compared as sets: Asterisk sends
the two of a bridge join in either order (compare app-hangs-up.jsonl with continue-to-dialplan).

Websocket life (app-gone.jsonl): a ``client-abort`` line drops our events websocket's TCP connection
with no close frame, and a later websocket request connects again (events of every connection are
collected in order). A note that the caller hung up by AMI while no app listened hangs the newest
live call up. Bodies of GET responses are kept, with recorded ids mapped to ours
(:meth:`Replayer.mapped`), so a test can compare what the PBX listed.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ari_app.simulator.calls import SimulatedCall
from ari_app.simulator.server import PbxSimulator, implemented_routes
from ari_app.simulator.spec import AriSpec, RouteMatch
from tests.ari_app.simulator.media_helpers import RtpPeer

Role = str


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def comparable(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after_recorder = False
    for e in events:
        kind = e["type"]
        if kind.startswith(("Recording", "Playback")):
            continue
        if kind == "ChannelVarset" and "Recorder/" in str(e.get("value")):
            after_recorder = True
            continue
        if kind == "ChannelConnectedLine" and after_recorder:
            after_recorder = False
            continue
        after_recorder = False
        out.append(e)
    return out


@dataclass
class ReplayResult:
    recorded: list[tuple[str, Role]]
    simulated: list[tuple[str, Role]]
    statuses: list[tuple[int, int, int, Any, Any]] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    #: seq -> (recorded body with ids mapped to ours, our body), for GET requests.
    bodies: dict[int, tuple[Any, Any]] = field(default_factory=dict)


def normalise(seq: list[tuple[str, Role]]) -> list[tuple[str, Role]]:
    out: list[tuple[str, Role]] = []
    run: list[tuple[str, Role]] = []
    for item in [*seq, ("", "")]:
        if item[0] == "ChannelConnectedLine":
            run.append(item)
            continue
        out.extend(sorted(run))
        run = []
        if item[0]:
            out.append(item)
    return out


class Replayer:
    def __init__(self, sim: PbxSimulator, session: aiohttp.ClientSession, peer: RtpPeer) -> None:
        self.sim = sim
        self.session = session
        self.peer = peer
        self.ids: dict[str, str] = {}
        self.roles: dict[str, Role] = {}
        self.events: list[dict[str, Any]] = []
        self.calls: dict[str, SimulatedCall] = {}
        self.spec = AriSpec.builtin()
        self.routes = implemented_routes().routes
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._readers: list[asyncio.Task[None]] = []

    def _map(self, text: str) -> str:
        for recorded, ours in self.ids.items():
            text = text.replace(recorded, ours)
        return text

    def mapped(self, value: Any) -> Any:
        """A recorded JSON value with every recorded id replaced by ours."""
        return json.loads(self._map(json.dumps(value)))

    def role(self, event: dict[str, Any], mapped: bool) -> Role:
        ch = event.get("channel") or event.get("peer")
        if ch is None:
            return "-"
        cid = ch["id"] if mapped else self.ids.get(ch["id"], ch["id"])
        return self.roles.get(cid, "other")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.events.append(json.loads(msg.data))

    async def _wait_events(self, count: int) -> None:
        for _ in range(200):
            if len(comparable(self.events)) >= count:
                return
            await asyncio.sleep(0.01)

    async def run(
        self,
        lines: list[dict[str, Any]],
        skip: frozenset[int] = frozenset(),
        wait_for_events: bool = True,
        time_scale: float = 0.0,
    ) -> ReplayResult:
        """Replay ``lines``. With ``time_scale`` > 0 each request also waits until its recorded
        time (``t``, scaled) has passed, for scenarios where the PBX acts on its own meanwhile."""
        recorded_events: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        start = loop.time()
        result = ReplayResult([], [])
        responses = {ln["seq"]: ln for ln in lines if ln.get("dir") == "response"}
        for line in lines:
            kind = line.get("dir")
            if kind == "event":
                event = line["event"]
                await self._on_recorded_event(event)
                recorded_events.append(event)
            elif kind == "ws" and line.get("action") == "client-abort":
                self._abort_ws()
            elif kind == "note" and "caller hangs up: AMI Hangup" in line.get("text", ""):
                live = [c for c in self.calls.values() if not c.is_ended]
                if live:
                    await live[-1].caller.hangup()
            elif kind == "request":
                await asyncio.sleep(0.02)  # let the events of the previous request arrive
                if time_scale > 0:
                    await asyncio.sleep(start + line["t"] / 1000 * time_scale - loop.time())
                if wait_for_events:
                    await self._wait_events(len(comparable(recorded_events)))
                await self._request(line, responses.get(line["seq"]), skip, result)
        await asyncio.sleep(0.3)
        result.recorded = [(e["type"], self.role(e, False)) for e in comparable(recorded_events)]
        result.simulated = [(e["type"], self.role(e, True)) for e in comparable(self.events)]
        return result

    def _abort_ws(self) -> None:
        """Drop the events websocket's TCP connection without a close frame (a crashed app)."""
        assert self.ws is not None
        sock = self.ws.get_extra_info("socket")  # asyncio's TransportSocket
        assert sock is not None
        sock.shutdown(socket.SHUT_RDWR)

    async def _on_recorded_event(self, event: dict[str, Any]) -> None:
        ch = event.get("channel") or {}
        cid = ch.get("id", "")
        inbound = str(ch.get("name", "")).startswith("Local/")
        if event["type"] == "StasisStart" and cid not in self.ids and inbound:
            call = await self.sim.place_call(
                dialed=ch["dialplan"]["exten"],
                caller_number=ch["caller"]["number"],
                caller_name=ch["caller"]["name"],
                app=event["application"],
                args=event["args"],
            )
            n = sum(1 for r in self.roles.values() if r.startswith("caller"))
            self.ids[cid] = call.channel_id
            self.roles[call.channel_id] = f"caller{n}"
            head, _, counter = cid.rpartition(".")
            self.ids[f"{head}.{int(counter) + 1}"] = call.peer_channel_id
            self.roles[call.peer_channel_id] = f"peer{n}"
            self.calls[call.channel_id] = call
        elif (
            event["type"] == "ChannelHangupRequest"
            and cid in self.ids
            and not event.get("soft")
            and event.get("cause") == 16
        ):
            hanging = self.calls.get(self.ids[cid])
            if hanging is not None and not hanging.is_ended:
                await hanging.caller.hangup()

    async def _request(
        self,
        line: dict[str, Any],
        response: dict[str, Any] | None,
        skip: frozenset[int],
        result: ReplayResult,
    ) -> None:
        seq = line["seq"]
        path = self._map(line["path"])
        query = {k: self._map(str(v)) for k, v in line["query"].items()}
        if "external_host" in query and ":" in query["external_host"]:
            query["external_host"] = self.peer.address
        found = self.spec.resolve(line["method"], path[len("/ari") :])
        implemented = not isinstance(found, RouteMatch) or found.operation.key in self.routes
        websocket = line.get("websocket", False)
        unmapped = any(
            part.count("-") == 4 and part not in self.ids.values() for part in path.split("/")
        )
        if seq in skip or (not implemented and not websocket) or unmapped:
            result.skipped.append(seq)
            return
        expected_status = response["status"] if response else 0
        headers = {}
        if "auth" in line:
            auth = line["auth"]
            if auth and auth.startswith("Basic "):
                user, _, password = auth[len("Basic ") :].partition(":")
                headers["Authorization"] = aiohttp.encode_basic_auth(user, password)
            else:
                headers["Authorization"] = ""
        url = self.sim.ari_url + path
        if websocket:
            if expected_status == 101:
                self.ws = await self.session.ws_connect(url, params=query)
                self._readers.append(asyncio.get_running_loop().create_task(self._read(self.ws)))
                result.statuses.append((seq, expected_status, 101, None, None))
                return
            if expected_status == 401:
                headers["Authorization"] = aiohttp.encode_basic_auth("ari", "wrong")
        async with self.session.request(
            line["method"], url, params=query, headers=headers or None
        ) as resp:
            text = await resp.text()
            is_json = resp.content_type == "application/json" and text
            body: Any = json.loads(text) if is_json else text
            self._learn_ids(response, body)
            recorded_body = response["body"] if response else None
            if line["method"] == "GET":
                result.bodies[seq] = (self.mapped(recorded_body), body)
            result.statuses.append((seq, expected_status, resp.status, recorded_body, body))
            if resp.status == 405:
                assert response is not None
                assert resp.headers["Allow"] == response["headers"]["Allow"]

    def _learn_ids(self, response: dict[str, Any] | None, body: Any) -> None:
        if response is None or not isinstance(response["body"], dict):
            return
        if not isinstance(body, dict):
            return
        recorded_id = response["body"].get("id")
        our_id = body.get("id")
        if isinstance(recorded_id, str) and isinstance(our_id, str):
            self.ids[recorded_id] = our_id
            name = str(body.get("name", ""))
            if name.startswith("UnicastRTP/"):
                self.roles[our_id] = "em"
            elif "technology" in body:
                self.roles[our_id] = "bridge"
            else:
                self.roles.setdefault(our_id, "originated")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        for reader in self._readers:
            await reader
