"""Leases on jobs that must run on one node at a time (table ``job_leases``, migration 0029).

A lease names a job, its holder (a node id) and when it expires. :meth:`JobLeaseRepository.take`
takes a free or expired lease, or renews one the holder already has, in one statement (an
``INSERT … ON CONFLICT DO UPDATE … WHERE``), so two nodes racing for it cannot both win; the
holder renews it well within its length and releases it when it stops. A holder that dies stops
renewing, and once the lease has expired another node takes it over. Times are ISO-8601 text
made in Python (:mod:`callwright.store.clock`), so they compare as text; the SQL is portable.
"""

from __future__ import annotations

from collections.abc import Callable

from callwright.store.clock import shift_iso, utc_now_iso
from callwright.store.db import Database


class JobLeaseRepository:
    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._now = now

    async def take(self, job: str, holder: str, seconds: float) -> bool:
        """Take or renew the lease on ``job`` for ``seconds`` from now; False while another
        holder's lease has not expired."""
        now = self._now()
        changed = await self._db.execute_rowcount(
            "INSERT INTO job_leases (job, holder, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (job) DO UPDATE SET holder = excluded.holder,"
            " expires_at = excluded.expires_at"
            " WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= ?",
            (job, holder, shift_iso(now, ms=int(seconds * 1000)), now),
        )
        return changed > 0

    async def release(self, job: str, holder: str) -> bool:
        """Give the lease up (only its holder can); True if it was held."""
        changed = await self._db.execute_rowcount(
            "DELETE FROM job_leases WHERE job = ? AND holder = ?", (job, holder)
        )
        return changed > 0

    async def holder(self, job: str) -> str | None:
        """Who holds the lease on ``job`` now (None: nobody, or it expired)."""
        value = await self._db.fetch_value(
            "SELECT holder FROM job_leases WHERE job = ? AND expires_at > ?", (job, self._now())
        )
        return None if value is None else str(value)
