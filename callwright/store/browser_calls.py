"""Test calls made from the admin's browser panel: marked on their call row (``calls.test_call``,
migration 0037) so that reports can leave them out."""

from __future__ import annotations

from callwright.store.db import Database


class BrowserCallRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def mark_test(self, call_id: int) -> None:
        """Mark the call as a test call."""
        await self._db.execute("UPDATE calls SET test_call = 1 WHERE id = ?", (call_id,))

    async def is_test(self, call_id: int) -> bool:
        value = await self._db.fetch_value("SELECT test_call FROM calls WHERE id = ?", (call_id,))
        return bool(value)
