"""A test call (the Try-it panel's WebSocket) whose caller talks over the hang-up node's goodbye:
the goodbye stops and the call still ends as a completed call (the defect seen in the browser:
the call stayed open; callwright.call.terminal_actions)."""

from __future__ import annotations

import json

import aiohttp
import numpy as np
from aiohttp import WSMsgType

from tests.admin.conftest import AdminFactory
from tests.admin.test_try_call_socket import messages_until, open_socket, settled
from tests.admin.try_call_data import FLOW, HELLO, korean_assistant, tries_factory

GOODBYE = FLOW["nodes"]["bye"]["text"]


async def voiced(ws: aiohttp.ClientWebSocketResponse) -> bool:
    """Whether the next message is audio with speech in it (16-bit PCM)."""
    message = await ws.receive()
    assert message.type in (WSMsgType.TEXT, WSMsgType.BINARY), message
    if message.type != WSMsgType.BINARY:
        return False
    return bool(np.abs(np.frombuffer(message.data, "<i2").astype(np.int32)).max() > 500)


async def test_talking_over_the_goodbye_still_ends_the_test_call(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await korean_assistant(admin, org)
    editor = await admin.login(org.users["editor"])
    ws = await open_socket(admin, editor, assistant_id)
    await messages_until(ws, "turn")  # the greeting
    await ws.send_str(json.dumps({"type": "say", "text": HELLO}))
    await messages_until(ws, "turn")  # the caller's turn
    while not await voiced(ws):  # the goodbye is being heard (not the silence before it)
        pass
    await ws.send_str(json.dumps({"type": "say", "text": "잠깐만요"}))
    rest = await messages_until(ws, "ended", limit_s=10.0)  # was: open until the time limit
    turns = [(m["speaker"], m["text"], m["interrupted"]) for m in rest if m["type"] == "turn"]
    # A typed turn is journalled before the reply it cuts (a spoken one comes after it).
    assert len(turns) == 2 and ("caller", "잠깐만요", False) in turns
    ((_, heard, interrupted),) = [t for t in turns if t[0] == "assistant"]
    assert interrupted and len(heard) < len(GOODBYE)
    assert rest[-1] == {"type": "ended", "status": "completed", "reason": "said_hello"}
    await settled(admin)
