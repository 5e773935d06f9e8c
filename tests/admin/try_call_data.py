"""Test-call fixtures shared by the socket and browser tests: a Korean assistant whose flow asks
for 안녕하세요 (a grammar the Korean Vosk model knows) and hangs up after it, and admins whose test
calls run on the real engines (Korean Vosk, espeak-ng)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from admin.try_calls import TryCallLimits, TryCalls
from callwright.config import Settings
from callwright.privacy.secrets import MasterKey
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database
from tests.admin.conftest import Admin, OrgFixture

HELLO = "안녕하세요"
FLOW: dict[str, Any] = {
    "version": 1,
    "name": "try",
    "language": "ko",
    "start": "greet",
    "nodes": {
        "greet": {
            "kind": "ask", "prompt": "안녕하세요 라고 말씀해 주세요.", "slot": "greeted",
            "answer": "choice", "choices": [{"value": "hello", "phrases": [HELLO]}],
            "reprompt": "다시 말씀해 주세요.", "max_retries": 5, "next": "bye",
            "on_fail": "bye",
        },
        "bye": {"kind": "hangup", "text": "반갑습니다. 안녕히 계세요.", "reason": "said_hello"},
    },
}

MakeTries = Callable[[Database, MasterKey, Path], Awaitable[TryCalls]]


def tries_factory(limits: TryCallLimits | None = None, start: bool = True) -> MakeTries:
    async def make(db: Database, master_key: MasterKey, recordings: Path) -> TryCalls:
        tries = TryCalls(Settings(), db, master_key, limits=limits, recordings_dir=recordings)
        if start:
            await tries.start()
        return tries

    return make


async def korean_assistant(admin: Admin, org: OrgFixture, *, record: bool = False) -> int:
    created = await AssistantRepository(admin.db).create(
        org.id, "Korean front desk", "ko", flow=FLOW, record_calls=record
    )
    return created.id
