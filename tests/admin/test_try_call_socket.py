"""The test-call WebSocket (issue 17): who may open it, its limits, bad frames, a typed call.

The admin runs with real test calls (:class:`admin.try_calls.TryCalls` on the Korean Vosk model
and espeak-ng, started as ``python -m admin`` starts it); the pages are driven with aiohttp.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from admin.try_call_protocol import BadAudio, FrameChunker
from admin.try_calls import TryCallLimits
from callwright.dialog.consent import declined_line
from callwright.store.assistants import AssistantRepository
from tests.admin.conftest import Admin, AdminFactory, LoggedIn
from tests.admin.try_call_data import FLOW, HELLO, korean_assistant, tries_factory


def origin(admin: Admin) -> str:
    assert admin.server is not None
    return str(admin.server.make_url("")).rstrip("/")


async def open_socket(
    admin: Admin, user: LoggedIn, assistant_id: int, *, csrf: str | None = None,
    origin_header: str | None = None, rate: str = "16000",
) -> aiohttp.ClientWebSocketResponse:
    token = await user.csrf() if csrf is None else csrf
    return await user.client.ws_connect(
        f"/assistants/{assistant_id}/test-call?rate={rate}&csrf={token}",
        origin=origin(admin) if origin_header is None else origin_header,
    )


async def messages_until(
    ws: aiohttp.ClientWebSocketResponse, kind: str, limit_s: float = 20.0
) -> list[dict[str, Any]]:
    """Text messages received up to the first of type ``kind`` (audio is counted, not kept)."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(limit_s):
        while True:
            message = await ws.receive()
            if message.type == WSMsgType.TEXT:
                seen.append(json.loads(message.data))
                if seen[-1]["type"] == kind:
                    return seen
            elif message.type == WSMsgType.BINARY:
                seen.append({"type": "audio", "bytes": len(message.data)})
            else:
                raise AssertionError(f"the socket ended ({message.type}) before {kind!r}")


