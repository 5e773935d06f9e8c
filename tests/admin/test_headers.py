"""The headers every answer carries, redirects included; HSTS over HTTPS; no versions in
``Server``; the sign-in form's CSRF cookie (issue 9, "also worth fixing")."""

from __future__ import annotations

import asyncio
import re
import ssl
from typing import Any

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from admin.headers import add_security_headers
from tests.admin.conftest import PASSWORD, AdminFactory

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def assert_guarded(response: Any, what: str) -> None:
    headers = response.headers
    assert "default-src 'self'" in headers.get("Content-Security-Policy", ""), what
    for name, value in SECURITY.items():
        assert headers.get(name) == value, (what, name, headers.get(name))
    assert "no-store" in headers.get("Cache-Control", "").split(", "), what
    assert headers.get("Server") == "Callwright", (what, headers.get("Server"))


async def test_redirects_carry_the_security_headers_and_no_store(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    client = await admin.client()
    signed_out = await client.get("/calls", allow_redirects=False)
    assert signed_out.status == 303
    assert_guarded(signed_out, "the redirect to the sign-in form")
    page = await client.get("/login")
    assert_guarded(page, "the sign-in form")
    token = _CSRF.search(await page.text())
    assert token is not None
    signed_in = await client.post(
        "/login",
        data={"email": org.users["owner"], "password": PASSWORD, "_csrf": token.group(1)},
        allow_redirects=False,
    )
    assert signed_in.status == 303 and "cw_session" in signed_in.cookies
    assert_guarded(signed_in, "the redirect that sets the session cookie")
    owner = await admin.login(org.users["owner"])
    saved = await owner.post_form("/numbers", {"number": "+15559990000"})
    assert saved.status == 303
    assert_guarded(saved, "the redirect after a change")
    logout = await owner.post_form("/logout")
    assert logout.status == 303
    assert_guarded(logout, "the redirect after signing out")


async def test_every_kind_of_answer_hides_the_server_version(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["owner"])
    answers = {
        "page": await owner.client.get("/calls"),
        "json": await owner.api("GET", "/calls"),
        "404": await owner.client.get("/no/such/page"),
        "405": await owner.client.put("/calls"),
        "400": await owner.api("GET", "/calls?limit=x"),
        "recording": await owner.client.get(f"/calls/{org.call_uid}/recording"),
        "416": await owner.client.get(
            f"/calls/{org.call_uid}/recording", headers={"Range": "bytes=-0"}
        ),
        "unauthenticated API": await (await admin.client()).get("/api/v1/calls"),
    }
    for what, response in answers.items():
        await response.read()
        assert_guarded(response, what)
    static = await owner.client.get("/static/admin.css")
    assert static.status == 200 and static.headers["Server"] == "Callwright"
    assert static.headers["X-Content-Type-Options"] == "nosniff"


async def test_answers_aiohttp_makes_itself_hide_the_version_too(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    assert admin.server is not None
    for raw in (
        b"GET / HTTP/1.1\r\nHost: x\r\nNot a header\r\n\r\n",
        b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /calls/\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    ):
        reader, writer = await asyncio.open_connection(admin.server.host, admin.server.port)
        writer.write(raw)
        head = (await asyncio.wait_for(reader.read(4096), 10)).split(b"\r\n\r\n")[0]
        writer.close()
        await writer.wait_closed()
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].split()[1] == "400", (raw, lines)
        assert "Server: Callwright" in lines, (raw, lines)
        assert not any("aiohttp" in line or "Python" in line for line in lines), (raw, lines)


async def test_hsts_is_sent_when_the_admin_is_reached_over_https(
    make_admin: AdminFactory,
) -> None:
    plain = await make_admin(secure_cookies=False)
    response = await (await plain.client()).get("/login")
    assert "Strict-Transport-Security" not in response.headers
    secure = await make_admin(secure_cookies=True)
    client = await secure.client()
    for path in ("/login", "/calls", "/api/v1/calls"):
        response = await client.get(path, allow_redirects=False)
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000", path


def test_hsts_follows_a_tls_connection() -> None:
    over_tls = make_mocked_request("GET", "/", sslcontext=ssl.create_default_context())
    response = web.Response()
    add_security_headers(over_tls, response, https=False)
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = web.Response()
    add_security_headers(make_mocked_request("GET", "/"), plain, https=False)
    assert "Strict-Transport-Security" not in plain.headers


async def test_login_csrf_cookie_is_host_prefixed_when_cookies_are_secure(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin(secure_cookies=True)
    org = await admin.org("acme", with_data=False)
    client = await admin.client()
    page = await client.get("/login")
    cookie = page.cookies["__Host-cw_login_csrf"]
    assert cookie["secure"] and cookie["httponly"] and cookie["path"] == "/"
    assert cookie["samesite"] == "Strict" and not cookie["domain"]
    assert "cw_login_csrf" not in page.cookies
    token = _CSRF.search(await page.text())
    assert token is not None
    signed_in = await client.post(
        "/login",
        data={"email": org.users["owner"], "password": PASSWORD, "_csrf": token.group(1)},
        allow_redirects=False,
    )
    assert signed_in.status == 303 and "__Host-cw_session" in signed_in.cookies
    spent = signed_in.cookies["__Host-cw_login_csrf"]
    assert spent.value == "" and spent["secure"] and spent["path"] == "/"
    assert (await client.get("/calls")).status == 200


async def test_plain_http_keeps_a_plain_login_cookie_and_sign_in_works(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin(secure_cookies=False)
    org = await admin.org("acme", with_data=False)
    client = await admin.client()
    page = await client.get("/login")
    assert "__Host-cw_login_csrf" not in page.cookies
    cookie = page.cookies["cw_login_csrf"]
    assert not cookie["secure"] and cookie["httponly"]
    owner = await admin.login(org.users["owner"])
    assert (await owner.client.get("/calls")).status == 200
