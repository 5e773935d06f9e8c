"""Bad input gets a 4xx with a message, never a 500 (issue 9, defect 5).

Digits that ``str.isdigit()`` accepts but ``int()`` refuses (``²``, ``①``), ids past SQLite's
2^63-1, and JSON nested 100,000 levels deep, in path ids, ``limit``, filters, cursors, form fields
and JSON bodies.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.admin.conftest import Admin, AdminFactory, LoggedIn, OrgFixture

HUGE = 2**63


@pytest.fixture
async def owner_of(make_admin: AdminFactory) -> tuple[Admin, OrgFixture, LoggedIn]:
    admin = await make_admin()
    org = await admin.org("acme")
    return admin, org, await admin.login(org.users["owner"])


async def _refused(response: Any, status: int, *words: str) -> None:
    text = await response.text()
    assert response.status == status, (response.url, response.status, text)
    for word in words:
        assert word in text, (response.url, word, text)


def _cursor(started_at: Any, call_id: Any) -> str:
    raw = json.dumps([started_at, call_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_ids_in_the_path_that_are_not_ascii_numbers_are_not_found(
    owner_of: tuple[Admin, OrgFixture, LoggedIn],
) -> None:
    _, org, owner = owner_of
    for bad in ("%C2%B2", "%E2%91%A0", str(HUGE), "99999999999999999999999", "0", "-1"):
        await _refused(await owner.api("GET", f"/assistants/{bad}"), 404, "assistant_id")
        await _refused(await owner.client.get(f"/assistants/{bad}"), 404)
        await _refused(
            await owner.api("POST", f"/numbers/{bad}/assign", {"assistant_id": None}), 404
        )
    await _refused(await owner.api("GET", f"/assistants/{org.assistant_id}"), 200)


async def test_query_numbers_must_be_ascii_numbers_in_range(
    owner_of: tuple[Admin, OrgFixture, LoggedIn],
) -> None:
    _, _, owner = owner_of
    for query, name in (
        ("limit=%C2%B2", "limit"),
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("number=%E2%91%A0", "number"),
        ("assistant=%C2%B2", "assistant"),
        (f"number={HUGE}", "number"),
        (f"assistant={HUGE}", "assistant"),
        ("until=9999-12-31", "until"),
    ):
        await _refused(await owner.api("GET", f"/calls?{query}"), 400, name)
        await _refused(await owner.client.get(f"/calls?{query}"), 400, name)
    for before in ("%C2%B2", "%E2%91%A0", str(HUGE), "x"):
        await _refused(await owner.api("GET", f"/audit?before={before}"), 400, "before")
    assert (await owner.api("GET", "/calls?limit=200")).status == 200
    assert (await owner.api("GET", "/audit?before=5")).status == 200


async def test_a_forged_cursor_is_a_400(owner_of: tuple[Admin, OrgFixture, LoggedIn]) -> None:
    _, _, owner = owner_of
    for cursor in (
        _cursor("2026-01-01T00:00:00.000Z", HUGE),
        _cursor("2026-01-01T00:00:00.000Z", 2**70),
        _cursor("2026-01-01T00:00:00.000Z", True),
        _cursor("\ud800", 1),
        _cursor("not a time", 1),
    ):
        await _refused(await owner.api("GET", f"/calls?cursor={cursor}"), 400, "cursor")
    good = _cursor("2099-01-01T00:00:00.000Z", 10)
    assert (await owner.api("GET", f"/calls?cursor={good}")).status == 200


async def test_form_fields_with_unicode_digits_are_a_400(
    owner_of: tuple[Admin, OrgFixture, LoggedIn],
) -> None:
    admin, org, owner = owner_of
    before = await admin.db.fetch_value("SELECT count(*) FROM numbers")
    for bad in ("²", "①", str(HUGE)):
        await _refused(
            await owner.post_form("/numbers", {"number": "+15559990000", "assistant_id": bad}),
            400,
            "assistant_id",
        )
        await _refused(
            await owner.post_form(f"/numbers/{org.number_id}/assign", {"assistant_id": bad}),
            400,
            "assistant_id",
        )
        await _refused(
            await owner.post_form(
                "/retention/assistant",
                {
                    "assistant_id": bad,
                    "metadata_days": "30",
                    "transcript_days": "30",
                    "recording_days": "30",
                },
            ),
            400,
            "assistant_id",
        )
        await _refused(
            await owner.post_form(
                "/retention",
                {"metadata_days": bad, "transcript_days": "30", "recording_days": "30"},
            ),
            400,
            "metadata_days",
        )
        await _refused(
            await owner.post_form(
                f"/assistants/{org.assistant_id}",
                {"name": "x", "language": "en", "llm_credential_id": bad},
            ),
            400,
            "llm_credential_id",
        )
    for bad in ("²", "①", "１７０"):
        await _refused(
            await owner.post_form(
                f"/assistants/{org.assistant_id}", {"name": "x", "language": "en", "tts_rate": bad}
            ),
            400,
            "tts_rate",
        )
    assert await admin.db.fetch_value("SELECT count(*) FROM numbers") == before


async def test_json_ids_past_2_63_are_a_400(owner_of: tuple[Admin, OrgFixture, LoggedIn]) -> None:
    admin, org, owner = owner_of
    for big in (HUGE, 2**64, 10**30):
        await _refused(
            await owner.api("POST", "/numbers", {"number": "+15559990000", "assistant_id": big}),
            400,
            "assistant_id",
        )
        await _refused(
            await owner.api("POST", f"/numbers/{org.number_id}/assign", {"assistant_id": big}),
            400,
            "assistant_id",
        )
        await _refused(
            await owner.api(
                "POST",
                "/retention/assistant",
                {
                    "assistant_id": big,
                    "metadata_days": 30,
                    "transcript_days": 30,
                    "recording_days": 30,
                },
            ),
            400,
            "assistant_id",
        )
    assert (
        await admin.db.fetch_value(
            "SELECT assistant_id FROM numbers WHERE id = ?", (org.number_id,)
        )
        == org.assistant_id
    )


async def test_json_nested_100000_levels_is_a_400(
    owner_of: tuple[Admin, OrgFixture, LoggedIn],
) -> None:
    _, org, owner = owner_of
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    headers = {"X-CSRF-Token": await owner.csrf(), "Content-Type": "application/json"}
    for path in ("/assistants", f"/assistants/{org.assistant_id}/flow", "/org", "/tokens"):
        response = await owner.client.post("/api/v1" + path, data=deep, headers=headers)
        await _refused(response, 400, "nested more than 64 levels")
    lonely = '{"name": "\\ud800"}'
    response = await owner.client.post("/api/v1/assistants", data=lonely, headers=headers)
    await _refused(response, 400, "not valid Unicode")
    # The page form's JSON fields: a flow definition and an assistant's tools.
    flow = await owner.post_form(
        f"/assistants/{org.assistant_id}/flow", {"definition": "[" * 100_000 + "]" * 100_000}
    )
    assert flow.status == 422 and "nested more than 64 levels" in await flow.text()
    tools = await owner.post_form(
        f"/assistants/{org.assistant_id}",
        {"name": "x", "language": "en", "tools": "[" * 100_000 + "]" * 100_000},
    )
    await _refused(tools, 400, "tools", "nested more than 64 levels")
