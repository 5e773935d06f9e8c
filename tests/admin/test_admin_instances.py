"""Several admin processes behind a load balancer on one store (issue 13): each instance here has
its own connections to the store file, as another process would. A session made on one instance
is valid on the other, a sign-in rate limit counts the failures made on both, signing out on one
ends the session on both, and the live calls view lists every call node's calls (from the store)
with the node and PBX of each."""

from __future__ import annotations

import re
from pathlib import Path

from admin.keys import SESSION_COOKIE_INSECURE
from callwright.store.calls import CallOrigin, CallRepository
from callwright.store.db import Database
from tests.admin.conftest import PASSWORD, Admin, AdminFactory

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


async def _second_instance(first: Admin, tmp_path: Path) -> Admin:
    assert first.db.path is not None  # the admin tests' store is a SQLite file
    db = await Database.open(first.db.path)  # its own connections, as another process
    second = Admin(db, tmp_path)
    await second.start()
    return second


async def _sign_in(admin: Admin, email: str, password: str) -> int:
    client = await admin.client()
    token = _CSRF.search(await (await client.get("/login")).text())
    assert token is not None
    response = await client.post(
        "/login", data={"email": email, "password": password, "_csrf": token.group(1)},
        allow_redirects=False,
    )
    return int(response.status)


async def test_a_session_made_on_one_instance_is_valid_on_the_other(
    make_admin: AdminFactory, tmp_path: Path
) -> None:
    first = await make_admin()
    org = await first.org("acme", with_data=False)
    second = await _second_instance(first, tmp_path)
    try:
        signed_in = await first.login(org.users["viewer"])
        cookie = signed_in.client.session.cookie_jar.filter_cookies(
            signed_in.client.make_url("/"))[SESSION_COOKIE_INSECURE].value
        other = await second.client()
        answer = await other.get("/api/v1/dashboard",
                                 headers={"Cookie": f"{SESSION_COOKIE_INSECURE}={cookie}"})
        assert answer.status == 200, await answer.text()
        stranger = await second.client()
        refused = await stranger.get("/api/v1/dashboard",
                                     headers={"Cookie": f"{SESSION_COOKIE_INSECURE}=made-up"})
        assert refused.status == 401
        # Signing out on the first instance ends the session on the second too.
        out = await signed_in.post_form("/logout")
        assert out.status == 303
        gone = await other.get("/api/v1/dashboard",
                               headers={"Cookie": f"{SESSION_COOKIE_INSECURE}={cookie}"})
        assert gone.status == 401
    finally:
        await second.close()
        await second.db.close()


async def test_a_sign_in_rate_limit_counts_the_failures_on_both_instances(
    make_admin: AdminFactory, tmp_path: Path
) -> None:
    first = await make_admin()
    org = await first.org("acme", with_data=False)
    email = org.users["owner"]
    second = await _second_instance(first, tmp_path)
    try:
        # Five failures, no more than three on either instance: the limit (5) is reached.
        for admin in (first, second, first, second, first):
            assert await _sign_in(admin, email, "wrong password!") in (401, 429)
        assert await _sign_in(first, email, PASSWORD) == 429
        assert await _sign_in(second, email, PASSWORD) == 429
    finally:
        await second.close()
        await second.db.close()


async def test_the_live_view_lists_every_nodes_calls_with_node_and_pbx(
    make_admin: AdminFactory, tmp_path: Path
) -> None:
    first = await make_admin()
    org = await first.org("acme")
    second = await _second_instance(first, tmp_path)
    try:
        uids: dict[str, str] = {}
        for node, pbx, channel in (("node-a", "pbx-1", "ch-a"), ("node-b", "pbx-2", "ch-b")):
            calls = CallRepository(first.db, origin=CallOrigin(node, pbx))
            made = await calls.create_call(org.id, org.assistant_id, org.number_id, "+15550001",
                                           f"+1555{node[-1]}", "", channel)
            uids[node] = made.uid
        for admin in (first, second):
            viewer = await admin.login(org.users["viewer"])
            data = await (await viewer.api("GET", "/dashboard")).json()
            live = {(c["node_id"], c["pbx"]) for c in data["in_progress"]}
            assert live == {("node-a", "pbx-1"), ("node-b", "pbx-2")}
            page = await (await viewer.client.get("/")).text()
            assert "<th>Node</th><th>PBX</th>" in page
            assert "<td>node-a</td><td>pbx-1</td>" in page
            assert "<td>node-b</td><td>pbx-2</td>" in page
            detail = await (await viewer.client.get(f"/calls/{uids['node-a']}")).text()
            assert "<dt>Node / PBX</dt><dd>node-a / pbx-1</dd>" in detail
            data = await (await viewer.api("GET", f"/calls/{uids['node-b']}")).json()
            assert (data["call"]["node_id"], data["call"]["pbx"]) == ("node-b", "pbx-2")
    finally:
        await second.close()
        await second.db.close()
