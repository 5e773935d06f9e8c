"""The setup wizard (issue 17): the PBX connection tested live (against the project's ARI
simulator), the settings to paste filled in, the first assistant from a template with a number,
the doctor's checks as a checklist, and who may use it."""

from __future__ import annotations

import html
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from admin.handlers.setup import SETUP_SETTINGS
from admin.setup_snippets import PbxChoice, snippets
from admin.setup_templates import templates
from ari_app.ari.connection import AriEventStream
from ari_app.ari.events import AriEvent
from ari_app.simulator.server import PbxSimulator
from callwright.config import AmiSettings, AriSettings, Settings
from callwright.dialog.flow import validate_flow
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from tests.admin.conftest import Admin, AdminFactory

PASSWORD = "sim-secret-4567"


@pytest.fixture
async def pbx() -> AsyncIterator[PbxSimulator]:
    sim = PbxSimulator(password=PASSWORD)
    await sim.start()
    yield sim
    await sim.stop()


def test_the_snippets_carry_the_values_given() -> None:
    files = {s.file: s.text for s in snippets(PbxChoice(
        "http://10.0.0.5:8088", "cw", "p;w", "myapp", "audiosocket", "200", ami=True))}
    assert "bindaddr = 10.0.0.5\nbindport = 8088" in files["/etc/asterisk/http.conf"]
    assert "[cw]\ntype = user" in files["/etc/asterisk/ari.conf"]
    assert "password = p\\;w" in files["/etc/asterisk/ari.conf"]  # ; would start a comment
    assert "exten => 200,1,NoOp(Callwright)\n same => n,Stasis(myapp)" in files[
        "/etc/asterisk/extensions.conf"]
    assert "load = chan_audiosocket.so" in files["/etc/asterisk/modules.conf"]
    assert "load = chan_rtp.so" not in files["/etc/asterisk/modules.conf"]
    assert "[cw]\nsecret = p;w" not in files["/etc/asterisk/manager.conf"]
    assert 'url = "http://10.0.0.5:8088"' in files["callwright.toml"]
    assert 'transport = "audiosocket"' in files["callwright.toml"]


def test_every_template_is_a_valid_flow() -> None:
    for template in templates("PJSIP/300").values():
        assert validate_flow(template.flow, llm_available=False) == [], template.key


async def test_the_pbx_is_tested_live_and_the_settings_shown(
    make_admin: AdminFactory, pbx: PbxSimulator
) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    owner = await admin.login(org.users["owner"])
    form = {"ari_url": pbx.ari_url, "ari_username": pbx.username, "ari_password": PASSWORD,
            "ari_app": "callwright", "transport": "rtp", "number": "100"}
    response = await owner.post_form("/setup/pbx", form)
    page = await response.text()
    assert response.status == 200, page
    ari_line = re.search(r'<li class="check-(\w+)" data-check="ari">', page)
    assert ari_line is not None and ari_line.group(1) == "ok"
    assert f"password = {PASSWORD}" in page
    assert "same =&gt; n,Stasis(callwright)" in page

    response = await owner.post_form("/setup/pbx", {**form, "ari_password": "wrong"})
    page = await response.text()
    ari_line = re.search(r'<li class="check-(\w+)" data-check="ari">(.*?)</li>', page)
    assert ari_line is not None and ari_line.group(1) == "fail"
    assert "password" in ari_line.group(2).lower(), ari_line.group(2)

    response = await owner.post_form("/setup/pbx", {**form, "ari_url": "pbx.example"})
    assert response.status == 400
    assert "http://host:8088" in await response.text()


