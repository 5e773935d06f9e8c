"""Factories for the admin tests: a store, orgs with members of every role, logged-in clients."""

from __future__ import annotations

import re
import struct
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer

from admin.app import build_admin_app
from admin.services import AdminOptions
from admin.try_calls import TryCalls
from callwright.accounts.passwords import Passwords
from callwright.accounts.ratelimit import LoginRateLimiter
from callwright.accounts.roles import Role
from callwright.accounts.tokens import ApiTokens
from callwright.accounts.totp import TotpVerifier
from callwright.knowledge.repository import KnowledgeRepository
from callwright.privacy.requests import PrivacyRequestRepository
from callwright.privacy.secrets import MasterKey
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import CallRepository
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database
from callwright.store.invitations import InvitationRepo
from callwright.store.login_attempts import LoginAttemptRepo
from callwright.store.numbers import NumberRepository
from callwright.store.orgs import OrgRepository
from callwright.store.tokens import TokenRepo
from callwright.store.turns import NewTurn
from callwright.store.users import UserRepo
from tests.admin.webhook_data import webhook_fixture

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
FAST = Passwords.fast_for_tests()


@dataclass
class OrgFixture:
    id: int
    slug: str
    users: dict[str, str] = field(default_factory=dict)  # role -> e-mail
    assistant_id: int = 0
    number_id: int = 0
    call_uid: str = ""
    credential_id: int = 0
    doc_id: int = 0
    token_id: int = 0
    invitation_id: int = 0
    endpoint_id: int = 0
    delivery_id: int = 0
    request_id: int = 0


class Admin:
    """A running admin app over a fresh store, with helpers to make orgs, users and calls."""

    def __init__(
        self, db: Database, tmp: Path, secure_cookies: bool = False, llm_base_url: str = "",
        try_calls: TryCalls | None = None, master_key: MasterKey | None = None,
    ) -> None:
        self.db = db
        self.tmp = tmp
        self.try_calls = try_calls
        self.recordings = tmp / "recordings"
        self.recordings.mkdir(exist_ok=True)
        self.master_key = master_key or MasterKey.generate()
        self.limiter = LoginRateLimiter(LoginAttemptRepo(db))
        self.totp = TotpVerifier()
        self.app = build_admin_app(
            db,
            AdminOptions(
                session_hours=12, secure_cookies=secure_cookies, llm_base_url=llm_base_url
            ),
            self.master_key,
            self.recordings,
            passwords=FAST,
            limiter=self.limiter,
            totp=self.totp,
            try_calls=try_calls,
        )
        self.clients: list[TestClient[Any, Any]] = []
        self.server: TestServer | None = None

    async def start(self) -> None:
        self.server = TestServer(self.app)
        await self.server.start_server()

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        if self.server is not None:
            await self.server.close()
        if self.try_calls is not None:
            await self.try_calls.close()

    async def client(self) -> TestClient[Any, Any]:
        assert self.server is not None
        origin = str(self.server.make_url("/")).rstrip("/")
        jar = CookieJar(unsafe=True, treat_as_secure_origin=[origin])
        client: TestClient[Any, Any] = TestClient(self.server, cookie_jar=jar)
        await client.start_server()
        self.clients.append(client)
        return client

    async def org(self, slug: str, *, with_data: bool = True) -> OrgFixture:
        org = await OrgRepository(self.db).create(slug.title(), slug)
        fixture = OrgFixture(org.id, slug)
        users = UserRepo(self.db)
        for role in Role:
            email = f"{role.value}@{slug}.example"
            existing = await users.by_email(email)
            user_id = (
                existing.id if existing else await users.create(email, await FAST.hash(PASSWORD))
            )
            await users.add_membership(user_id, org.id, role.value)
            fixture.users[role.value] = email
        if with_data:
            await self.fill(fixture)
        return fixture

    async def fill(self, org: OrgFixture) -> None:
        """An assistant, a number, a finished call with turns and a recording, a credential…"""
        assistant = await AssistantRepository(self.db).create(org.id, f"{org.slug} bot")
        org.assistant_id = assistant.id
        digits = str(5550000000 + org.id * 1000)
        number = await NumberRepository(self.db).create(
            org.id, f"+1{digits}", None, "inbound", "", assistant.id
        )
        org.number_id = number.id
        org.call_uid = await self.call(org, text="I would like to book a table")
        cred = await CredentialRepository(self.db, self.master_key).put(
            org.id, "api_key", "openai", f"sk-secret-{org.slug}-ABCD"
        )
        org.credential_id = cred.id
        org.endpoint_id, org.delivery_id = await webhook_fixture(self.db, self.master_key, org.id)
        org.request_id = (
            await PrivacyRequestRepository(self.db).create(org.id, "export", "call", org.call_uid)
        ).id
        org.doc_id = await KnowledgeRepository(self.db).add_document(
            org.id, assistant.id, "Hours", "We open at nine."
        )
        issued = await ApiTokens(TokenRepo(self.db)).issue(
            org_id=org.id, user_id=None, name="ci", role=Role.VIEWER
        )
        org.token_id = issued.id
        owner = await UserRepo(self.db).by_email(org.users["owner"])
        org.invitation_id, _ = await InvitationRepo(self.db).create(
            org_id=org.id,
            email=f"invitee@{org.slug}.example",
            role=Role.VIEWER.value,
            token_hash=f"fixture-{org.slug}",
            invited_by=owner.id if owner else None,
            expires_at="2999-01-01T00:00:00.000Z",
        )

    async def call(
        self,
        org: OrgFixture,
        *,
        text: str = "hello",
        recording: bool = True,
        status: str = "completed",
    ) -> str:
        calls = CallRepository(self.db)
        call = await calls.create_call(
            org.id,
            org.assistant_id or None,
            org.number_id or None,
            "+15550001",
            "+15557654321",
            "Ada",
            "chan-1",
        )
        await calls.mark_answered(call.id)
        await calls.add_event(call.id, "answered")
        await calls.add_turn(
            call.id, NewTurn(
            1,
            "assistant",
            "Hello, how can I help?",
            call.started_at,
            dialog_ms=12,
            tts_ms=40,
            first_frame_ms=80,
        ))
        await calls.add_turn(
            call.id, NewTurn(2, "caller", text, call.started_at, stt_ms=210, confidence=0.9
        ))
        await calls.add_turn(
            call.id, NewTurn(
            3,
            "assistant",
            "Let me check.",
            call.started_at,
            dialog_ms=300,
            tts_ms=50,
            first_frame_ms=420,
            meta={"tool_calls": [{"name": "lookup", "arguments": {"day": 1}, "result": "ok"}]},
        ))
        if recording:
            path = self.recordings / f"{call.uid}.wav"
            write_stereo_wav(path)
            await calls.set_recording(call.id, path.name, None)
        if status != "in_progress":
            await calls.close_call(call.id, status, "caller_hangup")
        return call.uid

    async def login(self, email: str, password: str = PASSWORD) -> LoggedIn:
        client = await self.client()
        page = await client.get("/login")
        token = _CSRF.search(await page.text())
        assert token is not None
        response = await client.post(
            "/login",
            data={"email": email, "password": password, "_csrf": token.group(1), "next": "/"},
            allow_redirects=False,
        )
        assert response.status == 303, await response.text()
        return LoggedIn(client, email)


