"""``security.alert`` through the outbox: the delivery worker signs it for a webhook endpoint and
writes a readable message for a Slack one (issue 12, security monitoring)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from callwright.accounts.audit import AuditWriter
from callwright.accounts.security_alerts import SecurityAlerts
from callwright.dialog.webhooks import SIGNATURE_HEADER
from callwright.store.audit import AuditRepo
from callwright.store.users import UserRepo
from callwright.webhooks.security_events import security_alert
from callwright.webhooks.slack import slack_message
from callwright.webhooks.worker import EVENT_HEADER
from tests.callwright.store.conftest import MakeDb
from tests.callwright.webhooks.conftest import MakeReceiver
from tests.callwright.webhooks.outbox import open_outbox


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_lockout_alert_reaches_a_signed_webhook_and_slack(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    hook, slack = await make_receiver(), await make_receiver()
    await box.endpoint(hook.url, name="siem", events=("security.alert",))
    await box.endpoint(slack.url, name="slack", target="slack", events=("security.alert",))
    await box.endpoint(hook.url, name="crm", events=("call.ended",))  # not subscribed
    users = UserRepo(box.db)
    user_id = await users.create("ops@acme.example", "x")
    await users.add_membership(user_id, box.org.id, "owner")
    alerts = SecurityAlerts(box.db, users, box.endpoints, AuditWriter(AuditRepo(box.db)),
                            now=box.clock.iso)
    assert await alerts.locked_out(user_id, "198.51.100.7") == 1
    assert await alerts.locked_out(user_id + 99, "198.51.100.7") == 0  # no such account
    assert await box.worker().run_once() == 2
    [signed] = hook.received
    assert signed.headers[EVENT_HEADER] == "security.alert" and SIGNATURE_HEADER in signed.headers
    assert signed.json["data"]["kind"] == "login_lockout"
    assert signed.json["data"]["user"] == {"id": user_id, "email": "ops@acme.example",
                                           "role": "owner"}
    [message] = slack.received
    assert SIGNATURE_HEADER not in message.headers
    section = message.json["blocks"][1]["text"]["text"]
    assert "*What:* Sign-in locked after repeated failed attempts" in section
    assert "*Account:* ops@acme.example (owner)" in section
    assert "*From:* 198.51.100.7" in section
    audit = await box.db.fetch_all("SELECT action, target FROM audit_log WHERE org_id = ?",
                                   (box.org.id,))
    assert [(r["action"], r["target"]) for r in audit] == [("security.alert", f"user:{user_id}")]


def test_the_slack_message_escapes_what_an_attacker_typed() -> None:
    event = security_alert("evt_security_x", "2027-03-01T12:00:00.000Z", kind="new_address",
                           user_id=3, email="<!channel>@x.example", role="admin", ip="10.0.0.1")
    message = slack_message(event)
    assert "<!channel>" not in str(message)
    assert message["text"] == ("Security alert: Sign-in from a new address"
                               " (&lt;!channel&gt;@x.example)")
    with pytest.raises(ValueError):
        security_alert("evt", "2027-03-01T12:00:00.000Z", kind="weird", user_id=None, email="",
                       role="", ip="")
