"""Factories for privacy tests: the store factories, plus calls of a chosen age with turns,
events, notes and a recording file."""

from __future__ import annotations

import itertools
import os
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callwright.privacy.recording_crypto import encrypt_file
from callwright.privacy.secrets import MasterKey
from callwright.store.calls import Call, CallRepository
from callwright.store.clock import format_iso
from callwright.store.db import Database
from callwright.store.turns import NewTurn
from tests.callwright.store.conftest import (  # noqa: F401  (fixtures used by these tests)
    MakeAssistant,
    MakeDb,
    MakeOrg,
    make_assistant,
    make_db,
    make_org,
)

NOW = datetime(2027, 3, 1, 12, 0, 0, tzinfo=UTC)
MakeCall = Callable[..., Awaitable[Call]]


def recording_bytes(size: int = 3000) -> bytes:
    return b"RIFF" + os.urandom(size)


@pytest.fixture
def make_call(tmp_path: Path) -> MakeCall:
    """``await make_call(db, org_id, age_days=40, ...)``: a closed call that started
    ``age_days`` before ``NOW`` with turns, one event, notes and optionally a recording."""
    counter = itertools.count()
    folder = tmp_path / "recordings"

    async def make(
        db: Database,
        org_id: int | None,
        *,
        age_days: float,
        assistant_id: int | None = None,
        caller: str = "+15550001111",
        caller_name: str = "Pat Caller",
        turns: Sequence[str] = ("hello", "how can I help"),
        notes: Sequence[str] = (),
        recording: bool = False,
        encrypt_with: MasterKey | None = None,
        legal_hold: bool = False,
        slots: dict[str, Any] | None = None,
        status: str = "completed",
        direction: str = "inbound",
        dialed: str = "+15559990000",
    ) -> Call:
        started = format_iso(NOW - timedelta(days=age_days))
        repo = CallRepository(db, now=lambda: started)
        call = await repo.create_call(org_id, assistant_id, None, dialed, caller, caller_name,
                                      f"chan-{next(counter)}", direction)
        await repo.add_event(call.id, "stasis_start", {"caller": caller})
        for seq, text in enumerate(turns):
            speaker = "caller" if seq % 2 == 0 else "assistant"
            await repo.add_turn(call.id, NewTurn(seq, speaker, text, started))
        for body in notes:
            await db.execute(
                "INSERT INTO call_notes (call_id, user_id, body, created_at) VALUES (?, ?, ?, ?)",
                (call.id, None, body, started),
            )
        if recording:
            folder.mkdir(exist_ok=True)
            path = folder / f"{call.uid}.wav"
            path.write_bytes(recording_bytes())
            key_id = None
            if encrypt_with is not None:
                path, key_id = encrypt_file(path, encrypt_with)
            await repo.set_recording(call.id, str(path), key_id)
        if slots:
            await repo.set_slots(call.id, slots)
        if status != "in_progress":
            await repo.close_call(call.id, status, "caller_hangup")
        if legal_hold:
            await db.execute("UPDATE calls SET legal_hold = 1 WHERE id = ?", (call.id,))
        return await repo.get(call.id)

    return make
