"""The webhooks pages and API: endpoint CRUD (admin and up, audited, the secret shown once),
the delivery log, and a redelivery that the worker then sends (issue 12, item 6)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from callwright.store.credentials import CredentialRepository
from callwright.store.webhook_deliveries import DeliveryRepository
from callwright.store.webhook_endpoints import EndpointRepository
from callwright.webhooks.worker import DeliveryWorker
from tests.admin.conftest import AdminFactory
from tests.callwright.webhooks import conftest as receivers
from tests.callwright.webhooks.conftest import MakeReceiver

make_receiver = receivers.make_receiver  # the local receiver's fixture


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def audit_actions(admin_db: object) -> list[str]:
    from callwright.store.db import Database

    assert isinstance(admin_db, Database)
    rows = await admin_db.fetch_all("SELECT action FROM audit_log ORDER BY id")
    return [str(r["action"]) for r in rows]


async def test_an_admin_adds_changes_and_deletes_an_endpoint_through_the_api(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    boss = await admin.login(org.users["admin"])
    await boss.api("POST", "/credentials", {"name": "slack-url", "kind": "webhook_url",
                                             "secret": "https://hooks.slack.example/T/B/x"})
    made = await boss.api("POST", "/webhooks", {
        "name": "team chat", "target": "slack", "credential": "slack-url",
        "events": ["call.ended", "message.taken"]})
    assert made.status == 201, await made.text()
    created = await made.json()
    assert created["signing_secret"].startswith("whsec_")
    assert created["events"] == ["call.ended", "message.taken"]

    listed = await (await boss.api("GET", "/webhooks")).json()
    assert {e["name"] for e in listed["endpoints"]} == {"crm", "team chat"}
    assert created["signing_secret"] not in json.dumps(listed)
    assert "hooks.slack.example" not in json.dumps(listed)  # the URL stays sealed

    changed = await boss.api("POST", f"/webhooks/{created['id']}",
                             {"enabled": False, "events": ["call.started"]})
    assert changed.status == 200
    assert (await changed.json())["enabled"] is False
    only_on = await (await boss.api("POST", f"/webhooks/{created['id']}", {"enabled": True})).json()
    assert (only_on["enabled"], only_on["events"]) == (True, ["call.started"])  # the rest kept
    rolled = await (await boss.api("POST", f"/webhooks/{created['id']}/secret")).json()
    assert rolled["signing_secret"] != created["signing_secret"]
    secret = await EndpointRepository(admin.db, admin.master_key).signing_secret(
        org.id, created["id"])
    assert secret == rolled["signing_secret"].encode()
    assert (await boss.api("POST", f"/webhooks/{created['id']}/delete")).status == 200
    assert [a for a in await audit_actions(admin.db) if a.startswith("webhook.")] == [
        "webhook.create", "webhook.update", "webhook.update", "webhook.secret_roll",
        "webhook.delete"]
    log = await admin.db.fetch_all("SELECT detail FROM audit_log WHERE action LIKE 'webhook.%'")
    assert all("whsec_" not in str(row["detail"]) for row in log)


async def test_bad_endpoint_input_is_a_clear_400(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    boss = await admin.login(org.users["owner"])
    cases = [
        {"name": "x", "credential": "crm-url", "events": ["call.exploded"]},
        {"name": "x", "credential": "crm-url", "events": []},
        {"name": "x", "credential": "openai", "events": ["call.ended"]},  # an api_key
        {"name": "x", "credential": "nope", "events": ["call.ended"]},
        {"name": "crm", "credential": "crm-url", "events": ["call.ended"]},  # name taken
    ]
    for body in cases:
        answer = await boss.api("POST", "/webhooks", body)
        assert answer.status == 400, (body, await answer.text())
        assert "error" in await answer.json()
    bad = await boss.api("GET", "/webhooks/deliveries?status=lost")
    assert bad.status == 400


async def test_the_pages_add_an_endpoint_show_its_secret_once_and_list_deliveries(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    boss = await admin.login(org.users["admin"])
    page = await boss.client.get("/webhooks")
    assert page.status == 200
    assert "crm" in await page.text()
    made = await boss.post_form("/webhooks", {"name": "ops", "target": "webhook",
                                              "credential": "crm-url",
                                              "event:call.ended": "on"})
    assert made.status == 200
    shown = re.search(r"<code class=\"secret\">(whsec_[^<]+)</code>", await made.text())
    assert shown is not None
    ops = await EndpointRepository(admin.db, admin.master_key).get_by_name(org.id, "ops")
    assert ops.events == ("call.ended",)
    assert (await boss.client.get("/webhooks")).status == 200
    assert shown.group(1) not in await (await boss.client.get("/webhooks")).text()
    log = await boss.client.get("/webhooks/deliveries?status=failed")
    text = await log.text()
    assert log.status == 200 and "HTTP 503" in text and "Redeliver" in text


async def test_a_failed_delivery_redelivered_from_the_admin_is_sent_and_logged(
    make_admin: AdminFactory, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    receiver = await make_receiver(200)
    await CredentialRepository(admin.db, admin.master_key).replace(org.id, "crm-url",
                                                                   receiver.url)
    boss = await admin.login(org.users["admin"])
    before = await (await boss.api("GET", "/webhooks/deliveries")).json()
    [failed] = before["deliveries"]
    assert (failed["status"], failed["response_code"], failed["last_error"]) == (
        "failed", 503, "HTTP 503")
    assert "body" not in failed

    again = await boss.api("POST", f"/webhooks/deliveries/{failed['id']}/redeliver")
    assert again.status == 200
    assert (await again.json())["status"] == "pending"
    assert "webhook.redeliver" in await audit_actions(admin.db)

    worker = DeliveryWorker(DeliveryRepository(admin.db),
                            EndpointRepository(admin.db, admin.master_key),
                            CredentialRepository(admin.db, admin.master_key), http)
    assert await worker.run_once() == 1
    assert [r.body for r in receiver.received] == [b'{"id":"evt"}']
    after = await (await boss.api("GET", "/webhooks/deliveries?status=delivered")).json()
    assert [(d["id"], d["response_code"], d["attempts"]) for d in after["deliveries"]] == [
        (failed["id"], 200, 2)]


async def test_an_editor_sees_no_webhooks(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    editor = await admin.login(org.users["editor"])
    assert (await editor.api("GET", "/webhooks/deliveries")).status == 403
    assert "/webhooks" not in await (await editor.client.get("/")).text()
