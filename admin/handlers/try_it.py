"""The "Try it" panel of an assistant's page, and the WebSocket its test calls run on.

The panel (editors and above) starts a test call from the browser: the microphone through an
AudioWorklet (``/static/try_worklet.js``) as 16 or 8 kHz PCM frames, the assistant's audio played
back, the live transcript with each turn's latencies, and a box to type instead of speaking
(``/static/try_it.js``; no external resources).

The WebSocket (``GET /assistants/{id}/test-call``) is a page route: the session cookie
authenticates it and the route's guard checks the role (assistants.write) and the second factor.
A WebSocket handshake is a GET that browsers let any site open with the user's cookies, so it
must also come from this admin (its ``Origin`` names this host) and carry the session's CSRF token
(``?csrf=``); API tokens cannot open one. Limits (one open test call per user, a few per process,
a time limit) come from :class:`admin.try_calls.TryCallLimits`; past one, the socket opens, says
why (an ``error`` message) and closes with code 4429.
"""

from __future__ import annotations

import asyncio
import hmac
from urllib.parse import urlsplit

from aiohttp import web

from admin import try_call_protocol as protocol
from admin.errors import UserError
from admin.html import Html, h
from admin.routing import Ctx, Route
from admin.try_call_session import TryCallSession
from admin.try_calls import TRY_CALLS, TooManyTryCalls
from callwright.accounts.roles import Forbidden, Permission
from callwright.store.assistants import Assistant

#: Close code of a test call refused by a limit (4000-4999: for applications).
CLOSE_LIMIT = 4429


def try_panel(ctx: Ctx, assistant: Assistant) -> Html:
    """The panel, for users who may start test calls (the page checks the permission)."""
    session = ctx.principal.session
    available = ctx.request.app.get(TRY_CALLS) is not None
    if session is None:
        return Html("")
    if not available:
        return h(
            '<section class="try-it" id="try-it"><h2>Try it</h2><p class="hint">Test calls '
            "from the browser are not available in this admin process (it was started without "
            "the speech engines).</p></section>"
        )
    return h(
        '<section class="try-it" id="try-it" data-ws="/assistants/{id}/test-call" '
        'data-csrf="{csrf}" data-worklet="/static/try_worklet.js">'
        "<h2>Try it</h2>"
        '<p class="hint">Talk to {name} from this browser: the call runs exactly as a phone '
        "call would and is kept as a <em>test</em> call (left out of reports).</p>"
        '<div class="try-controls">'
        '<label class="field"><span>Audio</span><select id="try-rate">'
        '<option value="16000">16 kHz (wideband)</option>'
        '<option value="8000">8 kHz (as on a phone line)</option></select></label>'
        '<button type="button" id="try-start">Start test call</button>'
        '<button type="button" id="try-stop" class="danger" hidden>End test call</button>'
        '<span id="try-status" class="hint" role="status" aria-live="polite"></span>'
        "</div>"
        '<ol id="try-transcript" class="timeline try-transcript" aria-live="polite" '
        'aria-label="Live transcript"></ol>'
        '<form id="try-type" class="try-type" hidden>'
        '<label class="field"><span>Type instead of speak</span>'
        '<input id="try-text" name="text" autocomplete="off" maxlength="{max}"></label>'
        '<button type="submit">Send</button></form>'
        "</section>"
        '<script src="/static/try_it.js" defer></script>',
        id=assistant.id,
        csrf=session.csrf_token,
        name=assistant.name,
        max=protocol.MAX_TYPED_CHARS,
    )


def check_socket_origin(ctx: Ctx) -> None:
    """The handshake must come from this admin's pages, with the session's CSRF token."""
    request = ctx.request
    session = ctx.principal.session
    if session is None:
        raise Forbidden("Test calls are opened from the admin's pages, not with API tokens.")
    origin = request.headers.get("Origin", "")
    if not origin or origin == "null" or urlsplit(origin).netloc != request.host:
        raise Forbidden("This request came from another site and was refused.")
    sent = request.query.get("csrf", "")
    if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise Forbidden("The page had expired. Reload it and try again.")


async def open_test_call(ctx: Ctx) -> web.StreamResponse:
    assistant = await ctx.services.assistants.get(ctx.org_id, ctx.match_int("assistant_id"))
    check_socket_origin(ctx)
    try:
        rate = protocol.parse_rate(ctx.request.query.get("rate"))
    except protocol.BadMessage as exc:
        raise UserError(str(exc), field="rate") from None
    tries = ctx.request.app.get(TRY_CALLS)
    if tries is None or not tries.ready:
        raise UserError("Test calls are not available in this admin process.", status=503)
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=protocol.MAX_AUDIO_BYTES)
    if not ws.can_prepare(ctx.request).ok:
        raise UserError("This address takes the browser's test calls (a WebSocket): start one "
                        "from the assistant's page.")
    user_id = ctx.principal.user_id or 0
    await ws.prepare(ctx.request)
    try:
        reservation = tries.reserve(user_id)
    except TooManyTryCalls as exc:
        await ws.send_str(protocol.error(str(exc)))
        await ws.close(code=CLOSE_LIMIT, message=b"limit")
        return ws
    try:
        await ctx.record("assistant.test_call", f"assistant:{assistant.id}", rate=rate)
        session = TryCallSession(tries, ws, assistant, rate=rate,
                                 user_name=ctx.principal.display, reservation=reservation)
        # aiohttp cancels the handler when the page's connection goes; the session ends on its
        # own then (its reader sees the socket close) and must still close the call's row.
        running = asyncio.get_running_loop().create_task(session.run())
        try:
            await asyncio.shield(running)
        except asyncio.CancelledError:
            await running
            raise
    finally:
        reservation.release()
    return ws


ROUTES = [
    Route(
        "GET",
        "/assistants/{assistant_id}/test-call",
        open_test_call,
        Permission.ASSISTANTS_WRITE,
        "A test call from the browser (WebSocket; see admin/try_call_protocol.py)",
        api=False,
    ),
]
