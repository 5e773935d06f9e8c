"""Lock-outs are kept in the store, and confirming one's password is rate limited (issue 9)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.admin.conftest import PASSWORD, Admin, AdminFactory

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


async def _sign_in(admin: Admin, email: str, password: str) -> int:
    client = await admin.client()
    token = _CSRF.search(await (await client.get("/login")).text())
    assert token is not None
    response = await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf": token.group(1)},
        allow_redirects=False,
    )
    return int(response.status)


async def test_a_lockout_holds_in_another_admin_process_and_after_a_restart(
    make_admin: AdminFactory, tmp_path: Path
) -> None:
    first = await make_admin()
    org = await first.org("acme", with_data=False)
    email = org.users["owner"]
    for _ in range(5):
        await _sign_in(first, email, "wrong password!")
    assert await _sign_in(first, email, PASSWORD) == 429
    # A second admin process on the same store (or this one restarted): same lock.
    second = Admin(first.db, tmp_path)
    await second.start()
    try:
        assert await _sign_in(second, email, PASSWORD) == 429
    finally:
        await second.close()


async def test_confirming_ones_password_is_rate_limited(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    owner = await admin.login(org.users["owner"])
    new = "a brand new passphrase"
    for _ in range(3):
        wrong = await owner.post_form("/account/password", {"current": "guess guess", "new": new})
        assert wrong.status == 400 and "not right" in await wrong.text()
    for _ in range(2):  # turning two-step sign-in off counts against the same limit
        wrong = await owner.post_form("/account/security/disable", {"password": "guess guess"})
        assert wrong.status in (400, 429)
    locked = await owner.post_form("/account/password", {"current": PASSWORD, "new": new})
    assert locked.status == 429 and "try again in 15 minutes" in await locked.text()
    failures = await admin.db.fetch_value(
        "SELECT count(*) FROM audit_log WHERE action = 'user.password_check_failed'"
    )
    assert failures == 5
    # The password did not change, and signing in (a separate count) still works.
    assert await _sign_in(admin, org.users["owner"], PASSWORD) == 303