async def test_the_ami_login_is_tested_live_when_asked_for(make_admin: AdminFactory) -> None:
    sim = PbxSimulator(password=PASSWORD, ami=True, ami_secret="ami-secret-89")
    await sim.start()
    try:
        assert sim.ami is not None
        admin = await make_admin()
        org = await admin.org("acme", with_data=False)
        owner = await admin.login(org.users["owner"])
        form = {"ari_url": sim.ari_url, "ari_username": sim.username,
                "ari_password": PASSWORD, "ari_app": "callwright", "transport": "rtp",
                "number": "100", "ami": "on", "ami_host": "127.0.0.1",
                "ami_port": str(sim.ami.port), "ami_username": "callwright",
                "ami_secret": "ami-secret-89"}

        def ami_line(page: str) -> tuple[str, str]:
            found = re.search(r'<li class="check-(\w+)" data-check="ami">(.*?)</li>', page,
                              re.S)
            assert found is not None, page
            return found.group(1), found.group(2)

        response = await owner.post_form("/setup/pbx", form)
        page = await response.text()
        assert response.status == 200, page
        status, detail = ami_line(page)
        assert status == "ok" and f"127.0.0.1:{sim.ami.port} as callwright" in detail
        assert "[callwright]\nsecret = ami-secret-89" in html.unescape(page)  # manager.conf
        assert "[ami]" in page and f"port = {sim.ami.port}" in page  # callwright.toml

        page = await (await owner.post_form("/setup/pbx", {**form, "ami_secret": "no"})).text()
        status, detail = ami_line(page)
        assert status == "fail" and "Authentication failed" in detail
        assert "manager reload" in detail

        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        page = await (await owner.post_form("/setup/pbx", {**form, "ami_port": str(closed)}))\
            .text()
        status, detail = ami_line(page)
        assert status == "fail" and "cannot connect" in detail

        without = {k: v for k, v in form.items() if k != "ami"}
        page = await (await owner.post_form("/setup/pbx", without)).text()
        assert 'data-check="ami"' not in page and "manager.conf" not in page
        response = await owner.post_form("/setup/pbx", {**form, "ami_port": "99999"})
        assert response.status == 400 and "AMI port" in await response.text()
    finally:
        await sim.stop()


