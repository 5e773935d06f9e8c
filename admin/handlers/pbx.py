"""Live PBX status over the AMI (``[ami]`` settings) and hanging a call up (admin role).

``GET /pbx`` lists the channels, bridges and queue members (available or not) that Asterisk
reports now (:class:`ari_app.ami.status.PbxLiveStatus`, a connection per request);
``POST /pbx/hangup`` (``channel``, optional ``cause``) hangs a channel up, audited as
``pbx.hangup``. Without ``[ami] host`` both say the AMI is not configured (409).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from admin.errors import Missing, UserError
from admin.forms import text
from admin.handlers.setup import SETUP_SETTINGS
from admin.html import Html, h
from admin.routing import Ctx, Route
from admin.views import button_form, done, page, respond, table
from ari_app.ami.client import AmiClient, AmiError, AmiSettings
from ari_app.ami.status import PbxLiveStatus, PbxStatus
from callwright.accounts.roles import Permission
from callwright.config import Settings

#: How long a request waits for the AMI login.
CONNECT_S = 3.0


async def _live(ctx: Ctx) -> tuple[AmiClient, PbxLiveStatus]:
    settings = ctx.request.app.get(SETUP_SETTINGS) or Settings()
    ami = settings.ami
    if not ami.enabled:
        raise UserError("The AMI is not configured ([ami] host in the server's settings).",
                        status=409)
    client = AmiClient(AmiSettings(ami.host, ami.port, ami.username, ami.secret),
                       events=False)
    try:
        await client.connect(timeout_s=CONNECT_S)
    except AmiError as exc:
        client.close()
        raise UserError(f"The AMI cannot be reached: {exc}", status=503) from None
    return client, PbxLiveStatus(client)


async def show_pbx(ctx: Ctx) -> web.StreamResponse:
    client, live = await _live(ctx)
    try:
        status = await live.snapshot()
    except AmiError as exc:
        raise UserError(f"The AMI answered with an error: {exc}", status=503) from None
    finally:
        client.close()
    if ctx.api:
        return respond(ctx, status.to_json(), web.Response)
    return page(ctx, "PBX now", _render(ctx, status))


def _render(ctx: Ctx, status: PbxStatus) -> Html:
    can_hang_up = ctx.principal.can(Permission.NUMBERS_WRITE)
    rows = []
    for c in status.channels:
        control = button_form(ctx, f"/pbx/hangup?{urlencode({'channel': c.name})}", "Hang up",
                              danger=True, confirm=f"Hang up {c.name}?") \
            if can_hang_up else Html("")
        rows.append(h("<tr><td>{n}</td><td>{s}</td><td>{c}</td><td>{a}</td><td>{d}</td>"
                      "<td>{x}</td></tr>", n=c.name, s=c.state, c=c.caller, a=c.application,
                      d=c.duration, x=control))
    bridges = [h("<tr><td>{i}</td><td>{t}</td><td>{n}</td></tr>", i=b.id, t=b.technology,
                 n=b.channels) for b in status.bridges]
    members = [h("<tr><td>{q}</td><td>{n}</td><td>{a}</td></tr>", q=m.queue, n=m.name,
                 a="available" if m.available else "busy or paused") for m in status.members]
    return h("<h2>Channels</h2>{c}<h2>Bridges</h2>{b}<h2>Queue members</h2>{m}",
             c=table(["Channel", "State", "Caller", "Application", "Duration", ""], rows,
                     "No channels."),
             b=table(["Bridge", "Technology", "Channels"], bridges, "No bridges."),
             m=table(["Queue", "Member", ""], members, "No queue members."))


async def hangup(ctx: Ctx) -> web.StreamResponse:
    data: dict[str, Any] = {**ctx.request.query, **await ctx.input()}
    channel = text(data, "channel", max_len=200).strip()
    if not channel or channel.startswith("/"):
        raise UserError("Name one channel (as the PBX lists it).", field="channel")
    cause_text = str(data.get("cause") or "16").strip()
    if not cause_text.isdigit() or not 1 <= int(cause_text) <= 127:
        raise UserError("cause: a Q.850 cause code, 1-127", field="cause")
    client, live = await _live(ctx)
    try:
        found = await live.hangup(channel, int(cause_text))
    except AmiError as exc:
        raise UserError(f"The AMI answered with an error: {exc}", status=503) from None
    finally:
        client.close()
    if not found:
        raise Missing("This channel")
    await ctx.record("pbx.hangup", f"channel:{channel}", cause=int(cause_text))
    return done(ctx, {"channel": channel, "hung_up": True}, "/pbx")


ROUTES = [
    Route("GET", "/pbx", show_pbx, Permission.NUMBERS_READ,
          "Live PBX status over the AMI: channels, bridges, queue members"),
    Route("POST", "/pbx/hangup", hangup, Permission.NUMBERS_WRITE,
          "Hang up a channel over the AMI (admin role)", body={
              "type": "object", "required": ["channel"],
              "properties": {"channel": {"type": "string"}, "cause": {"type": "integer"}}},
          query=("channel",)),
]

