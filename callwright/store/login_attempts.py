"""Failed sign-in attempts and lock-outs (tables ``login_failures``, ``login_lockouts``; 0009).

Storage for :class:`callwright.accounts.ratelimit.LoginRateLimiter`: the counts are in the store so
that every admin process sees the same ones and a restart keeps them. Counting a failure and
locking a key happen in one write transaction, so two processes cannot both miss a limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from callwright.store.db import Database


class LoginAttemptRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def locked_until(self, keys: Sequence[str], now: str) -> str | None:
        """The latest lock-out end among ``keys`` that is still ahead of ``now``, if any."""
        if not keys:
            return None
        marks = ", ".join("?" for _ in keys)
        value = await self._db.fetch_value(
            f"SELECT max(until) FROM login_lockouts WHERE key IN ({marks}) AND until > ?",
            (*keys, now),
        )
        return None if value is None else str(value)

    async def count_failure(
        self, limits: Sequence[tuple[str, int]], now: str, window_start: str, lock_until: str
    ) -> bool:
        """Count one failure on each key; a key that reaches its limit within the window is
        locked until ``lock_until`` and its count starts again. True if any key was locked."""
        locked = False
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM login_failures WHERE at <= ?", (window_start,))
            await conn.execute("DELETE FROM login_lockouts WHERE until <= ?", (now,))
            for key, limit in limits:
                await conn.execute("INSERT INTO login_failures (key, at) VALUES (?, ?)", (key, now))
                async with conn.execute(
                    "SELECT count(*) FROM login_failures WHERE key = ?", (key,)
                ) as cur:
                    row = await cur.fetchone()
                if row is not None and int(row[0]) >= limit:
                    await conn.execute(
                        "INSERT INTO login_lockouts (key, until) VALUES (?, ?)"
                        " ON CONFLICT (key) DO UPDATE SET until = excluded.until",
                        (key, lock_until),
                    )
                    await conn.execute("DELETE FROM login_failures WHERE key = ?", (key,))
                    locked = True
        return locked

    async def clear_failures(self, key: str) -> None:
        await self._db.execute("DELETE FROM login_failures WHERE key = ?", (key,))