async def test_an_assistant_from_a_template_with_a_number(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    owner = await admin.login(org.users["owner"])
    dashboard = await (await owner.client.get("/")).text()
    assert 'href="/setup">New here? Set up Callwright' in dashboard
    data = aiohttp.FormData()
    for key, value in (("_csrf", await owner.csrf()), ("template", "receptionist"),
                       ("name", "Front desk"), ("front_desk", "PJSIP/300"),
                       ("number", "+1 555 010 0100")):
        data.add_field(key, value)
    response = await owner.client.post("/setup/assistant", data=data, allow_redirects=False)
    assert response.status == 303, await response.text()
    made = await AssistantRepository(admin.db).find_by_name(org.id, "Front desk")
    assert made is not None
    assert response.headers["Location"] == f"/assistants/{made.id}?notice=created"
    flow = await AssistantRepository(admin.db).latest_flow(made.id)
    assert flow is not None and flow[1]["nodes"]["to_sales"]["target"] == "PJSIP/300"
    numbers = await NumberRepository(admin.db).list(org.id)
    assert [(n.number, n.assistant_id) for n in numbers] == [("+15550100100", made.id)]
    dashboard = await (await owner.client.get("/")).text()
    assert "Setup wizard: PBX connection" in dashboard

    faq = aiohttp.FormData()
    faq.add_field("_csrf", await owner.csrf())
    faq.add_field("template", "faq")
    response = await owner.client.post("/setup/assistant", data=faq, allow_redirects=False)
    assert response.status == 400
    assert "choose a text file" in await response.text()
    faq = aiohttp.FormData()
    faq.add_field("_csrf", await owner.csrf())
    faq.add_field("template", "faq")
    faq.add_field("document", b"We open at nine and close at five.", filename="hours.txt",
                  content_type="text/plain")
    response = await owner.client.post("/setup/assistant", data=faq, allow_redirects=False)
    assert response.status == 303
    docs = await admin.db.fetch_all("SELECT title FROM knowledge_docs")
    assert [d["title"] for d in docs] == ["hours.txt"]


async def test_the_checks_and_who_may_run_the_wizard(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["owner"])
    response = await owner.client.get("/api/v1/setup/checks")
    assert response.status == 200
    checks = {c["id"]: c for c in (await response.json())["checks"]}
    assert checks["ari"]["status"] == "FAIL"  # no [ari] url in this server's settings
    assert "ari.url is not set" in checks["ari"]["detail"]
    assert checks["disk"]["status"] in ("ok", "warn")
    page = await (await owner.client.get("/setup")).text()
    assert 'data-src="/api/v1/setup/checks"' in page and "/static/setup.js" in page
    for role in ("admin", "editor", "viewer"):
        other = await admin.login(org.users[role])
        assert (await other.client.get("/setup")).status == 403, role
        assert (await other.post_form("/setup/pbx", {})).status == 403, role


async def test_a_test_call_through_the_configured_pbx(
    pbx: PbxSimulator, tmp_path: Path
) -> None:
    events: list[AriEvent] = []

    async def heard(event: AriEvent) -> None:
        events.append(event)

    db = await Database.open(tmp_path / "admin.db")
    admin = Admin(db, tmp_path)
    admin.app[SETUP_SETTINGS] = Settings(ari=AriSettings(url=pbx.ari_url, password=PASSWORD))
    await admin.start()
    http = aiohttp.ClientSession()
    serve = AriEventStream(http, pbx.ari_url, pbx.username, PASSWORD, "callwright",
                           on_event=heard)  # the call service's app, registered
    await serve.start()
    try:
        org = await admin.org("acme", with_data=False)
        owner = await admin.login(org.users["owner"])
        page = await (await owner.client.get("/setup")).text()
        assert "Place a test call through the PBX" in page
        response = await owner.post_form("/setup/pbx-call", {"number": "100"})
        page = await response.text()
        assert response.status == 200, page
        placed = re.search(r"\((cw-setup-[0-9a-f]+)\)", page)
        assert placed is not None
        assert placed.group(1) in pbx.pbx.channels  # the call's own half, in the app
        channel = placed.group(1)
        assert f'data-src="/api/v1/setup/pbx-call/{channel}"' in page  # followed live
        # No call service takes the call here: the PBX says it rings, then that it is over.
        progress = await owner.api("GET", f"/setup/pbx-call/{channel}")
        assert progress.status == 200
        assert (await progress.json())["state"] == "ringing"
        other_half = pbx.pbx.channels[channel.replace("cw-setup-", "setup-")]
        assert other_half is not None  # the dialplan's half carries the id the row will have
        pbx.pbx.destroy(pbx.pbx.channels[channel], 16)
        ended = await (await owner.api("GET", f"/setup/pbx-call/{channel}")).json()
        assert (ended["state"], ended["end_reason"]) == ("ended", "not_taken")
        # Only this org's own test calls, and only the wizard's ids.
        other = await admin.org("other", with_data=False)
        stranger = await admin.login(other.users["owner"])
        assert (await stranger.api("GET", f"/setup/pbx-call/{channel}")).status == 404
        assert (await owner.api("GET", "/setup/pbx-call/cw-setup-nothex")).status == 404
        assert (await owner.api("GET", "/setup/pbx-call/cw-setup-0123456789ab")).status == 404
        response = await owner.post_form("/setup/pbx-call", {"number": "1;2"})
        assert response.status == 400
    finally:
        await serve.stop()
        await http.close()
        await admin.close()
        await db.close()


async def test_the_checklist_logs_in_to_the_configured_ami(tmp_path: Path) -> None:
    sim = PbxSimulator(password=PASSWORD, ami=True)
    await sim.start()
    db = await Database.open(tmp_path / "admin.db")
    admin = Admin(db, tmp_path)
    assert sim.ami is not None
    admin.app[SETUP_SETTINGS] = Settings(ami=AmiSettings(
        host="127.0.0.1", port=sim.ami.port, username="callwright", secret="not-it"))
    await admin.start()
    try:
        org = await admin.org("acme", with_data=False)
        owner = await admin.login(org.users["owner"])
        checks = {c["id"]: c for c in (await (await owner.api("GET", "/setup/checks")).json())
                  ["checks"]}
        assert checks["ami"]["status"] == "FAIL"
        assert "Authentication failed" in checks["ami"]["detail"]
    finally:
        await admin.close()
        await db.close()
        await sim.stop()


async def test_no_pbx_call_without_a_configured_pbx(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    owner = await admin.login(org.users["owner"])
    page = await (await owner.client.get("/setup")).text()
    assert "needs the PBX in this server's configuration" in page
    assert (await owner.post_form("/setup/pbx-call", {"number": "100"})).status == 409
