"""Data-subject requests in the admin and the API (issue 12, item 3), and audited reads (item 7)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from typing import Any

import pytest

from callwright.privacy.restrictions import PSEUDONYM_PREFIX, CallerRestrictionRepository
from tests.admin.conftest import Admin, AdminFactory, LoggedIn, OrgFixture

CALLER = "+15557654321"  # the caller of every call the admin factory makes


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
async def setup(make_admin: AdminFactory) -> tuple[Admin, OrgFixture, OrgFixture, LoggedIn]:
    admin = await make_admin()
    alpha = await admin.org("alpha")
    bravo = await admin.org("bravo")
    return admin, alpha, bravo, await admin.login(alpha.users["admin"])


async def audit(admin: Admin, org: OrgFixture, action: str) -> list[dict[str, Any]]:
    rows = await admin.db.fetch_all(
        "SELECT actor, target, detail, ip FROM audit_log WHERE org_id = ? AND action = ?"
        " ORDER BY id", (org.id, action))
    return [dict(r) for r in rows]


async def make(who: LoggedIn, kind: str, subject: str, subject_kind: str = "caller") -> int:
    response = await who.api("POST", "/requests",
                             {"kind": kind, "subject": subject, "subject_kind": subject_kind})
    assert response.status == 201, await response.text()
    return int((await response.json())["id"])


async def test_roles_viewers_and_editors_have_no_access(
    setup: tuple[Admin, OrgFixture, OrgFixture, LoggedIn],
) -> None:
    admin, alpha, _, admin_user = setup
    for role in ("viewer", "editor"):
        who = await admin.login(alpha.users[role])
        assert (await who.api("GET", "/requests")).status == 403
        made = await who.api("POST", "/requests", {"kind": "erase", "subject": CALLER})
        assert made.status == 403
        page = await who.client.get("/requests", allow_redirects=False)
        assert page.status == 403
        assert 'href="/requests"' not in await (await who.client.get("/calls")).text()
        ran = await who.api("POST", f"/requests/{alpha.request_id}/execute", {})
        assert ran.status == 403
    assert await admin.db.fetch_value("SELECT count(*) FROM privacy_requests") == 2  # fixtures
    owner = await admin.login(alpha.users["owner"])
    for who in (admin_user, owner):
        assert (await who.api("GET", "/requests")).status == 200
        await make(who, "export", CALLER)
    assert 'href="/requests"' in await (await owner.client.get("/calls")).text()


async def test_register_due_date_and_bad_input(
    setup: tuple[Admin, OrgFixture, OrgFixture, LoggedIn],
) -> None:
    admin, alpha, _, who = setup
    made = await who.api("POST", "/requests", {"kind": "erase", "subject": CALLER,
                                               "received_at": "2026-01-02", "note": "by post"})
    assert made.status == 201
    body = await made.json()
    assert body["received_at"] == "2026-01-02T00:00:00.000Z"
    assert body["due_at"] == "2026-02-01T00:00:00.000Z" and body["status"] == "open"
    for bad in ({"kind": "nope", "subject": CALLER}, {"kind": "erase", "subject": " "},
                {"kind": "erase", "subject": CALLER, "received_at": "2999-01-01"},
                {"kind": "erase", "subject": CALLER, "received_at": "yesterday"},
                {"kind": "erase", "subject": CALLER, "subject_kind": "user"}):
        response = await who.api("POST", "/requests", bad)
        assert response.status == 400, (bad, await response.text())
        assert "error" in await response.json()
    listed = await (await who.api("GET", "/requests")).json()
    assert [r["kind"] for r in listed["requests"]] == ["erase", "export"]
    page = await who.client.get("/requests")
    assert "2026-02-01" in await page.text() and "(overdue)" in await page.text()
    posted = await who.post_form("/requests", {"kind": "restrict", "subject": CALLER,
                                               "subject_kind": "caller"})
    assert posted.status == 303 and re.match(r"/requests/\d+\?notice=created",
                                             posted.headers["Location"])
    assert len(await audit(admin, alpha, "request.create")) == 2


async def test_export_zip_downloads_once(
    setup: tuple[Admin, OrgFixture, OrgFixture, LoggedIn],
) -> None:
    admin, alpha, _, who = setup
    second = await admin.call(alpha, text="second call", recording=False)
    request_id = await make(who, "export", CALLER)
    ran = await who.api("POST", f"/requests/{request_id}/execute", {})
    assert ran.status == 200, await ran.text()
    answer = await ran.json()
    link = answer["download_url"]
    assert link.startswith(f"/api/v1/requests/{request_id}/download/")
    assert answer["request"]["status"] == "completed"
    assert answer["request"]["result"]["counts"] == {"calls": 2, "turns": 6, "recordings": 1}
    stored = await admin.db.fetch_value(
        "SELECT download_hash FROM privacy_requests WHERE id = ?", (request_id,))
    token = link.rsplit("/", 1)[1]
    assert stored == sha(token) and token not in json.dumps(answer["request"])

    got = await who.client.get(link)
    assert got.status == 200 and got.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(await got.read()))
    names = set(archive.namelist())
    assert names == {"manifest.json", "calls.json", "turns.jsonl",
                     f"recordings/{alpha.call_uid}.wav"}
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["subject"] == {"kind": "caller", "value": CALLER}
    assert manifest["org"]["slug"] == "alpha"
    for member in manifest["files"]:
        data = archive.read(member["file"])
        assert hashlib.sha256(data).hexdigest() == member["sha256"]
        assert len(data) == member["bytes"]
    turns = [json.loads(line) for line in archive.read("turns.jsonl").decode().splitlines()]
    assert [t["call_uid"] for t in turns] == [alpha.call_uid] * 3 + [second] * 3
    assert turns[1]["text"] == "I would like to book a table" and turns[1]["speaker"] == "caller"
    wav = archive.read(f"recordings/{alpha.call_uid}.wav")
    assert wav == (admin.recordings / f"{alpha.call_uid}.wav").read_bytes()
    calls = json.loads(archive.read("calls.json"))
    assert [c["uid"] for c in calls["calls"]] == [alpha.call_uid, second]
    assert "bravo" not in archive.read("calls.json").decode()

    again = await who.client.get(link)
    assert again.status == 410
    assert not list((admin.tmp / "exports").rglob("*.zip"))  # nothing left on the server
    assert (await who.client.get(link[:-4] + "abcd")).status in (404, 410)
    downloads = await audit(admin, alpha, "request.download")
    assert len(downloads) == 1 and downloads[0]["ip"] == "127.0.0.1"
    assert downloads[0]["actor"].startswith("user:")
    assert len(await audit(admin, alpha, "caller.export")) == 1

    # A new link: the export is made again; an expired link is gone and so is its file.
    fresh = await (await who.api("POST", f"/requests/{request_id}/prepare", {})).json()
    await admin.db.execute(
        "UPDATE privacy_requests SET download_expires_at = '2000-01-01T00:00:00.000Z'"
        " WHERE id = ?", (request_id,))
    assert (await who.client.get(fresh["download_url"])).status == 410
    assert not list((admin.tmp / "exports").rglob("*.zip"))
    # Another member of the org cannot use a link that is not theirs to guess; another org's
    # admin gets a 404 for the request altogether.
    third = await (await who.api("POST", f"/requests/{request_id}/prepare", {})).json()
    bravo_admin = await admin.login(admin_email(admin, "bravo"))
    assert (await bravo_admin.client.get(third["download_url"])).status == 404
    assert (await who.client.get(third["download_url"])).status == 200


def admin_email(admin: Admin, slug: str) -> str:
    return f"admin@{slug}.example"


async def test_export_of_one_call_through_the_pages(
    setup: tuple[Admin, OrgFixture, OrgFixture, LoggedIn],
) -> None:
    admin, alpha, _, who = setup
    other = await admin.call(alpha, text="not this one")
    posted = await who.post_form("/requests", {"kind": "export", "subject_kind": "call",
                                               "subject": other})
    location = posted.headers["Location"].split("?")[0]
    page = await who.post_form(location + "/execute", {})
    assert page.status == 200
    found = re.search(r'href="(/requests/\d+/download/[^"]+)"', await page.text())
    assert found is not None
    got = await who.client.get(found.group(1))
    archive = zipfile.ZipFile(io.BytesIO(await got.read()))
    calls = json.loads(archive.read("calls.json"))["calls"]
    assert [c["uid"] for c in calls] == [other]
    assert (await who.client.get(found.group(1))).status == 410
    assert "The export was downloaded." in await (await who.client.get(location)).text()
    assert len(await audit(admin, alpha, "call.export")) == 1


async def test_erasure_with_report_and_no_number_left_in_the_register(
    setup: tuple[Admin, OrgFixture, OrgFixture, LoggedIn],
) -> None:
    admin, alpha, bravo, who = setup
    request_id = await make(who, "erase", CALLER)
    earlier = await make(who, "export", CALLER)
    ran = await who.api("POST", f"/requests/{request_id}/execute", {})
    assert ran.status == 200, await ran.text()
    result = (await ran.json())["request"]["result"]
    assert result["calls_anonymised"] == 1 and result["recordings_deleted"] == 1
    assert result["turns_deleted"] == 3 and result["held_calls"] == []
    assert not (admin.recordings / f"{alpha.call_uid}.wav").exists()
    subjects = await admin.db.fetch_all(
        "SELECT subject FROM privacy_requests WHERE org_id = ? AND id IN (?, ?)",
        (alpha.id, request_id, earlier))
    assert all(r["subject"].startswith(PSEUDONYM_PREFIX) for r in subjects)
    # bravo's call of the same number and bravo's register are untouched
    assert await admin.db.fetch_value(
        "SELECT caller_number FROM calls WHERE uid = ?", (bravo.call_uid,)) == CALLER
    # the erased caller cannot be exported any more; done requests cannot run again
    refused = await who.api("POST", f"/requests/{earlier}/execute", {})
    assert refused.status == 409 and "erased" in (await refused.json())["error"]["message"]
    assert (await who.api("POST", f"/requests/{request_id}/execute", {})).status == 409
    page = await (await who.client.get(f"/requests/{request_id}")).text()
    assert "calls_anonymised" in page and CALLER not in page
    assert CALLER not in json.dumps(await audit(admin, alpha, "caller.erase"))


async def test_rectification_keeps_only_hashes(
    setup: tuple[Admin, OrgFixture, OrgFixture, LoggedIn],
) -> None:
    admin, alpha, _, who = setup
    old = "I would like to book a table"
    request_id = await make(who, "rectify", alpha.call_uid, "call")
    missing = await who.api("POST", f"/requests/{request_id}/execute", {"seq": 9, "text": "x"})
    assert missing.status == 409
    ran = await who.api("POST", f"/requests/{request_id}/execute",
                        {"seq": 2, "text": "I would like to book a sofa"})
    assert ran.status == 200, await ran.text()
    assert await admin.db.fetch_value(
        "SELECT text FROM call_turns WHERE seq = 2 AND call_id ="
        " (SELECT id FROM calls WHERE uid = ?)", (alpha.call_uid,)) == "I would like to book a sofa"
    assert await admin.db.fetch_value(
        "SELECT count(*) FROM call_turns_fts WHERE call_turns_fts MATCH 'table' AND rowid IN"
        " (SELECT t.id FROM call_turns t JOIN calls c ON c.id = t.call_id WHERE c.uid = ?)",
        (alpha.call_uid,)) == 0
    [entry] = await audit(admin, alpha, "call.rectify")
    detail = json.loads(entry["detail"])
    assert detail["old_sha256"] == sha(old) and detail["new_sha256"] == sha(
        "I would like to book a sofa")
    every = json.dumps([dict(r) for r in await admin.db.fetch_all("SELECT * FROM audit_log")])
    assert "table" not in every and "sofa" not in every

    by_caller = await make(who, "rectify", CALLER)
    named = await who.api("POST", f"/requests/{by_caller}/execute", {"caller_name": "Ada L."})
    assert named.status == 200
    assert await admin.db.fetch_value(
        "SELECT caller_name FROM calls WHERE uid = ?", (alpha.call_uid,)) == "Ada L."
    entries = await audit(admin, alpha, "call.rectify")
    assert json.loads(entries[-1]["detail"])["old_sha256"] == [sha("Ada")]
    assert "Ada" not in json.dumps(entries)


async def test_restrict_and_object_set_the_restriction(
    setup: tuple[Admin, OrgFixture, OrgFixture, LoggedIn],
) -> None:
    admin, alpha, bravo, who = setup
    restrictions = CallerRestrictionRepository(admin.db, admin.master_key)
    assert not await restrictions.is_processing_restricted(alpha.id, CALLER)
    request_id = await make(who, "object", alpha.call_uid, "call")
    ran = await who.api("POST", f"/requests/{request_id}/execute", {})
    assert ran.status == 200
    assert (await ran.json())["request"]["result"]["restriction"]["processing_restricted"]
    assert await restrictions.is_processing_restricted(alpha.id, CALLER)
    assert not await restrictions.is_processing_restricted(bravo.id, CALLER)
    refused = await make(who, "restrict", CALLER)
    closed = await who.api("POST", f"/requests/{refused}/refuse", {"reason": "no ID"})
    assert (await closed.json())["request"]["status"] == "refused"


async def test_other_orgs_requests_and_calls_are_out_of_reach(
    setup: tuple[Admin, OrgFixture, OrgFixture, LoggedIn],
) -> None:
    admin, alpha, bravo, who = setup
    assert (await who.api("GET", f"/requests/{bravo.request_id}")).status == 404
    assert (await who.api("POST", f"/requests/{bravo.request_id}/execute", {})).status == 404
    assert (await who.client.get(f"/requests/{bravo.request_id}")).status == 404
    theirs = await make(who, "erase", bravo.call_uid, "call")
    ran = await who.api("POST", f"/requests/{theirs}/execute", {})
    assert ran.status == 409
    assert (admin.recordings / f"{bravo.call_uid}.wav").exists()
    listed = await (await who.api("GET", "/requests")).json()
    assert bravo.request_id not in [r["id"] for r in listed["requests"]]


async def test_reads_of_calls_and_recordings_are_audited(
    setup: tuple[Admin, OrgFixture, OrgFixture, LoggedIn],
) -> None:
    admin, alpha, _, who = setup
    assert (await who.client.get(f"/calls/{alpha.call_uid}")).status == 200
    assert (await who.api("GET", f"/calls/{alpha.call_uid}")).status == 200
    views = await audit(admin, alpha, "call.view")
    assert [json.loads(v["detail"])["api"] for v in views] == [False, True]
    assert all(v["target"] == f"call:{alpha.call_uid}" and v["ip"] == "127.0.0.1"
               and v["actor"].startswith("user:") for v in views)
    url = f"/calls/{alpha.call_uid}/recording"
    for _ in range(2):
        assert (await who.client.get(url)).status == 200
    for start in (0, 100, 0):
        ranged = await who.client.get(url, headers={"Range": f"bytes={start}-"})
        assert ranged.status == 206
    assert len(await audit(admin, alpha, "recording.download")) == 2
    plays = await audit(admin, alpha, "recording.play")
    assert len(plays) == 1 and json.loads(plays[0]["detail"])["range"] == "bytes=0-"
    # someone else's listening is their own entry
    owner = await admin.login(alpha.users["owner"])
    await owner.client.get(url, headers={"Range": "bytes=0-"})
    assert len(await audit(admin, alpha, "recording.play")) == 2
    # a refused read (viewer without the org's permission) writes no read entry
    viewer = await admin.login(alpha.users["viewer"])
    assert (await viewer.client.get(url)).status == 403
    assert len(await audit(admin, alpha, "recording.download")) == 2


async def test_rectification_through_the_page_offers_the_calls_turns(
    setup: tuple[Admin, OrgFixture, OrgFixture, LoggedIn],
) -> None:
    admin, alpha, _, who = setup
    request_id = await make(who, "rectify", alpha.call_uid, "call")
    page = await (await who.client.get(f"/requests/{request_id}")).text()
    assert '<option value="2">2 · caller: I would like to book a table</option>' in page
    posted = await who.post_form(f"/requests/{request_id}/execute",
                                 {"call": alpha.call_uid, "seq": "2", "text": "a sofa",
                                  "caller_name": ""})
    assert posted.status == 303, await posted.text()
    assert await admin.db.fetch_value(
        "SELECT status FROM privacy_requests WHERE id = ?", (request_id,)) == "completed"
    assert "a sofa" in await (await who.client.get(f"/calls/{alpha.call_uid}")).text()


async def test_rectification_of_a_turn_and_the_name_at_once_or_nothing(
    setup: tuple[Admin, OrgFixture, OrgFixture, LoggedIn],
) -> None:
    admin, alpha, _, who = setup
    request_id = await make(who, "rectify", alpha.call_uid, "call")
    for bad in ({}, {"seq": 2}, {"seq": 2, "text": "ok", "caller_name": " "},
                {"seq": 2, "text": "ok", "call": "someone-else"}):
        refused = await who.api("POST", f"/requests/{request_id}/execute", bad)
        assert refused.status in (400, 409), bad
    assert await admin.db.fetch_value(
        "SELECT caller_name FROM calls WHERE uid = ?", (alpha.call_uid,)) == "Ada"
    assert await audit(admin, alpha, "call.rectify") == []
    ran = await who.api("POST", f"/requests/{request_id}/execute",
                        {"seq": 2, "text": "a sofa", "caller_name": "Ada L."})
    assert ran.status == 200
    changes = (await ran.json())["request"]["result"]["changes"]
    assert [c["field"] for c in changes] == ["turn", "caller_name"]
    assert len(await audit(admin, alpha, "call.rectify")) == 2
    assert await admin.db.fetch_value(
        "SELECT caller_name FROM calls WHERE uid = ?", (alpha.call_uid,)) == "Ada L."