async def settled(admin: Admin, within_s: float = 5.0) -> None:
    """Wait until the admin has no test call open (each closes its row first)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while admin.try_calls is not None and admin.try_calls.active:
        assert asyncio.get_running_loop().time() < deadline, "a test call is still open"
        await asyncio.sleep(0.05)


async def test_a_typed_test_call_runs_the_flow_and_is_stored_as_a_test_call(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await korean_assistant(admin, org)
    editor = await admin.login(org.users["editor"])
    ws = await open_socket(admin, editor, assistant_id)
    started = await messages_until(ws, "started")
    uid = started[-1]["call_uid"]
    assert started[-1]["sample_rate"] == 16000
    greeting = await messages_until(ws, "turn")
    assert greeting[-1]["speaker"] == "assistant"
    assert sum(m.get("bytes", 0) for m in greeting) > 16000  # the greeting's audio came
    await ws.send_str(json.dumps({"type": "say", "text": HELLO}))
    rest = await messages_until(ws, "ended")
    turns = [m for m in rest if m["type"] == "turn"]
    assert [(t["speaker"], t["text"]) for t in turns] == [
        ("caller", HELLO), ("assistant", "반갑습니다. 안녕히 계세요.")
    ]
    assert "first_frame_ms" in turns[1]["latencies"]
    assert sum(m.get("bytes", 0) for m in rest) > 16000  # the reply was heard
    assert rest[-1] == {"type": "ended", "status": "completed", "reason": "said_hello"}
    closing = await ws.receive()
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)

    row = await admin.db.fetch_one(
        "SELECT direction, status, caller_name, org_id FROM calls WHERE uid = ?", (uid,)
    )
    assert row is not None
    assert (row["direction"], row["status"], row["org_id"]) == ("test", "completed", org.id)
    assert row["caller_name"] == org.users["editor"]
    texts = await admin.db.fetch_all(
        "SELECT speaker, text FROM call_turns t JOIN calls c ON c.id = t.call_id"
        " WHERE c.uid = ? ORDER BY seq", (uid,)
    )
    assert [r["speaker"] for r in texts] == ["assistant", "caller", "assistant"]
    audit = await admin.db.fetch_value(
        "SELECT count(*) FROM audit_log WHERE action = 'assistant.test_call'"
    )
    assert audit == 1


async def test_who_may_open_a_test_call(make_admin: AdminFactory) -> None:
    admin = await make_admin(try_calls=tries_factory(start=False))
    org = await admin.org("acme")
    other = await admin.org("other")
    path = f"/assistants/{org.assistant_id}/test-call?rate=16000"

    anonymous = await admin.client()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await anonymous.ws_connect(path, origin=origin(admin))
    assert refused.value.request_info.url.path == "/login"  # sent to the sign-in form

    viewer = await admin.login(org.users["viewer"])
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_socket(admin, viewer, org.assistant_id)
    assert refused.value.status == 403

    editor = await admin.login(org.users["editor"])
    for kwargs, status in (
        ({"origin_header": "https://evil.example"}, 403),  # another site
        ({"csrf": "forged"}, 403),  # no token
        ({"rate": "44100"}, 400),
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await open_socket(admin, editor, org.assistant_id, **kwargs)
        assert refused.value.status == status, kwargs
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_socket(admin, editor, other.assistant_id)  # another org's assistant
    assert refused.value.status == 404
    # Not started (no engines loaded yet): refused, not taken inside a call.
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_socket(admin, editor, org.assistant_id)
    assert refused.value.status == 503
    # A plain GET (no upgrade) is told what the address is for.
    tries = admin.try_calls
    assert tries is not None
    await tries.start()
    plain = await editor.client.get(path + f"&csrf={await editor.csrf()}",
                                    headers={"Origin": origin(admin)})
    assert plain.status == 400
    assert "WebSocket" in await plain.text()
    # API tokens cannot open one: the route is a page (no /api/v1 twin).
    api = await editor.client.get(f"/api/v1/assistants/{org.assistant_id}/test-call")
    assert api.status == 404


async def test_one_test_call_per_user_and_a_time_limit(make_admin: AdminFactory) -> None:
    admin = await make_admin(try_calls=tries_factory(TryCallLimits(max_seconds=3.0, per_user=1)))
    org = await admin.org("acme", with_data=False)
    assistant_id = await korean_assistant(admin, org)
    editor = await admin.login(org.users["editor"])
    first = await open_socket(admin, editor, assistant_id)
    await messages_until(first, "started")
    second = await open_socket(admin, editor, assistant_id)
    refused = await messages_until(second, "error")
    assert "already have 1 test call" in refused[-1]["message"]
    closing = await second.receive()
    assert closing.type == WSMsgType.CLOSE and closing.data == 4429
    # Another user may still call; the first call ends by itself at the limit.
    admin_user = await admin.login(org.users["admin"])
    third = await open_socket(admin, admin_user, assistant_id)
    await messages_until(third, "started")
    await third.send_str(json.dumps({"type": "hangup"}))
    assert (await messages_until(third, "ended"))[-1]["reason"] == "caller_hangup"
    ended = await messages_until(first, "ended", limit_s=10)
    assert ended[-1]["reason"] == "max_duration"
    # Once it ended, the same user may start again.
    again = await open_socket(admin, editor, assistant_id)
    await messages_until(again, "started")
    await again.close()
    await settled(admin)
    statuses = await admin.db.fetch_all(
        "SELECT status, end_reason FROM calls WHERE direction = 'test' ORDER BY id"
    )
    assert [r["end_reason"] for r in statuses] == ["max_duration", "caller_hangup",
                                                   "caller_hangup"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [(b"\x00" * 321, 1003), (b"\x00" * 16002, 1009)],
    ids=["odd-bytes", "too-big"],
)
async def test_bad_audio_closes_the_socket_and_ends_the_call(
    make_admin: AdminFactory, frame: bytes, code: int
) -> None:
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await korean_assistant(admin, org)
    editor = await admin.login(org.users["editor"])
    ws = await open_socket(admin, editor, assistant_id)
    await messages_until(ws, "started")
    await ws.send_bytes(frame)
    async with asyncio.timeout(10):
        while True:
            message = await ws.receive()
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED):
                break
    assert ws.close_code == code
    await settled(admin)
    status = await admin.db.fetch_value("SELECT status FROM calls WHERE direction = 'test'")
    assert status == "failed"


async def test_bad_text_messages_are_answered_and_the_call_goes_on(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await korean_assistant(admin, org)
    editor = await admin.login(org.users["editor"])
    ws = await open_socket(admin, editor, assistant_id)
    await messages_until(ws, "started")
    for bad, says in (
        ("not json", "JSON object"),
        ("[1, 2]", "JSON object"),
        ('{"type": "dance"}', "type must be"),
        ('{"type": "say", "text": "  "}', "non-empty"),
        (json.dumps({"type": "say", "text": "x" * 501}), "at most 500"),
        ("x" * 5000, "at most 4096 bytes"),
    ):
        await ws.send_str(bad)
        answer = await messages_until(ws, "error")
        assert says in answer[-1]["message"], bad
    # 20 ms frames of silence in pieces of any even size are taken.
    for size in (640, 2, 1278):
        await ws.send_bytes(b"\x00" * size)
    await ws.send_str(json.dumps({"type": "say", "text": HELLO}))
    ended = await messages_until(ws, "ended")
    assert ended[-1]["reason"] == "said_hello"


def test_audio_messages_of_any_even_size_are_cut_into_whole_frames() -> None:
    chunker = FrameChunker(640)
    assert chunker.feed(b"\x01\x00" * 100) == []
    frames = chunker.feed(b"\x02\x00" * 300)
    assert frames == [b"\x01\x00" * 100 + b"\x02\x00" * 220]
    assert chunker.feed(b"\x03\x00" * 220) == []  # 80 + 220 samples: not a frame yet
    assert chunker.feed(b"\x04\x00" * 20) == [
        b"\x02\x00" * 80 + b"\x03\x00" * 220 + b"\x04\x00" * 20
    ]
    with pytest.raises(BadAudio):
        chunker.feed(b"\x00" * 3)


async def test_try_panel_on_the_assistant_page(make_admin: AdminFactory) -> None:
    admin = await make_admin(try_calls=tries_factory(start=False))
    org = await admin.org("acme")
    editor = await admin.login(org.users["editor"])
    page = await (await editor.client.get(f"/assistants/{org.assistant_id}")).text()
    assert "Start test call" in page
    assert re.search(r'data-csrf="[^"]+"', page)
    assert "/static/try_it.js" in page
    plain = await make_admin()
    plain_org = await plain.org("acme")
    plain_editor = await plain.login(plain_org.users["editor"])
    page = await (await plain_editor.client.get(f"/assistants/{plain_org.assistant_id}")).text()
    assert "not available in this admin process" in page
    assert "Start test call" not in page


async def test_a_test_call_is_recorded_when_the_assistant_records(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await korean_assistant(admin, org, record=True)
    editor = await admin.login(org.users["editor"])
    ws = await open_socket(admin, editor, assistant_id)
    uid = (await messages_until(ws, "started"))[-1]["call_uid"]
    await messages_until(ws, "turn")
    await ws.send_str(json.dumps({"type": "say", "text": HELLO}))
    await messages_until(ws, "ended")
    await settled(admin)
    row = await admin.db.fetch_one(
        "SELECT recording_path, recording_key_id FROM calls WHERE uid = ?", (uid,)
    )
    assert row is not None and row["recording_path"]
    assert row["recording_key_id"]  # new orgs encrypt their recordings
    assert str(admin.recordings) in row["recording_path"]
    # The admin plays it like any recording (decrypted with the org's key).
    owner = await admin.login(org.users["admin"])
    response = await owner.client.get(f"/calls/{uid}/recording")
    assert response.status == 200
    body = await response.read()
    assert body[:4] == b"RIFF" and len(body) > 16000 * 4  # stereo 16 kHz, over a second


async def test_a_failure_on_the_server_ends_the_call_with_a_message(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await korean_assistant(admin, org)
    assert admin.try_calls is not None

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the dialog could not be built")

    admin.try_calls.runtime.for_assistant = broken  # type: ignore[method-assign,assignment]
    editor = await admin.login(org.users["editor"])
    ws = await open_socket(admin, editor, assistant_id)
    said = await messages_until(ws, "ended")
    assert "failed on the server" in next(m for m in said if m["type"] == "error")["message"]
    assert said[-1]["status"] == "failed"
    assert "RuntimeError" in said[-1]["reason"]
    await settled(admin)
    assert admin.try_calls.active == 0


NOTICE = "이 통화는 녹음됩니다."


async def recorded_assistant_with_notice(admin: Admin, org_id: int) -> int:
    created = await AssistantRepository(admin.db).create(
        org_id, "Recorded desk", "ko", flow=FLOW, record_calls=True, consent_prompt=NOTICE
    )
    return created.id


async def test_a_recorded_test_call_opens_with_the_consent_notice(
    make_admin: AdminFactory,
) -> None:
    """The admin hears what callers hear: the notice first, said whole, then the greeting."""
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await recorded_assistant_with_notice(admin, org.id)
    unrecorded = await korean_assistant(admin, org)
    editor = await admin.login(org.users["editor"])
    ws = await open_socket(admin, editor, assistant_id)
    uid = (await messages_until(ws, "started"))[-1]["call_uid"]
    opening = await messages_until(ws, "turn")  # one assistant turn: the notice, then the flow
    assert (opening[-1]["speaker"], opening[-1]["text"]) == (
        "assistant", f"{NOTICE} {FLOW['nodes']['greet']['prompt']}")
    assert sum(m.get("bytes", 0) for m in opening) > 16000  # heard
    await ws.send_str(json.dumps({"type": "say", "text": HELLO}))
    assert (await messages_until(ws, "ended"))[-1]["status"] == "completed"
    await settled(admin)
    row = await admin.db.fetch_one(
        "SELECT recording_path, recording_declined FROM calls WHERE uid = ?", (uid,))
    assert row is not None and row["recording_path"] and not row["recording_declined"]

    # An assistant that does not record says no notice (as on the phone).
    ws = await open_socket(admin, editor, unrecorded)
    await messages_until(ws, "started")
    first = await messages_until(ws, "turn")
    assert first[-1]["text"] == FLOW["nodes"]["greet"]["prompt"]
    await ws.send_str(json.dumps({"type": "hangup"}))
    await messages_until(ws, "ended")


async def test_saying_no_to_the_recording_deletes_it(make_admin: AdminFactory) -> None:
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await recorded_assistant_with_notice(admin, org.id)
    editor = await admin.login(org.users["editor"])
    ws = await open_socket(admin, editor, assistant_id)
    uid = (await messages_until(ws, "started"))[-1]["call_uid"]
    assert (await messages_until(ws, "turn"))[-1]["text"].startswith(NOTICE)
    await ws.send_str(json.dumps({"type": "say", "text": "녹음하지 마세요"}))
    said = await messages_until(ws, "turn")
    while said[-1]["speaker"] != "assistant":
        said = await messages_until(ws, "turn")
    assert said[-1]["text"] == declined_line("ko")
    await ws.send_str(json.dumps({"type": "say", "text": HELLO}))
    await messages_until(ws, "ended")
    await settled(admin)
    row = await admin.db.fetch_one(
        "SELECT id, recording_path, recording_declined FROM calls WHERE uid = ?", (uid,))
    assert row is not None and row["recording_path"] is None and row["recording_declined"]
    events = await admin.db.fetch_all(
        "SELECT kind FROM call_events WHERE call_id = ?", (row["id"],))
    assert "recording_declined" in [e["kind"] for e in events]
    assert [p for p in admin.recordings.rglob("*") if p.is_file()] == []
