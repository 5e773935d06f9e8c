"""An assistant's recovery settings (what its calls get after a crash), through form and API."""

from __future__ import annotations

import re

from tests.admin.conftest import AdminFactory


async def test_recovery_settings_through_the_form_and_the_api(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    editor = await admin.login(org.users["editor"])
    created = await editor.post_form("/assistants", {"name": "Reception", "language": "en"})
    assert created.status == 303
    found = re.search(r"/assistants/(\d+)", created.headers["Location"])
    assert found is not None
    path = f"/assistants/{found.group(1)}"
    data = await (await editor.api("GET", path)).json()
    assert (data["on_recovery"], data["recovery_line"], data["recovery_target"]) == (
        "resume", "", "")
    page = await (await editor.client.get(path)).text()
    assert 'name="on_recovery"' in page and 'name="recovery_target"' in page

    saved = await editor.post_form(path, {
        "name": "Reception", "language": "en", "on_recovery": "dialplan",
        "recovery_line": "", "recovery_target": "operators,s,1",
    })
    assert saved.status == 303
    data = await (await editor.api("GET", path)).json()
    assert (data["on_recovery"], data["recovery_target"]) == ("dialplan", "operators,s,1")

    bad = await editor.api("POST", path, {"on_recovery": "retry"})
    assert bad.status == 400 and "on_recovery" in (await bad.json())["error"]["message"]
    bad = await editor.api("POST", path, {"recovery_target": "PJSIP/200"})
    assert bad.status == 400 and "recovery_target" in (await bad.json())["error"]["message"]
    patched = await editor.api("POST", path, {"recovery_line": "One moment, please."})
    data = await patched.json()
    assert (data["on_recovery"], data["recovery_line"]) == ("dialplan", "One moment, please.")
