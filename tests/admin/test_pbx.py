"""Live PBX status and hang-up over the AMI, against the simulator's AMI server."""

from __future__ import annotations

from pathlib import Path

from admin.handlers.setup import SETUP_SETTINGS
from callwright.config import load_config
from callwright.store.db import Database
from tests.admin.conftest import Admin
from tests.ari_app.simulator.conftest import (  # noqa: F401
    AppFactory,
    SimFactory,
    make_app,
    make_sim,
)


async def test_live_status_and_hang_up(
    tmp_path: Path, make_sim: SimFactory, make_app: AppFactory  # noqa: F811
) -> None:
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    await make_app(sim)
    call = await sim.place_call(dialed="100")
    settings = load_config(None, env={
        "CALLWRIGHT_AMI_HOST": "127.0.0.1", "CALLWRIGHT_AMI_PORT": str(sim.ami.port),
        "CALLWRIGHT_AMI_USERNAME": "callwright", "CALLWRIGHT_AMI_SECRET": sim.password})
    db = await Database.open(tmp_path / "admin.db")
    admin = Admin(db, tmp_path)
    admin.app[SETUP_SETTINGS] = settings
    await admin.start()
    try:
        org = await admin.org("acme")
        owner = await admin.login(org.users["owner"])
        status = await (await owner.api("GET", "/pbx")).json()
        names = [c["name"] for c in status["channels"]]
        assert len(names) == 2 and status["queue_members"] == []
        page = await (await owner.client.get("/pbx")).text()
        assert ">Hang up</button>" in page and names[0] in page
        editor = await admin.login(org.users["editor"])
        assert (await editor.api("POST", "/pbx/hangup", {"channel": names[0]})).status == 403
        assert ">Hang up</button>" not in await (await editor.client.get("/pbx")).text()
        for body, code in (({"channel": "/.*/"}, 400), ({"channel": names[0], "cause": 999}, 400),
                           ({"channel": "Local/nope;1"}, 404)):
            response = await owner.api("POST", "/pbx/hangup", body)
            assert response.status == code, (body, await response.text())
        one = next(n for n in names if n.endswith(";2"))
        response = await owner.api("POST", "/pbx/hangup", {"channel": one, "cause": 16})
        assert response.status == 200, await response.text()
        await call.ended()
        audit = await db.fetch_all("SELECT action, target FROM audit_log WHERE action ="
                                   " 'pbx.hangup'")
        assert [(r["action"], r["target"]) for r in audit] == [("pbx.hangup", f"channel:{one}")]
    finally:
        await admin.close()
        await db.close()


async def test_without_ami(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "admin.db")
    admin = Admin(db, tmp_path)
    await admin.start()
    try:
        org = await admin.org("acme")
        owner = await admin.login(org.users["owner"])
        response = await owner.api("GET", "/pbx")
        assert response.status == 409 and "not configured" in await response.text()
    finally:
        await admin.close()
        await db.close()
