"""Another connection holding the store's write lock, as a backup, a long admin transaction or
another process would: ``BEGIN EXCLUSIVE`` and a write, held on a thread, then let go."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

#: Longer than the store writer's busy timeout (PRAGMA busy_timeout=5000 in Database).
LONGER_THAN_BUSY_TIMEOUT_S = 6.5


async def hold_write_lock(path: Path, seconds: float) -> asyncio.Task[None]:
    """Take the write lock of the SQLite database at ``path`` now; the task ends when it has been
    held ``seconds`` and released (await it before the test ends)."""
    taken = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            other.execute("UPDATE schema_migrations SET name = name")
            taken.set()
            time.sleep(seconds)
            other.execute("ROLLBACK")
        finally:
            taken.set()
            other.close()

    task = asyncio.get_running_loop().create_task(asyncio.to_thread(hold))
    for _ in range(500):
        if taken.is_set():
            return task
        await asyncio.sleep(0.01)
    raise AssertionError("the store's write lock was not taken")
