"""Signing in and out through the pages: cookies, lock-out, TOTP, org switch, required 2FA."""

from __future__ import annotations

import re

from callwright.accounts.totp import TotpVerifier
from tests.admin.conftest import PASSWORD, Admin, AdminFactory, LoggedIn

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


async def _login_form(admin: Admin, email: str, password: str, next_url: str = "/") -> tuple:
    client = await admin.client()
    page = await client.get("/login")
    token = _CSRF.search(await page.text())
    assert token is not None
    response = await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf": token.group(1), "next": next_url},
        allow_redirects=False,
    )
    return client, response


async def test_session_cookie_is_secure_httponly_strict_and_expires(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin(secure_cookies=True)
    org = await admin.org("acme", with_data=False)
    _, response = await _login_form(admin, org.users["owner"], PASSWORD)
    assert response.status == 303
    cookie = response.cookies["__Host-cw_session"]
    assert cookie["secure"] and cookie["httponly"]
    assert cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == 12 * 3600
    stored = await admin.db.fetch_one("SELECT id, expires_at FROM sessions")
    assert stored is not None and stored["id"] != cookie.value and len(stored["id"]) == 64


async def test_wrong_password_then_lockout_with_a_clear_message(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    for _ in range(4):
        _, response = await _login_form(admin, org.users["owner"], "wrong password!")
        assert response.status == 401
        assert "Wrong e-mail or password" in await response.text()
    _, response = await _login_form(admin, org.users["owner"], "wrong password!")
    assert response.status == 429
    assert "try again in 15 minutes" in await response.text()
    _, response = await _login_form(admin, org.users["owner"], PASSWORD)
    assert response.status == 429, "a correct password must not get through a lock-out"
    _, unknown = await _login_form(admin, "nobody@acme.example", "whatever pw")
    assert unknown.status == 401
    failed = await admin.db.fetch_value(
        "SELECT count(*) FROM audit_log WHERE action = 'login.failed'"
    )
    assert failed == 6


async def test_login_without_the_form_token_is_refused(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    client = await admin.client()
    response = await client.post(
        "/login",
        data={"email": org.users["owner"], "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 403
    assert await admin.db.fetch_value("SELECT count(*) FROM sessions") == 0


async def test_next_only_goes_to_this_site(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    for bad in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
        _, response = await _login_form(admin, org.users["owner"], PASSWORD, bad)
        assert response.headers["Location"] == "/", bad
    _, response = await _login_form(admin, org.users["owner"], PASSWORD, "/calls?status=failed")
    assert response.headers["Location"] == "/calls?status=failed"


async def test_logout_ends_the_session(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    owner = await admin.login(org.users["owner"])
    response = await owner.post_form("/logout")
    assert response.status == 303
    assert await admin.db.fetch_value("SELECT count(*) FROM sessions") == 0
    again = await owner.client.get("/", allow_redirects=False)
    assert again.status == 303 and again.headers["Location"].startswith("/login")


async def test_expired_session_is_refused(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    owner = await admin.login(org.users["owner"])
    await admin.db.execute("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z'")
    response = await owner.client.get("/", allow_redirects=False)
    assert response.status == 303


async def _enrol(admin: Admin, who: LoggedIn) -> tuple[str, list[str]]:
    response = await who.post_form("/account/security/begin")
    assert response.status == 303
    page = await (await who.client.get("/account/security")).text()
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page)
    assert secret is not None
    code = TotpVerifier().current_code(secret.group(1))
    confirmed = await who.post_form("/account/security/confirm", {"code": code})
    assert confirmed.status == 200
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", await confirmed.text())
    assert len(codes) == 10
    return secret.group(1), codes


async def test_totp_enrolment_then_sign_in_with_code_and_recovery_code(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    owner = await admin.login(org.users["owner"])
    secret, codes = await _enrol(admin, owner)
    sealed = await admin.db.fetch_value(
        "SELECT totp_secret_enc FROM users WHERE email = ?", (org.users["owner"],)
    )
    assert secret.encode() not in sealed

    client, response = await _login_form(admin, org.users["owner"], PASSWORD, "/calls")
    assert response.headers["Location"].startswith("/login/totp")
    blocked = await client.get("/calls", allow_redirects=False)
    assert blocked.status == 303 and blocked.headers["Location"].startswith("/login")
    page = await (await client.get("/login/totp?next=/calls")).text()
    csrf = _CSRF.search(page)
    assert csrf is not None
    wrong = await client.post(
        "/login/totp", data={"code": "000000", "_csrf": csrf.group(1)}, allow_redirects=False
    )
    assert wrong.status == 401 and "not right" in await wrong.text()
    # The code the enrolment used was consumed: the same 30 s step is refused (no replay).
    replay = await client.post(
        "/login/totp",
        data={"code": TotpVerifier().current_code(secret), "_csrf": csrf.group(1)},
        allow_redirects=False,
    )
    assert replay.status == 401
    ok = await client.post(
        "/login/totp",
        data={"code": codes[0], "_csrf": csrf.group(1), "next": "/calls"},
        allow_redirects=False,
    )
    assert ok.status == 303 and ok.headers["Location"] == "/calls"
    assert (await client.get("/calls")).status == 200
    # A recovery code works once.
    client2, _ = await _login_form(admin, org.users["owner"], PASSWORD)
    page2 = await (await client2.get("/login/totp")).text()
    csrf2 = _CSRF.search(page2)
    assert csrf2 is not None
    reused = await client2.post(
        "/login/totp", data={"code": codes[0], "_csrf": csrf2.group(1)}, allow_redirects=False
    )
    assert reused.status == 401


async def test_org_requiring_totp_sends_owners_to_set_it_up(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["owner"])
    saved = await owner.post_form("/org", {"require_totp": "on"})
    assert saved.status == 303
    blocked = await owner.client.get("/numbers", allow_redirects=False)
    assert blocked.status == 303
    assert blocked.headers["Location"] == "/account/security?required=1"
    api = await owner.api("GET", "/numbers")
    assert api.status == 403
    viewer = await admin.login(org.users["viewer"])
    assert (await viewer.client.get("/calls")).status == 200  # viewers are not concerned
    await _enrol(admin, owner)
    assert (await owner.client.get("/numbers")).status == 200
    refused = await owner.post_form("/account/security/disable", {"password": PASSWORD})
    assert refused.status == 403


async def test_switching_org_changes_what_is_shown(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    alpha = await admin.org("alpha")
    bravo = await admin.org("bravo")
    from callwright.store.users import UserRepo

    users = UserRepo(admin.db)
    user = await users.by_email(alpha.users["editor"])
    assert user is not None
    await users.add_membership(user.id, bravo.id, "viewer")
    editor = await admin.login(alpha.users["editor"])
    first = await (await editor.api("GET", "/assistants")).json()
    assert [a["name"] for a in first["assistants"]] == ["alpha bot"]
    switched = await editor.post_form("/org/switch", {"org": "bravo"})
    assert switched.status == 303
    calls = await (await editor.api("GET", "/calls")).json()
    assert [c["uid"] for c in calls["calls"]] == [bravo.call_uid]
    assert (await editor.api("GET", "/assistants")).status == 403  # a viewer there
    refused = await editor.post_form("/org/switch", {"org": "nope"})
    assert refused.status == 404


async def test_password_change_signs_out_other_sessions(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    first = await admin.login(org.users["owner"])
    second = await admin.login(org.users["owner"])
    weak = await first.post_form("/account/password", {"current": PASSWORD, "new": "short"})
    assert weak.status == 400
    changed = await first.post_form(
        "/account/password", {"current": PASSWORD, "new": "a brand new passphrase"}
    )
    assert changed.status == 303
    assert (await first.client.get("/")).status == 200
    assert (await second.client.get("/", allow_redirects=False)).status == 303
    _, old = await _login_form(admin, org.users["owner"], PASSWORD)
    assert old.status == 401


async def test_disabled_user_is_signed_out(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    viewer = await admin.login(org.users["viewer"])
    await admin.db.execute("UPDATE users SET disabled = 1 WHERE email = ?", (org.users["viewer"],))
    assert (await viewer.client.get("/calls", allow_redirects=False)).status == 303
    _, response = await _login_form(admin, org.users["viewer"], PASSWORD)
    assert response.status == 401


async def test_errors_are_messages_not_stack_traces(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    owner = await admin.login(org.users["owner"])
    missing = await owner.client.get("/no/such/page")
    assert missing.status == 404
    text = await missing.text()
    assert "Traceback" not in text and "There is no page" in text
    bad = await owner.client.get("/calls?since=yesterday")
    assert bad.status == 400 and "since" in await bad.text()
    assert (await owner.api("GET", "/calls?cursor=%%%")).status == 400
    headers = (await owner.client.get("/")).headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
