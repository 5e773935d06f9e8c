"""The calls browser: filters, keyset pages, a call's page, notes and the recording."""

from __future__ import annotations

import asyncio

from callwright.privacy.recording_crypto import encrypt_file
from callwright.store.call_search import CallFilter, CallSearch, Cursor
from callwright.store.calls import CallRepository
from tests.admin.conftest import Admin, AdminFactory, OrgFixture, write_stereo_wav


async def _calls(admin: Admin, org: OrgFixture, n: int) -> list[int]:
    """``n`` calls started one minute apart (newest last), alternating status and caller."""
    ids = []
    for i in range(n):
        call_id = await admin.db.execute(
            "INSERT INTO calls (uid, org_id, assistant_id, number_id, caller_number, started_at,"
            " status) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                f"u{org.id}-{i}",
                org.id,
                (org.assistant_id or None) if i % 2 else None,
                org.number_id or None,
                f"+1555000{i % 3}",
                f"2026-01-{1 + i // 1440:02d}T{(i // 60) % 24:02d}:{i % 60:02d}:00.000Z",
                "failed" if i % 5 == 0 else "completed",
            ),
        )
        ids.append(call_id)
    return ids


async def test_keyset_pages_cover_every_call_once_newest_first(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    await _calls(admin, org, 53)
    # Two calls with the same start time: the id breaks the tie.
    await admin.db.execute(
        "INSERT INTO calls (uid, org_id, started_at) VALUES ('tie', ?, '2026-01-01T00:10:00.000Z')",
        (org.id,),
    )
    search = CallSearch(admin.db)
    seen: list[str] = []
    cursor: Cursor | None = None
    while True:
        page = await search.list_calls(org.id, CallFilter(), cursor, limit=10)
        seen += [c.uid for c in page.calls]
        if page.next_cursor is None:
            break
        cursor = Cursor.decode(page.next_cursor)
    assert len(seen) == 54 and len(set(seen)) == 54
    starts = [
        await admin.db.fetch_value(
            "SELECT started_at || printf('%09d', id) FROM calls WHERE uid = ?", (uid,)
        )
        for uid in seen
    ]
    assert starts == sorted(starts, reverse=True)


async def test_filters_combine(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    await _calls(admin, org, 30)
    search = CallSearch(admin.db)

    async def uids(flt: CallFilter) -> set[str]:
        return {c.uid for c in (await search.list_calls(org.id, flt, limit=200)).calls}

    failed = await uids(CallFilter(status="failed"))
    assert failed == {f"u{org.id}-{i}" for i in range(0, 30, 5)}
    with_bot = await uids(CallFilter(assistant_id=org.assistant_id, status="failed"))
    assert with_bot == {f"u{org.id}-{i}" for i in (5, 15, 25)}
    caller = await uids(CallFilter(caller="+15550001"))
    assert caller == {f"u{org.id}-{i}" for i in range(1, 30, 3)}
    window = await uids(CallFilter(since="2026-01-01T00:10", until="2026-01-01T00:12"))
    assert window == {f"u{org.id}-10", f"u{org.id}-11"}
    by_number = await uids(CallFilter(number_id=org.number_id, until="2026-02-01"))
    assert len(by_number) == 30
    text = await uids(CallFilter(text="book TABLE"))
    assert text == {org.call_uid}
    assert await uids(CallFilter(text="book chairs")) == set()
    assert await uids(CallFilter(text='"table* ^(')) == {org.call_uid}  # no FTS syntax
    assert await uids(CallFilter(text="table OR chairs")) == set()  # OR is just a word


async def test_calls_page_and_api_filter_the_same_way(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    await _calls(admin, org, 60)
    viewer = await admin.login(org.users["viewer"])
    data = await (await viewer.api("GET", "/calls?status=failed&limit=5")).json()
    assert len(data["calls"]) == 5 and data["next_cursor"]
    assert all(c["status"] == "failed" for c in data["calls"])
    more = await (
        await viewer.api("GET", f"/calls?status=failed&limit=5&cursor={data['next_cursor']}")
    ).json()
    assert {c["uid"] for c in more["calls"]}.isdisjoint(c["uid"] for c in data["calls"])
    page = await viewer.client.get("/calls?until=2026-01-01&status=failed")
    text = await page.text()
    assert page.status == 200 and f"u{org.id}-5" in text and f'u{org.id}-1"' not in text
    assert "Older calls" in (await (await viewer.client.get("/calls?limit=10")).text())
    assert "book a table" not in text
    found = await (await viewer.client.get("/calls?q=table")).text()
    assert org.call_uid in found


async def test_call_page_shows_timeline_latencies_tools_and_notes(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    calls = CallRepository(admin.db)
    call_id = await admin.db.fetch_value("SELECT id FROM calls WHERE uid = ?", (org.call_uid,))
    await calls.add_event(call_id, "error", {"error": "TTS engine died"})
    viewer = await admin.login(org.users["viewer"])
    page = await viewer.client.get(f"/calls/{org.call_uid}")
    text = await page.text()
    assert page.status == 200
    for expected in (
        "I would like to book a table",
        "STT 210 ms",
        "first frame 420 ms",
        "lookup",
        "TTS engine died",
        "completed",
    ):
        assert expected in text, expected
    assert "<audio" not in text  # viewers may not hear recordings by default
    added = await viewer.post_form(f"/calls/{org.call_uid}/notes", {"body": "Call back <b>"})
    assert added.status == 303
    text = await (await viewer.client.get(f"/calls/{org.call_uid}")).text()
    assert "Call back &lt;b&gt;" in text
    data = await (await viewer.api("GET", f"/calls/{org.call_uid}")).json()
    assert data["notes"][0]["body"] == "Call back <b>"
    assert data["turns"][2]["meta"]["tool_calls"][0]["name"] == "lookup"
    assert "recording_path" not in data["call"] and data["recording_url"] is None
    empty = await viewer.api("POST", f"/calls/{org.call_uid}/notes", {"body": "  "})
    assert empty.status == 400


async def test_recording_streams_with_range_to_roles_that_may_hear_it(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    editor = await admin.login(org.users["editor"])
    page = await (await editor.client.get(f"/calls/{org.call_uid}")).text()
    assert f'src="/calls/{org.call_uid}/recording"' in page
    whole = await editor.client.get(f"/calls/{org.call_uid}/recording")
    body = await whole.read()
    assert whole.status == 200 and whole.headers["Content-Type"] == "audio/wav"
    assert body[:4] == b"RIFF" and body[22] == 2  # stereo
    part = await editor.client.get(
        f"/calls/{org.call_uid}/recording", headers={"Range": "bytes=0-99"}
    )
    assert part.status == 206 and await part.read() == body[:100]
    assert part.headers["Content-Range"] == f"bytes 0-99/{len(body)}"
    tail = await editor.client.get(
        f"/api/v1/calls/{org.call_uid}/recording", headers={"Range": "bytes=-10"}
    )
    assert tail.status == 206 and await tail.read() == body[-10:]
    viewer = await admin.login(org.users["viewer"])
    assert (await viewer.client.get(f"/calls/{org.call_uid}/recording")).status == 403
    owner = await admin.login(org.users["owner"])
    await owner.post_form("/org", {"viewers_hear_recordings": "on"})
    assert (await viewer.client.get(f"/calls/{org.call_uid}/recording")).status == 200


async def test_encrypted_recording_is_decrypted_for_whole_and_ranged_requests(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    uid = await admin.call(org, recording=False)
    plain_path = admin.recordings / f"{uid}.wav"
    # 320 kB: more than one of the pieces the admin decrypts at a time.
    await asyncio.to_thread(write_stereo_wav, plain_path, 10.0)
    plain = await asyncio.to_thread(plain_path.read_bytes)
    sealed, key_id = await asyncio.to_thread(
        encrypt_file, plain_path, admin.master_key, chunk_size=4096
    )
    assert not plain_path.exists() and sealed.name.endswith(".cwenc")
    call_id = await admin.db.fetch_value("SELECT id FROM calls WHERE uid = ?", (uid,))
    await CallRepository(admin.db).set_recording(call_id, sealed.name, key_id)
    editor = await admin.login(org.users["editor"])
    page = await (await editor.client.get(f"/calls/{uid}")).text()
    assert f'src="/calls/{uid}/recording"' in page
    whole = await editor.client.get(f"/calls/{uid}/recording")
    assert whole.status == 200 and whole.headers["Content-Type"] == "audio/wav"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert int(whole.headers["Content-Length"]) == len(plain)
    assert await whole.read() == plain
    total = len(plain)
    for header, start, end in (
        ("bytes=0-99", 0, 100),
        ("bytes=4000-8300", 4000, 8301),  # crosses two chunk boundaries
        ("bytes=-10", total - 10, total),
        ("bytes=300000-", 300000, total),
        (f"bytes=5-{total + 50}", 5, total),  # an end past the file is cut
    ):
        part = await editor.client.get(f"/api/v1/calls/{uid}/recording", headers={"Range": header})
        assert part.status == 206, header
        assert part.headers["Content-Range"] == f"bytes {start}-{end - 1}/{total}", header
        assert await part.read() == plain[start:end], header
    beyond = await editor.client.get(
        f"/calls/{uid}/recording", headers={"Range": f"bytes={total}-"}
    )
    assert beyond.status == 416 and beyond.headers["Content-Range"] == f"bytes */{total}"
    viewer = await admin.login(org.users["viewer"])
    refused = await viewer.client.get(f"/calls/{uid}/recording", headers={"Range": "bytes=0-99"})
    assert refused.status == 403 and b"RIFF" not in await refused.read()
    data = await (await viewer.api("GET", f"/calls/{uid}")).json()
    assert data["recording_url"] is None
    # A damaged file is refused with a message, never served as a truncated WAV.
    damaged = bytearray(sealed.read_bytes())
    damaged[-100] ^= 0xFF  # in the last chunk
    sealed.write_bytes(bytes(damaged))
    tail = await editor.client.get(f"/calls/{uid}/recording", headers={"Range": "bytes=-10"})
    assert tail.status == 409 and "damaged" in await tail.text()
    head = await editor.client.get(f"/calls/{uid}/recording", headers={"Range": "bytes=0-99"})
    assert head.status == 206 and await head.read() == plain[:100]


async def test_unsatisfiable_ranges_answer_416_for_plain_and_encrypted_recordings(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    sealed_uid = await admin.call(org, recording=False)
    plain_path = admin.recordings / f"{sealed_uid}.wav"
    await asyncio.to_thread(write_stereo_wav, plain_path)
    sealed, key_id = await asyncio.to_thread(encrypt_file, plain_path, admin.master_key)
    call_id = await admin.db.fetch_value("SELECT id FROM calls WHERE uid = ?", (sealed_uid,))
    await CallRepository(admin.db).set_recording(call_id, sealed.name, key_id)
    editor = await admin.login(org.users["editor"])
    for uid in (org.call_uid, sealed_uid):
        whole = await editor.client.get(f"/calls/{uid}/recording")
        body = await whole.read()
        total = len(body)
        for header in (
            "bytes=-0",  # a suffix of no bytes (RFC 9110: unsatisfiable), not the whole file
            "bytes=-00",
            f"bytes={total}-",
            f"bytes={total}-{total + 10}",
            "bytes=99999999999999999999999999-",
            "bytes=10-5",
            "bytes=-",
            "bytes=0-1,5-6",
            "bytes=\u00b2-",
            "items=0-1",
        ):
            response = await editor.client.get(f"/calls/{uid}/recording", headers={"Range": header})
            assert response.status == 416, (uid, header, response.status)
            assert response.headers["Content-Range"] == f"bytes */{total}", (uid, header)
            assert b"RIFF" not in await response.read()
        for header, start, end in (
            ("bytes=-1", total - 1, total),
            (f"bytes=-{total * 5}", 0, total),  # a suffix longer than the file: all of it
            ("bytes=0-99999999999999999999999999", 0, total),
            ("bytes=0-0", 0, 1),
        ):
            part = await editor.client.get(f"/calls/{uid}/recording", headers={"Range": header})
            assert part.status == 206, (uid, header, part.status)
            assert await part.read() == body[start:end], (uid, header)


async def test_recording_paths_outside_the_recordings_folder_are_not_served(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    secret = admin.tmp / "outside.wav"
    secret.write_bytes(b"RIFF-not-yours")
    owner = await admin.login(org.users["owner"])
    for stored in ("../outside.wav", str(secret)):
        await admin.db.execute(
            "UPDATE calls SET recording_path = ? WHERE uid = ?", (stored, org.call_uid)
        )
        response = await owner.client.get(f"/calls/{org.call_uid}/recording")
        assert response.status == 404, stored
    await admin.db.execute(
        "UPDATE calls SET recording_path = 'gone.wav' WHERE uid = ?", (org.call_uid,)
    )
    assert (await owner.client.get(f"/calls/{org.call_uid}/recording")).status == 404


async def test_dashboard_shows_live_calls_and_todays_failures(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    live = await admin.call(org, status="in_progress", recording=False)
    failed = await admin.call(org, status="failed", recording=False)
    viewer = await admin.login(org.users["viewer"])
    data = await (await viewer.api("GET", "/dashboard")).json()
    assert [c["uid"] for c in data["in_progress"]] == [live]
    assert [c["uid"] for c in data["failures"]] == [failed]
    assert data["today"]["total"] == 3 and data["today"]["by_status"]["failed"] == 1
    page = await (await viewer.client.get("/")).text()
    assert live in page and failed in page and 'data-poll="/api/v1/dashboard"' in page
