"""Recorded prompts of an assistant (table ``assistant_prompts``, migration 0032)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

from callwright.errors import NotFound
from callwright.prompts.audio import PromptAudio
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database

MAX_TEXT = 2000


def prompt_key(text: str) -> str:
    """The text a prompt replaces, as compared: whitespace collapsed."""
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Prompt:
    id: int
    assistant_id: int
    text: str
    filename: str
    duration_ms: int
    created_at: str


class PromptRepository:
    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._now = now

    async def save(self, org_id: int, assistant_id: int, text: str, filename: str,
                   audio: PromptAudio) -> Prompt:
        """Store (or replace) the prompt for ``text``; ValueError for an empty or long text."""
        key = prompt_key(text)
        if not key or len(key) > MAX_TEXT:
            raise ValueError(f"text: the words the recording says, 1 to {MAX_TEXT} characters")
        enc = [base64.b64encode(b).decode() for b in (audio.slin8, audio.slin16, audio.ulaw,
                                                      audio.alaw)]
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM assistant_prompts WHERE assistant_id = ? AND text = ?",
                (assistant_id, key))
            await conn.execute(
                "INSERT INTO assistant_prompts (org_id, assistant_id, text, filename,"
                " duration_ms, slin8, slin16, ulaw, alaw, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (org_id, assistant_id, key, filename[:200], audio.duration_ms, *enc,
                 self._now()))
        found = [p for p in await self.list(org_id, assistant_id) if p.text == key]
        return found[0]

    async def list(self, org_id: int, assistant_id: int) -> list[Prompt]:
        rows = await self._db.fetch_all(
            "SELECT id, assistant_id, text, filename, duration_ms, created_at"
            " FROM assistant_prompts WHERE org_id = ? AND assistant_id = ? ORDER BY id",
            (org_id, assistant_id))
        return [Prompt(int(r["id"]), int(r["assistant_id"]), str(r["text"]),
                       str(r["filename"]), int(r["duration_ms"]), str(r["created_at"]))
                for r in rows]

    async def pcm(self, org_id: int, prompt_id: int, sample_rate: int = 16000) -> bytes:
        column = "slin16" if sample_rate == 16000 else "slin8"
        value = await self._db.fetch_value(
            f"SELECT {column} FROM assistant_prompts WHERE id = ? AND org_id = ?",
            (prompt_id, org_id))
        if value is None:
            raise NotFound(f"prompt {prompt_id} not found")
        return base64.b64decode(str(value))

    async def delete(self, org_id: int, prompt_id: int) -> bool:
        return await self._db.execute_rowcount(
            "DELETE FROM assistant_prompts WHERE id = ? AND org_id = ?", (prompt_id, org_id)) > 0

    async def for_call(self, assistant_id: int, sample_rate: int) -> dict[str, bytes]:
        """Text -> PCM16 at the call's rate, for every prompt of the assistant."""
        column = "slin16" if sample_rate == 16000 else "slin8"
        rows = await self._db.fetch_all(
            f"SELECT text, {column} AS pcm FROM assistant_prompts WHERE assistant_id = ?",
            (assistant_id,))
        return {str(r["text"]): base64.b64decode(str(r["pcm"])) for r in rows}