class LoggedIn:
    def __init__(self, client: TestClient[Any, Any], email: str) -> None:
        self.client = client
        self.email = email
        self._csrf: str | None = None

    async def csrf(self) -> str:
        if self._csrf is None:
            page = await self.client.get("/account")
            found = _CSRF.search(await page.text())
            assert found is not None, "no CSRF token on /account"
            self._csrf = found.group(1)
        return self._csrf

    async def post_form(self, path: str, data: dict[str, Any] | None = None) -> Any:
        body = dict(data or {})
        body["_csrf"] = await self.csrf()
        return await self.client.post(path, data=body, allow_redirects=False)

    async def api(self, method: str, path: str, json: Any = None) -> Any:
        headers = {"X-CSRF-Token": await self.csrf()} if method != "GET" else {}
        return await self.client.request(method, "/api/v1" + path, json=json, headers=headers)


def write_stereo_wav(path: Path, seconds: float = 1.0, rate: int = 8000) -> None:
    """A small stereo 16-bit WAV: a tone on the left (caller), silence on the right."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        left = int(8000 * ((i // 20) % 2 * 2 - 1))
        frames += struct.pack("<hh", left, 0)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))


AdminFactory = Callable[..., Awaitable[Admin]]


@pytest.fixture
async def make_admin(tmp_path: Path) -> AsyncIterator[AdminFactory]:
    made: list[tuple[Admin, Database]] = []

    async def factory(
        secure_cookies: bool = False, llm_base_url: str = "",
        try_calls: Callable[[Database, MasterKey, Path], Awaitable[TryCalls]] | None = None,
    ) -> Admin:
        """``try_calls``: builds the admin's test calls on its store, master key and recordings
        directory (see tests/admin/try_call_data.py)."""
        db = await Database.open(tmp_path / f"admin{len(made)}.db")
        key = MasterKey.generate()
        tries = (await try_calls(db, key, tmp_path / "recordings")
                 if try_calls is not None else None)
        admin = Admin(db, tmp_path, secure_cookies=secure_cookies, llm_base_url=llm_base_url,
                      try_calls=tries, master_key=key)
        await admin.start()
        made.append((admin, db))
        return admin

    yield factory
    for admin, db in made:
        await admin.close()
        await db.close()
