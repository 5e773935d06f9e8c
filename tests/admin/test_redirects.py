"""Where the admin sends a browser after signing in: never to another site (issue 9, defect 4)."""

from __future__ import annotations

import html
import re
import string
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from admin.keys import SERVICES
from admin.redirects import safe_next, with_next
from callwright.accounts.totp import TotpVerifier
from tests.admin.conftest import PASSWORD, Admin, AdminFactory

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
_NEXT = re.compile(r'name="next" value="([^"]*)"')

# What a browser makes of these is another site (WHATWG URL parsing drops tab, CR and LF
# anywhere, trims C0 controls and spaces at both ends, and reads "\" as "/").
HOSTILE = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/\r/evil.example",
    "\t//evil.example",
    " //evil.example",
    "\x00//evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "/\t\\evil.example",
    "https://evil.example",
    "https:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/\x0b/evil.example",
    "/\x7f/evil.example",
    "/\u200b/evil.example",
    "/\u2028/evil.example",
]
SAME_SITE = ["/", "/calls", "/calls?status=failed", "/calls/ab-12?x=1&y=2", "/calls?q=caf%C3%A9"]


@pytest.mark.parametrize("value", HOSTILE)
def test_safe_next_refuses_what_a_browser_reads_as_another_site(value: str) -> None:
    assert safe_next(value) == "/"


@pytest.mark.parametrize("value", SAME_SITE)
def test_safe_next_keeps_paths_on_this_site(value: str) -> None:
    assert safe_next(value) == value


def test_safe_next_refuses_nothing_and_overlong_values() -> None:
    assert safe_next(None) == "/" and safe_next("") == "/"
    assert safe_next("/" + "a" * 5000) == "/"


def browser_reading(location: str) -> str:
    """A Location as a browser parses it (WHATWG URL): what it removes and what it reinterprets."""
    trimmed = location.strip("".join(chr(c) for c in range(0x21)))
    return re.sub("[\t\n\r]", "", trimmed).replace("\\", "/")


# Pieces a hostile next is made of, mixed with any other character.
_PIECES = st.sampled_from(["/", "\\", "\t", "\n", "\r", " ", "\x00", ":", "https:", "evil.example"])


_NEXTS = st.lists(
    st.one_of(_PIECES, _PIECES, _PIECES, st.characters(codec="utf-8")), max_size=8
).map("".join)


@given(_NEXTS | _NEXTS.map(lambda value: "/" + value))
@example("/\t/evil.example")  # the issue's cases
@example("/\r\n/evil.example")
@settings(max_examples=300, deadline=None)
def test_whatever_next_says_the_browser_stays_on_this_site(value: str) -> None:
    kept = browser_reading(safe_next(value))
    parts = urlsplit(kept)
    assert kept.startswith("/") and not kept.startswith("//"), repr(value)
    assert not parts.scheme and not parts.netloc, repr(value)


def test_with_next_quotes_the_target() -> None:
    assert with_next("/login", "/") == "/login"
    assert with_next("/login", "/\t/evil.example") == "/login"
    assert with_next("/login/totp", "/calls?status=failed&x=1") == (
        "/login/totp?next=%2Fcalls%3Fstatus%3Dfailed%26x%3D1"
    )
    assert set(with_next("/login", "/a b?c=d")) <= set(string.printable) - set(" \t\n\r")


def _next_of(location: str) -> tuple[str, str]:
    """The path of a Location and the ``next`` its query carries."""
    parts = urlsplit(location)
    (value,) = parse_qs(parts.query)["next"]
    return parts.path, value


async def _sign_in(admin: Admin, email: str, next_url: str, form_page: str = "/login") -> Any:
    client = await admin.client()
    page = await client.get(form_page)
    token = _CSRF.search(await page.text())
    assert token is not None
    response = await client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "_csrf": token.group(1), "next": next_url},
        allow_redirects=False,
    )
    return client, response


@pytest.mark.parametrize("hostile", ["/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example"])
async def test_sign_in_never_redirects_to_another_site(
    make_admin: AdminFactory, hostile: str
) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    _, response = await _sign_in(admin, org.users["owner"], hostile)
    assert response.status == 303
    assert response.headers["Location"] == "/"


async def test_the_login_link_from_the_issue_lands_on_the_dashboard(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    client = await admin.client()
    page = await (await client.get("/login?next=%2F%09%2Fevil.example")).text()
    found = _NEXT.search(page)
    assert found is not None and found.group(1) == "/"
    token = _CSRF.search(page)
    assert token is not None
    response = await client.post(
        "/login",
        data={
            "email": org.users["owner"],
            "password": PASSWORD,
            "_csrf": token.group(1),
            "next": found.group(1),
        },
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == "/"


async def _with_totp(admin: Admin, email: str) -> list[str]:
    """Turn two-step sign-in on for ``email``; its recovery codes (one per later sign-in)."""
    services = admin.app[SERVICES]
    user = await services.users.by_email(email)
    assert user is not None
    enrollment = await services.second_factor.begin(user)
    user = await services.users.by_email(email)
    assert user is not None
    codes = await services.second_factor.confirm(
        user, TotpVerifier().current_code(enrollment.secret)
    )
    assert codes is not None
    return codes


async def test_two_step_sign_in_never_redirects_to_another_site(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    codes = await _with_totp(admin, org.users["owner"])
    for hostile, code in zip(
        ["/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example"], codes, strict=False
    ):
        client, first = await _sign_in(admin, org.users["owner"], "/calls")
        assert first.status == 303
        page = await (await client.get(first.headers["Location"])).text()
        csrf = _CSRF.search(page)
        assert csrf is not None
        done = await client.post(
            "/login/totp",
            data={"code": code, "_csrf": csrf.group(1), "next": hostile},
            allow_redirects=False,
        )
        assert done.status == 303, await done.text()
        assert done.headers["Location"] == "/", repr(hostile)


async def test_two_step_sign_in_keeps_the_whole_next_address(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    codes = await _with_totp(admin, org.users["owner"])
    client, first = await _sign_in(admin, org.users["owner"], "/calls?status=failed&limit=5")
    assert first.status == 303
    assert _next_of(first.headers["Location"]) == ("/login/totp", "/calls?status=failed&limit=5")
    page = await (await client.get(first.headers["Location"])).text()
    found = _NEXT.search(page)
    csrf = _CSRF.search(page)
    assert found is not None and csrf is not None
    done = await client.post(
        "/login/totp",
        data={"code": codes[0], "_csrf": csrf.group(1), "next": html.unescape(found.group(1))},
        allow_redirects=False,
    )
    assert done.status == 303
    assert done.headers["Location"] == "/calls?status=failed&limit=5"


async def test_signed_out_visitors_are_sent_to_login_with_a_safe_next(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    client = await admin.client()
    response = await client.get("/calls?status=failed&limit=5", allow_redirects=False)
    assert response.status == 303
    assert _next_of(response.headers["Location"]) == ("/login", "/calls?status=failed&limit=5")
    home = await client.get("/", allow_redirects=False)
    assert home.headers["Location"] == "/login"
