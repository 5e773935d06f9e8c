"""The simulator's control API, for callers in another process (load generator, admins).

Same host, port and credentials as ARI (Basic auth or ``?api_key=user:pass``), under ``/_sim``.
JSON in, JSON out:

=======  ===================================  ==================================================
POST     /_sim/calls                          place an inbound call. Body (all optional):
                                              ``{"dialed":"100","caller_number":"5551234",
                                              "caller_name":"Alice","app":"callwright",
                                              "args":["100"],"context":"from-test",
                                              "phone_like":false}`` -> 201 ``{call}``
GET      /_sim/calls                          every call -> 200 ``[{call}, ...]``
GET      /_sim/calls/{channel_id}             one call -> 200 ``{call}`` or 404
POST     /_sim/calls/{channel_id}/say         the caller speaks, in the background:
                                              ``{"pcm_base64": <8 kHz PCM16 LE>}`` or
                                              ``{"tone_hz":440,"ms":1000}`` -> 202
POST     /_sim/calls/{channel_id}/dtmf        ``{"digits":"12#"}`` -> 202
POST     /_sim/calls/{channel_id}/hangup      the caller hangs up -> 204
GET      /_sim/calls/{channel_id}/heard.wav   what the caller heard, 8 kHz mono WAV
POST     /_sim/restart                        ``{"down_s":2.0}``: simulate ``core restart now``
                                              (runs in the background) -> 202
PUT      /_sim/destinations/{exten}           what dialing ``Local/{exten}@…`` does:
                                              ``{"outcome":"answer|busy|congestion|no_answer|
                                              invalid","ring_s":0,"busy_s":5,"amd":"hello|
                                              speech|silence|tone|noframes","hangup_after_s":
                                              null}`` -> 200 (400 on a bad value)
GET      /_sim/destinations                   ``{exten: {...}, ...}`` -> 200
DELETE   /_sim/destinations/{exten}           back to answering -> 204 (404 if not set)
=======  ===================================  ==================================================

``{call}`` is ``{"channel_id","direction","stasis_status","ended","continued_to",
"hangup_cause","outcome","dialed"}`` (``outcome``/``dialed``: outbound calls' far end), with
``continued_to`` null or ``{"context","extension","priority"}``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import math
import wave
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import numpy as np
from aiohttp import web

from ari_app.simulator.calls import SimulatedCall
from ari_app.simulator.far_end import FarEnd
from ari_app.simulator.rest import error, json_response, no_content

if TYPE_CHECKING:
    from ari_app.simulator.server import PbxSimulator


def call_json(call: SimulatedCall) -> dict[str, Any]:
    cont = call.continued_to
    return {
        "channel_id": call.channel_id,
        "direction": call.direction,
        "stasis_status": call.stasis_status,
        "ended": call.is_ended,
        "continued_to": None
        if cont is None
        else {"context": cont.context, "extension": cont.extension, "priority": cont.priority},
        "hangup_cause": call.hangup_cause,
        "outcome": call.outcome,
        "dialed": call.dialed,
    }


def tone(hz: float, ms: float, amplitude: int = 8000) -> bytes:
    """A sine tone as 8 kHz PCM16 LE."""
    n = int(8000 * ms / 1000)
    t = np.arange(n) / 8000.0
    return (amplitude * np.sin(2 * math.pi * hz * t)).astype("<i2").tobytes()


class ControlApi:
    def __init__(self, sim: PbxSimulator) -> None:
        self.sim = sim
        self._tasks: set[asyncio.Task[Any]] = set()

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            return error(400, "body must be a JSON object")
        if not isinstance(body, dict):
            return error(400, "body must be a JSON object")
        return body

    async def handle(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.rel_url.raw_path.split("/") if p][1:]  # drop "_sim"
        method = request.method
        body = await self._body(request) if method in ("POST", "PUT") else {}
        if isinstance(body, web.Response):
            return body
        if parts == ["calls"]:
            if method == "POST":
                return await self._place(body)
            if method == "GET":
                return json_response([call_json(c) for c in self.sim.calls])
        elif parts and parts[0] == "destinations":
            return self._destinations(parts[1:], method, body)
        elif parts == ["restart"] and method == "POST":
            self._background(self.sim.restart(float(body.get("down_s", 2.0))))
            return json_response({"restarting": True}, 202)
        elif len(parts) >= 2 and parts[0] == "calls":
            call = self.sim.ctx.all_calls.get(parts[1])
            if call is None:
                return error(404, "Call not found")
            return await self._call_action(call, parts[2:], method, body)
        return error(404, "Resource not found")

    def _destinations(
        self, rest: list[str], method: str, body: dict[str, Any]
    ) -> web.Response:
        destinations = self.sim.ctx.destinations
        if not rest and method == "GET":
            return json_response({k: v.to_json() for k, v in destinations.by_exten.items()})
        if len(rest) != 1:
            return error(404, "Resource not found")
        exten = unquote(rest[0])
        if method == "PUT":
            try:
                far_end = FarEnd.from_json(body)
            except ValueError as exc:
                return error(400, str(exc))
            destinations.set(exten, far_end)
            return json_response({exten: far_end.to_json()})
        if method == "DELETE":
            return no_content() if destinations.remove(exten) else error(404, "No such destination")
        return error(404, "Resource not found")

    async def _place(self, body: dict[str, Any]) -> web.Response:
        args = body.get("args")
        if args is not None and not (
            isinstance(args, list) and all(isinstance(a, str) for a in args)
        ):
            return error(400, "args must be a list of strings")
        call = await self.sim.place_call(
            dialed=str(body.get("dialed", "100")),
            caller_number=str(body.get("caller_number", "5551234")),
            caller_name=str(body.get("caller_name", "Alice")),
            app=str(body.get("app", "callwright")),
            args=args,
            context=str(body.get("context", "from-test")),
            phone_like=bool(body.get("phone_like", False)),
        )
        return json_response(call_json(call), 201)

    async def _call_action(
        self, call: SimulatedCall, rest: list[str], method: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        if not rest and method == "GET":
            return json_response(call_json(call))
        if rest == ["say"] and method == "POST":
            if "pcm_base64" in body:
                try:
                    pcm = base64.b64decode(str(body["pcm_base64"]), validate=True)
                except binascii.Error:
                    return error(400, "pcm_base64 is not base64")
            elif "tone_hz" in body:
                pcm = tone(float(body["tone_hz"]), float(body.get("ms", 1000)))
            else:
                return error(400, "give pcm_base64 or tone_hz")
            self._background(call.caller.say(pcm))
            return json_response({"queued_ms": len(pcm) // 16}, 202)
        if rest == ["dtmf"] and method == "POST":
            try:
                call.caller.send_dtmf(str(body.get("digits", "")))
            except ValueError as exc:
                return error(400, str(exc))
            return json_response({"digits": body.get("digits", "")}, 202)
        if rest == ["hangup"] and method == "POST":
            self._background(call.caller.hangup())
            return no_content()
        if rest == ["heard.wav"] and method == "GET":
            buf = io.BytesIO()
            with wave.open(buf, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(8000)
                w.writeframes(call.caller.heard_pcm())
            return web.Response(body=buf.getvalue(), content_type="audio/wav")
        return error(404, "Resource not found")
